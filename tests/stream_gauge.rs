//! The per-core gauge of open streams (`ringwire_stream_streams_open`) against the real
//! server, on both backends: it follows every way a stream ends (its end, a reset by either
//! side, its connection closing, dropped or cut off for a protocol error, a drain) back to 0.

mod util;

use std::{
    thread,
    time::{Duration, Instant},
};
use util::{
    Server,
    wire::{Ev, Wire},
};

const T: Duration = Duration::from_secs(10);

/// The per-core samples of the gauge in a `/metrics` text, and their sum.
fn gauge(text: &str) -> (usize, f64) {
    let samples: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ringwire_stream_streams_open{core=\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (samples.len(), samples.iter().sum())
}

/// Polls `/metrics` until the gauge's sum over the cores is `want` (a worker records a
/// stream's end a moment after the client saw it), at most 10 s.
fn open_becomes(s: &Server, want: f64, after: &str) {
    let end = Instant::now() + T;
    loop {
        let (status, text) = s.admin_get("/metrics");
        assert_eq!(status, 200, "{text}");
        let (cores, sum) = gauge(&text);
        assert!(cores >= 1, "one sample per core: {text}");
        if sum == want {
            return;
        }
        assert!(
            Instant::now() < end,
            "{after}: the gauge reads {sum}, not {want}:\n{text}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Reads events until `id` is reset; returns the code.
fn reset_code(w: &mut Wire, id: u32) -> Option<u32> {
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        match w.next(T)? {
            Ev::Reset { id: i, code } if i == id => return Some(code),
            _ => {}
        }
    }
    None
}

both_backends! {
    fn the_open_streams_gauge_follows_every_way_a_stream_ends(io) {
        let s = Server::start(io, &["--workers", "2"]);
        open_becomes(&s, 0.0, "at start");
        let mut w = Wire::connect(s.stream.unwrap());
        let echoes: Vec<u32> = (0..4).map(|_| w.open("echo")).collect();
        let sub = w.open("pubsub");
        w.send(sub, b"SUB gauge\n", false);
        // An unknown service is reset at once: never open.
        let unknown = w.open("nope");
        assert!(reset_code(&mut w, unknown).is_some(), "the unknown service is reset");
        open_becomes(&s, 5.0, "4 echo streams and a subscription");

        // Its normal end: the client ends its side, the echo ends the server's.
        w.send(echoes[0], b"bye", true);
        assert_eq!(w.read_stream(echoes[0], 3, T), (b"bye".to_vec(), true));
        open_becomes(&s, 4.0, "an echo stream ended on both sides");
        // Reset by the client.
        w.reset(echoes[1]);
        open_becomes(&s, 3.0, "a stream reset by the client");
        // A subscription the client ends.
        w.send(sub, b"", true);
        open_becomes(&s, 2.0, "a subscription ended by the client");
        // A second connection, cut off for a protocol error with its streams open.
        let mut bad = Wire::connect(s.stream.unwrap());
        for _ in 0..3 {
            bad.open("echo");
        }
        open_becomes(&s, 5.0, "3 more on a second connection");
        // Version 1, frame type 0x7f (unknown), stream 0, length 0: GOAWAY and close.
        bad.raw(&[1, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        while bad.next(Duration::from_secs(3)).is_some() {}
        open_becomes(&s, 2.0, "a connection closed for a protocol error");
        // The client goes away with streams open.
        drop(w);
        open_becomes(&s, 0.0, "a connection dropped with 2 streams open");
    }
}

both_backends! {
    fn a_drain_takes_its_ended_streams_off_the_gauge(io) {
        let mut s = Server::start(io, &["--workers", "1", "--shutdown-timeout", "10s"]);
        let mut w = Wire::connect(s.stream.unwrap());
        let echoes = [w.open("echo"), w.open("echo")];
        let sub = w.open("pubsub");
        w.send(sub, b"SUB drain\n", false);
        open_becomes(&s, 3.0, "2 echo streams and a subscription");
        s.signal("TERM");
        let mut goaway = false;
        let mut sub_ended = false;
        let deadline = Instant::now() + T;
        while !(goaway && sub_ended) && Instant::now() < deadline {
            match w.next(Duration::from_millis(200)) {
                Some(Ev::GoAway { .. }) => goaway = true,
                Some(Ev::Data { id, end: true, .. }) if id == sub => sub_ended = true,
                _ => {}
            }
        }
        assert!(goaway && sub_ended, "the drain sends GOAWAY and ends the subscription");
        // The drain ended the subscription (the server's side: its service is done with it);
        // the echo streams are left to finish.
        open_becomes(&s, 2.0, "the drain ended the subscription");
        // The connection closes once every stream is closed on both sides.
        w.send(sub, b"", true);
        w.send(echoes[0], b"x", true);
        assert_eq!(w.read_stream(echoes[0], 1, T), (b"x".to_vec(), true));
        open_becomes(&s, 1.0, "an echo stream finished during the drain");
        w.send(echoes[1], b"y", true);
        assert_eq!(w.read_stream(echoes[1], 1, T), (b"y".to_vec(), true));
        let status = s.wait(T).unwrap_or_else(|| panic!("exits once the last stream finished:\n{}", s.log()));
        assert_eq!(status.code(), Some(0));
    }
}
