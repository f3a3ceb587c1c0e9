//! The pub/sub message rule against the real server, on both backends: a message larger than
//! a subscriber's message limit is split (empty DATA, fragments within its MAX_FRAME_SIZE and
//! windows, empty DATA), a subscriber that keeps up is never reset, the client library puts
//! split messages back together and refuses oversized publishes, and a slow consumer gets
//! what its window allowed before its SLOW_CONSUMER reset.

mod util;

use ringwire_net::stream::client::{Client, Options};
use ringwire_protocol::stream::{ErrorCode, Settings};
use std::{
    io,
    time::{Duration, Instant},
};
use util::{
    Server,
    wire::{Ev, Wire},
};

const T: Duration = Duration::from_secs(10);

fn command(w: &mut Wire, line: &str) -> u32 {
    let id = w.open("pubsub");
    w.send(id, line.as_bytes(), false);
    id
}

/// Reads `n` messages of stream `id` by the rule of `docs/PROTOCOL.md`, consuming as it goes,
/// checking every frame against `max_frame`. Returns the messages and how many were split.
fn read_messages(w: &mut Wire, id: u32, n: usize, max_frame: usize) -> (Vec<Vec<u8>>, usize) {
    let deadline = Instant::now() + T;
    let (mut messages, mut split, mut assembling) = (Vec::new(), 0, None::<Vec<u8>>);
    while messages.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match w.next(left) {
            Some(Ev::Data { id: i, data, end }) if i == id => {
                assert!(!end, "the subscription ended");
                assert!(data.len() <= max_frame, "a {}-byte frame", data.len());
                w.consume(id, data.len());
                match (&mut assembling, data.is_empty()) {
                    (None, true) => assembling = Some(Vec::new()),
                    (Some(_), true) => {
                        messages.push(assembling.take().unwrap());
                        split += 1;
                    }
                    (Some(part), false) => part.extend_from_slice(&data),
                    (None, false) => messages.push(data),
                }
            }
            Some(Ev::Reset { code, .. }) => panic!("reset with {code:#x}"),
            Some(_) => {}
            None => panic!("{} of {n} messages arrived", messages.len()),
        }
    }
    (messages, split)
}

both_backends! {
    fn messages_larger_than_a_subscribers_frame_size_are_split(io) {
        let s = Server::start(io, &["--workers", "1"]);
        let small = Settings { max_frame_size: 1024, ..Settings::default() };
        let mut sub = Wire::connect_with(s.stream.unwrap(), small);
        let sid = command(&mut sub, "SUB big\n");
        let mut p = Wire::connect(s.stream.unwrap());
        let pid = command(&mut p, "PUB big\n");
        std::thread::sleep(Duration::from_millis(50));
        let sizes = [100, 16_000, 1024, 1025, 1];
        let want: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(k, &n)| util::pattern(k as u64, n)).collect();
        for m in &want {
            assert_eq!(p.send(pid, m, false), m.len());
        }
        let (got, split) = read_messages(&mut sub, sid, want.len(), 1024);
        assert!(got == want, "messages changed on the way");
        assert_eq!(split, 2, "exactly the two messages over 1024 bytes are split");
    }
}

both_backends! {
    fn a_message_larger_than_the_window_reaches_a_subscriber_that_keeps_up(io) {
        let s = Server::start(io, &["--workers", "1", "--subscriber-queue", "16"]);
        // A 4 KiB window: every 12 000-byte message needs several WINDOW_UPDATEs.
        let narrow = Settings { initial_stream_window: 4096, ..Settings::default() };
        let mut sub = Wire::connect_with(s.stream.unwrap(), narrow);
        let sid = command(&mut sub, "SUB wide\n");
        let mut p = Wire::connect(s.stream.unwrap());
        let pid = command(&mut p, "PUB wide\n");
        std::thread::sleep(Duration::from_millis(50));
        let want: Vec<Vec<u8>> = (0..10).map(|k| util::pattern(100 + k, 12_000)).collect();
        for m in &want {
            assert_eq!(p.send(pid, m, false), m.len());
        }
        let (got, split) = read_messages(&mut sub, sid, want.len(), 16 * 1024);
        assert!(got == want, "messages changed on the way");
        assert_eq!(split, 10);
        let (_, text) = s.admin_get("/metrics");
        assert!(text.contains("ringwire_stream_pubsub_slow_consumers_total 0"), "{text}");
    }
}

both_backends! {
    fn a_slow_consumer_gets_what_its_window_holds_before_the_reset(io) {
        let s = Server::start(io, &["--workers", "1", "--subscriber-queue", "4"]);
        // Room for three 11-byte messages, and it never reads.
        let tiny = Settings { initial_stream_window: 40, ..Settings::default() };
        let mut slow = Wire::connect_with(s.stream.unwrap(), tiny);
        let sid = command(&mut slow, "SUB feed\n");
        let mut p = Wire::connect(s.stream.unwrap());
        let pid = command(&mut p, "PUB feed\n");
        std::thread::sleep(Duration::from_millis(50));
        // Twenty messages in one write: the queue overflows before the subscriber's turn.
        let mut burst = Vec::new();
        for i in 0..20 {
            p.conn.send_data(pid, format!("message {i:03}").as_bytes(), false, &mut burst).unwrap();
        }
        p.raw(&burst);
        let mut got = Vec::new();
        let mut reset = None;
        while let Some(ev) = slow.next(Duration::from_secs(5)) {
            match ev {
                Ev::Data { id, data, .. } if id == sid => got.push(String::from_utf8(data).unwrap()),
                Ev::Reset { id, code } => {
                    reset = Some((id, code));
                    break;
                }
                _ => {}
            }
        }
        assert_eq!(reset, Some((sid, ErrorCode::SLOW_CONSUMER.0)));
        assert_eq!(got, ["message 000", "message 001", "message 002"], "what the window held came first");
        let (_, text) = s.admin_get("/metrics");
        assert!(text.contains("ringwire_stream_pubsub_slow_consumers_total 1"), "{text}");
    }
}

both_backends! {
    fn the_client_reassembles_split_messages_and_refuses_oversized_ones(io) {
        let s = Server::start(io, &["--workers", "2"]);
        let backend = if io == "uring" { ringwire_reactor::Backend::Uring } else { ringwire_reactor::Backend::Poll };
        let rt = ringwire_reactor::Runtime::builder().backend(backend).build().unwrap();
        rt.block_on(async {
            let addr = s.stream.unwrap();
            let options = Options {
                settings: Settings { max_frame_size: 1024, initial_stream_window: 8192, ..Settings::default() },
                ..Options::default()
            };
            let subscriber = Client::connect_with(addr, &options).await.unwrap();
            let sub = subscriber.open("pubsub").await.unwrap();
            sub.send(b"SUB lib\n").await.unwrap();
            let publisher = Client::connect(addr).await.unwrap();
            let pubs = publisher.open("pubsub").await.unwrap();
            pubs.send(b"PUB lib\n").await.unwrap();
            ringwire_reactor::time::sleep(Duration::from_millis(100)).await;

            let limit = publisher.message_limit();
            assert_eq!(limit, 16 * 1024);
            let err = pubs.send_message(&vec![0; limit + 1]).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains(&format!("at most {limit} bytes")), "{err}");

            let want: Vec<Vec<u8>> = [10, limit, 5000, 1].iter().enumerate()
                .map(|(k, &n)| util::pattern(k as u64 + 50, n)).collect();
            for m in &want {
                pubs.send_message(m).await.unwrap();
            }
            for (k, m) in want.iter().enumerate() {
                let got = ringwire_reactor::time::timeout(T, sub.recv_message()).await
                    .expect("message in time").unwrap().expect("a message");
                assert!(got[..] == m[..], "message {k}: {} bytes, wanted {}", got.len(), m.len());
            }
        });
    }
}
