//! `Expect: 100-continue` on a connection: the 100 keeps its place among pipelined responses,
//! and a request answered without its body closes announced and lingering, so the response
//! survives a client that sends the body anyway.

mod util;

use std::io::{BufReader, Read, Write};
use util::{Server, read_response};

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

both_backends! {
    fn a_100_continue_follows_the_pipelined_responses_before_it(io) {
        let s = Server::start(io, &[]);
        let conn = s.connect();
        let mut w = conn.try_clone().unwrap();
        let mut batch = Vec::new();
        for _ in 0..3 {
            batch.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
        }
        batch.extend_from_slice(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        );
        w.write_all(&batch).unwrap(); // one write: the responses are queued together
        let mut r = BufReader::new(conn);
        for i in 0..3 {
            let resp = read_response(&mut r, false).expect("response");
            assert_eq!(
                (resp.status, &resp.body[..]),
                (200, &b"Hello, World!"[..]),
                "response {i} is not the plaintext one (a 100 Continue overtook it?)"
            );
        }
        let mut interim = [0u8; CONTINUE.len()];
        r.read_exact(&mut interim).unwrap();
        assert_eq!(&interim[..], CONTINUE, "{}", String::from_utf8_lossy(&interim));
        w.write_all(b"body").unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!((resp.status, &resp.body[..]), (200, &b"body"[..]));
        assert_eq!(resp.header("connection"), None, "the connection stays open");
        // And it does: the next request is answered.
        w.write_all(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
}

both_backends! {
    fn an_unanswered_100_continue_closes_announced_and_the_response_survives(io) {
        let s = Server::start(io, &[]);
        let conn = s.connect();
        let mut w = conn.try_clone().unwrap();
        const LEN: usize = 300_000;
        let body = util::pattern(7, LEN);
        // The client does not wait for the 100 (RFC 9110 §10.1.1 allows it): part of the body
        // follows the head at once, so the server has unread bytes when it answers 404.
        let mut first = format!(
            "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: {LEN}\r\nExpect: 100-continue\r\n\r\n"
        )
        .into_bytes();
        first.extend_from_slice(&body[..64 * 1024]);
        w.write_all(&first).unwrap();
        let mut r = BufReader::new(conn);
        let resp = read_response(&mut r, false).expect("the 404 arrives");
        assert_eq!(resp.status, 404);
        assert_eq!(
            resp.header("connection"),
            Some("close"),
            "the server will not read the body, so it must say it closes: {:?}",
            resp.headers
        );
        // The rest of the body arrives after the response; the server discards it while it
        // closes, instead of answering it with a reset. Two writes, apart: had the server
        // closed outright, its reset to the first would fail the second.
        let half = 64 * 1024 + (LEN - 64 * 1024) / 2;
        w.write_all(&body[64 * 1024..half]).expect("the server still reads (lingering close)");
        std::thread::sleep(std::time::Duration::from_millis(100));
        w.write_all(&body[half..]).expect("the server still reads (lingering close)");
        let mut rest = Vec::new();
        let end = r.read_to_end(&mut rest);
        assert!(end.is_ok(), "the connection ended with {end:?}, not a clean close");
        assert!(rest.is_empty() && r.buffer().is_empty(), "nothing follows the response");
        // The server still serves.
        assert_eq!(util::raw(&s, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().status, 200);
    }
}

both_backends! {
    fn a_100_continue_request_read_by_the_service_keeps_the_connection(io) {
        let s = Server::start(io, &[]);
        let conn = s.connect();
        let mut w = conn.try_clone().unwrap();
        let mut r = BufReader::new(conn);
        for round in 0..3 {
            w.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
                .unwrap();
            let mut interim = [0u8; CONTINUE.len()];
            r.read_exact(&mut interim).unwrap();
            assert_eq!(&interim[..], CONTINUE, "round {round}");
            w.write_all(b"ok").unwrap();
            let resp = read_response(&mut r, false).unwrap();
            assert_eq!((resp.status, &resp.body[..], resp.header("connection")), (200, &b"ok"[..], None));
        }
    }
}
