//! The stream protocol against the real server, on both backends: concurrency, flow control,
//! pub/sub across cores, bad frames, drain, HTTP Upgrade.

mod util;

use ringwire_protocol::stream::{ErrorCode, Settings};
use std::{
    io::{BufRead, BufReader, Read, Write},
    time::{Duration, Instant},
};
use util::{
    Server,
    wire::{Ev, Wire},
};

const T: Duration = Duration::from_secs(10);

both_backends! {
    fn many_concurrent_streams_with_interleaved_frames(io) {
        let s = Server::start(io, &[]);
        let mut w = Wire::connect(s.stream.unwrap());
        let ids: Vec<u32> = (0..50).map(|_| w.open("echo")).collect();
        // Round robin: every stream's bytes interleaved with every other's on the wire.
        for round in 0..4u8 {
            for (k, id) in ids.iter().enumerate() {
                let chunk = vec![k as u8 ^ round; 100 + k];
                assert_eq!(w.send(*id, &chunk, round == 3), chunk.len());
            }
        }
        let mut got: std::collections::HashMap<u32, (Vec<u8>, bool)> = Default::default();
        let deadline = Instant::now() + T;
        while got.values().filter(|v| v.1).count() < ids.len() && Instant::now() < deadline {
            match w.next(T) {
                Some(Ev::Data { id, data, end }) => {
                    w.consume(id, data.len());
                    let e = got.entry(id).or_default();
                    e.0.extend_from_slice(&data);
                    e.1 |= end;
                }
                Some(_) => {}
                None => break,
            }
        }
        for (k, id) in ids.iter().enumerate() {
            let want: Vec<u8> = (0..4u8).flat_map(|r| vec![k as u8 ^ r; 100 + k]).collect();
            let (data, end) = got.get(id).cloned().unwrap_or_default();
            assert!(end, "stream {id} did not end");
            assert!(data == want, "stream {id} echoed other bytes");
        }
    }
}

both_backends! {
    fn flow_control_stalls_a_fast_sender_until_it_reads(io) {
        // The client takes echoes into a 16 KiB window and does not read them.
        let s = Server::start(io, &["--stream-window", "16k", "--stream-connection-window", "64k"]);
        let settings = Settings { initial_stream_window: 16 * 1024, initial_connection_window: 64 * 1024, ..Settings::default() };
        let mut w = Wire::connect_with(s.stream.unwrap(), settings);
        let id = w.open("echo");
        let chunk = vec![7u8; 4096];
        let mut sent = 0;
        let mut stalled = false;
        // Echoes received but not yet consumed: the client's window stays charged for them.
        let mut held = 0;
        for _ in 0..200 {
            let n = w.send(id, &chunk, false);
            sent += n;
            if n == 0 {
                // Windows may reopen as the server drains what it can echo: give it a moment.
                while let Some(ev) = w.next(Duration::from_millis(200)) {
                    if let Ev::Data { data, .. } = ev {
                        held += data.len();
                    }
                }
                if w.conn.send_capacity(id) == 0 {
                    stalled = true;
                    break;
                }
            }
        }
        assert!(stalled, "the sender never stalled after {sent} bytes");
        assert!(sent <= 16 * 1024 * 2 + 4096, "more than both windows' worth went out: {sent}");
        assert!(held <= 16 * 1024, "the server overran the client's 16 KiB window: {held}");
        // Reading the echoes reopens the windows, and the rest goes through.
        w.consume(id, held);
        let (echoed, _) = w.read_stream(id, sent - held, T);
        assert_eq!(held + echoed.len(), sent);
        // The server grants window back as it echoes; its WINDOW_UPDATE may trail the data.
        let until = std::time::Instant::now() + T;
        while w.conn.send_capacity(id) == 0 && std::time::Instant::now() < until {
            w.next(Duration::from_millis(50));
        }
        assert!(w.send(id, &chunk, true) > 0, "the window reopened once the echoes were read");
    }
}

/// Opens subscriber connections until both worker cores hold subscriptions (the kernel picks
/// the core of each connection), as the per-core metric shows.
fn subscribers_on_both_cores(s: &Server, channel: &str) -> Vec<(Wire, u32)> {
    let mut subs = Vec::new();
    for _ in 0..64 {
        let mut w = Wire::connect(s.stream.unwrap());
        let id = w.open("pubsub");
        w.send(id, format!("SUB {channel}\n").as_bytes(), false);
        subs.push((w, id));
        std::thread::sleep(Duration::from_millis(20));
        let (_, text) = s.admin_get("/metrics");
        let per_core = |c: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with(&format!(
                        "ringwire_stream_pubsub_subscriptions{{core=\"{c}\"}}"
                    ))
                })
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        if subs.len() >= 4 && per_core("0") > 0.0 && per_core("1") > 0.0 {
            return subs;
        }
    }
    panic!("could not get subscribers onto both cores");
}

both_backends! {
    fn pubsub_delivers_across_cores_exactly_once_in_order(io) {
        let s = Server::start(io, &["--workers", "2"]);
        let mut subs = subscribers_on_both_cores(&s, "news");
        let mut publisher = Wire::connect(s.stream.unwrap());
        let p = publisher.open("pubsub");
        publisher.send(p, b"PUB news\n", false);
        std::thread::sleep(Duration::from_millis(50));
        const N: u32 = 500;
        for i in 0..N {
            assert!(publisher.send(p, format!("msg-{i:05}").as_bytes(), false) > 0);
        }
        for (k, (w, id)) in subs.iter_mut().enumerate() {
            let (bytes, _) = w.read_stream(*id, N as usize * 9, T);
            let expected: Vec<u8> = (0..N).flat_map(|i| format!("msg-{i:05}").into_bytes()).collect();
            assert!(bytes == expected, "subscriber {k} got {} bytes, not every message once in order", bytes.len());
        }
        let (_, text) = s.admin_get("/metrics");
        let delivered: f64 = text.lines().find(|l| l.starts_with("ringwire_stream_pubsub_delivered_total ")).unwrap().rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(delivered, (N as usize * subs.len()) as f64);
    }
}

both_backends! {
    fn a_slow_subscriber_is_reset_and_counted(io) {
        let s = Server::start(io, &["--workers", "1", "--subscriber-queue", "4"]);
        // A subscriber whose window admits one small message and that never reads.
        let tiny = Settings { initial_stream_window: 16, initial_connection_window: 1024, ..Settings::default() };
        let mut slow = Wire::connect_with(s.stream.unwrap(), tiny);
        let id = slow.open("pubsub");
        slow.send(id, b"SUB feed\n", false);
        let mut pubw = Wire::connect(s.stream.unwrap());
        let p = pubw.open("pubsub");
        pubw.send(p, b"PUB feed\n", false);
        for i in 0..20 {
            pubw.send(p, format!("message {i:03}").as_bytes(), false);
        }
        let mut reset = None;
        while let Some(ev) = slow.next(Duration::from_secs(3)) {
            if let Ev::Reset { id: i, code } = ev {
                reset = Some((i, code));
                break;
            }
        }
        assert_eq!(reset, Some((id, ErrorCode::SLOW_CONSUMER.0)));
        let (_, text) = s.admin_get("/metrics");
        assert!(text.contains("ringwire_stream_pubsub_slow_consumers_total 1"), "{text}");
    }
}

both_backends! {
    fn a_malformed_frame_closes_only_that_connection_with_goaway(io) {
        let s = Server::start(io, &[]);
        let mut good = Wire::connect(s.stream.unwrap());
        let mut bad = Wire::connect(s.stream.unwrap());
        // Version 1, frame type 0x7f (unknown), stream 0, length 0.
        bad.raw(&[1, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut goaway = None;
        while let Some(ev) = bad.next(Duration::from_secs(3)) {
            if let Ev::GoAway { code, .. } = ev {
                goaway = Some(code);
            }
        }
        assert_eq!(goaway, Some(ErrorCode::PROTOCOL_ERROR.0), "GOAWAY with PROTOCOL_ERROR, then close");
        let mut rest = [0u8; 16];
        assert_eq!(bad.sock.read(&mut rest).unwrap_or(0), 0, "the bad connection is closed");
        let id = good.open("echo");
        good.send(id, b"still fine", true);
        assert_eq!(good.read_stream(id, 10, T).0, b"still fine");
        // An unknown service resets only that stream.
        let other = good.open("nope");
        let mut code = None;
        while let Some(ev) = good.next(Duration::from_secs(3)) {
            if let Ev::Reset { id: i, code: c } = ev {
                if i == other {
                    code = Some(c);
                    break;
                }
            }
        }
        assert_eq!(code, Some(ErrorCode::UNKNOWN_SERVICE.0));
    }
}

both_backends! {
    fn drain_sends_goaway_and_lets_open_streams_finish(io) {
        let mut s = Server::start(io, &["--workers", "1", "--shutdown-timeout", "10s"]);
        let mut w = Wire::connect(s.stream.unwrap());
        let id = w.open("echo");
        w.send(id, b"before ", false);
        assert_eq!(w.read_stream(id, 7, T).0, b"before ");
        s.signal("TERM");
        let mut goaway = None;
        let deadline = Instant::now() + T;
        while goaway.is_none() && Instant::now() < deadline {
            if let Some(Ev::GoAway { last_id, code }) = w.next(Duration::from_millis(200)) {
                goaway = Some((last_id, code));
            }
        }
        let (last_id, code) = goaway.expect("GOAWAY on drain");
        assert_eq!(code, ErrorCode::NO_ERROR.0);
        assert!(last_id >= id, "the open stream is covered by the GOAWAY");
        // The open stream still works to its end.
        w.send(id, b"after", true);
        let (rest, ended) = w.read_stream(id, 5, T);
        assert_eq!((rest.as_slice(), ended), (&b"after"[..], true));
        let status = s.wait(Duration::from_secs(9)).expect("exits after the stream finished");
        assert_eq!(status.code(), Some(0));
    }
}

both_backends! {
    fn http_upgrade_switches_to_the_stream_protocol(io) {
        let s = Server::start(io, &["--stream-listen", ""]);
        let mut sock = std::net::TcpStream::connect(s.addr).unwrap();
        sock.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: ringwire-stream/1\r\n\r\n").unwrap();
        let mut reader = BufReader::new(sock.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 101"), "{line}");
        let mut head = String::new();
        while { line.clear(); reader.read_line(&mut line).unwrap() > 2 } {
            head.push_str(&line);
        }
        assert!(head.to_ascii_lowercase().contains("upgrade: ringwire-stream/1"), "{head}");
        let already = reader.buffer().to_vec();
        let mut w = Wire::over(sock, Settings::default(), already);
        let id = w.open("echo");
        w.send(id, b"over http", true);
        assert_eq!(w.read_stream(id, 9, T).0, b"over http");
    }
}

both_backends! {
    fn an_idle_connection_closes_after_keepalive_but_a_subscriber_stays(io) {
        let s = Server::start(io, &["--keepalive-timeout", "200ms"]);
        let mut idle = Wire::connect(s.stream.unwrap());
        let mut sub = Wire::connect(s.stream.unwrap());
        let id = sub.open("pubsub");
        sub.send(id, b"SUB quiet\n", false);
        // Well past the timeout, the idle one got GOAWAY NO_ERROR and is gone.
        assert_eq!(
            idle.next(Duration::from_secs(3)),
            Some(Ev::GoAway { last_id: 0, code: ErrorCode::NO_ERROR.0 }),
            "the idle connection stayed open"
        );
        assert_eq!(idle.next(Duration::from_secs(3)), None, "the idle connection stayed open");
        let mut publisher = Wire::connect(s.stream.unwrap());
        let p = publisher.open("pubsub");
        publisher.send(p, b"PUB quiet\n", false);
        publisher.send(p, b"still here", false);
        let (got, _) = sub.read_stream(id, 10, T);
        assert_eq!(got, b"still here");
    }
}

both_backends! {
    fn a_burst_then_half_close_is_answered_in_full(io) {
        // 16 streams x 3 messages of 4100 bytes, then FIN: the frames straddle receive
        // buffers, the server takes the whole burst before writing, and the end of input it
        // sees on the way must not cost the answers to what came before it.
        let s = Server::start(io, &[]);
        let mut w = Wire::connect(s.stream.unwrap());
        let ids: Vec<u32> = (0..16).map(|_| w.open("echo")).collect();
        for round in 0..3u8 {
            for (k, id) in ids.iter().enumerate() {
                let chunk = vec![k as u8 + round; 4100];
                assert_eq!(w.send(*id, &chunk, round == 2), chunk.len());
            }
        }
        w.flush();
        w.sock.shutdown(std::net::Shutdown::Write).unwrap();
        // Everything fits the default windows: no WINDOW_UPDATE (no write) is needed.
        let mut got: std::collections::HashMap<u32, (Vec<u8>, bool)> = Default::default();
        while got.values().filter(|v| v.1).count() < ids.len() {
            match w.next(T) {
                Some(Ev::Data { id, data, end }) => {
                    let e = got.entry(id).or_default();
                    e.0.extend_from_slice(&data);
                    e.1 |= end;
                }
                Some(_) => {}
                None => break,
            }
        }
        for (k, id) in ids.iter().enumerate() {
            let want: Vec<u8> = (0..3u8).flat_map(|r| vec![k as u8 + r; 4100]).collect();
            let (data, end) = got.get(id).cloned().unwrap_or_default();
            assert!(data == want, "stream {id}: {} of {} bytes echoed", data.len(), want.len());
            assert!(end, "stream {id} did not end");
        }
    }
}
