//! Connection behaviour: pipelining, keep-alive, HTTP/1.0, 100-continue, bad input, limits.

mod util;

use std::io::{BufReader, Read, Write};
use std::time::Duration;
use util::{Server, python, raw, read_response};

both_backends! {
    fn pipelined_requests_are_answered_in_order(io) {
        let s = Server::start(io, &[]);
        let mut conn = s.connect();
        let mut batch = Vec::new();
        for i in 0..100 {
            let path = if i % 2 == 0 { "/plaintext" } else { "/json" };
            batch.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        }
        batch.extend_from_slice(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
        batch.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        conn.write_all(&batch).unwrap(); // one write: 102 requests
        let mut r = BufReader::new(conn);
        for i in 0..100 {
            let resp = read_response(&mut r, false).expect("response");
            let want: &[u8] = if i % 2 == 0 { b"Hello, World!" } else { br#"{"message":"Hello, World!"}"# };
            assert_eq!(resp.body, want, "response {i} out of order");
        }
        assert_eq!(read_response(&mut r, false).unwrap().body, b"hello");
        let last = read_response(&mut r, false).unwrap();
        assert_eq!(last.header("connection"), Some("close"));
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "the server closed after Connection: close");
    }
}

both_backends! {
    fn keep_alive_across_a_thousand_requests(io) {
        let s = Server::start(io, &[]);
        let out = python(&s, "
c = http.client.HTTPConnection(HOST, PORT)
ok = 0
for i in range(1000):
    c.request('GET', '/plaintext' if i % 2 else '/json')
    r = c.getresponse()
    body = r.read()
    ok += r.status == 200 and len(body) in (13, 27)
sock = c.sock
print(ok, sock is not None)
");
        assert_eq!(out.trim(), "1000 True", "one connection served all 1000");
    }
}

both_backends! {
    fn http10_closes_by_default_and_keeps_alive_on_request(io) {
        let s = Server::start(io, &[]);
        let mut conn = s.connect();
        conn.write_all(b"GET /plaintext HTTP/1.0\r\n\r\n").unwrap();
        let mut all = Vec::new();
        conn.read_to_end(&mut all).unwrap();
        let text = String::from_utf8(all).unwrap();
        assert!(text.starts_with("HTTP/1.1 200") && text.ends_with("Hello, World!"), "{text}");
        assert!(!text.to_ascii_lowercase().contains("keep-alive"));

        let conn = s.connect();
        let mut r = BufReader::new(conn.try_clone().unwrap());
        let mut w = conn;
        for _ in 0..3 {
            w.write_all(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
            let resp = read_response(&mut r, false).unwrap();
            assert_eq!(resp.header("connection").map(str::to_ascii_lowercase), Some("keep-alive".into()));
        }
    }
}

both_backends! {
    fn expect_100_continue(io) {
        let s = Server::start(io, &[]);
        let mut conn = s.connect();
        conn.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n").unwrap();
        let mut buf = [0u8; 25];
        conn.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
        conn.write_all(b"body").unwrap();
        let resp = read_response(&mut BufReader::new(conn), false).unwrap();
        assert_eq!((resp.status, &resp.body[..]), (200, &b"body"[..]));
        // A request that is refused before its body: no 100, the final status, and a close.
        let resp = raw(&s, b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n").unwrap();
        assert_eq!(resp.status, 404);
        let out = python(&s, "c = http.client.HTTPConnection(HOST, PORT)\nc.request('POST', '/echo', body=b'abc', headers={'Expect': '100-continue'})\nr = c.getresponse()\nprint(r.status, r.read())");
        assert_eq!(out.trim(), "200 b'abc'");
    }
}

both_backends! {
    fn malformed_requests_get_their_status_and_a_close(io) {
        let s = Server::start(io, &[]);
        let cases: &[(&[u8], u16)] = &[
            (b"GET /plaintext HTTP/1.1\r\n\r\n", 400), // no Host
            (b"GET /plaintext HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET /plaintext HTTP/1.1\r\nHost : x\r\n\r\n", 400),
            (b"GET /plaintext HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400), // chunked not final
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501),
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
            (b"GET /plaintext HTTP/2.0\r\nHost: x\r\n\r\n", 505),
            (b"BAD\r\n\r\n", 400),
        ];
        for (req, status) in cases {
            let resp = raw(&s, req).unwrap_or_else(|| panic!("no response to {:?}", String::from_utf8_lossy(req)));
            assert_eq!(resp.status, *status, "{:?}", String::from_utf8_lossy(req));
            assert_eq!(resp.header("connection"), Some("close"), "{:?}", String::from_utf8_lossy(req));
        }
        // A bad chunk size mid-body: 400 too.
        let resp = raw(&s, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n").unwrap();
        assert_eq!(resp.status, 400);
        // The server is still fine.
        assert_eq!(raw(&s, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().status, 200);
    }
}

both_backends! {
    fn size_limits_414_431_413(io) {
        let s = Server::start(io, &["--max-request-line", "100", "--max-head", "1k", "--max-headers", "5", "--max-body", "1k"]);
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(200));
        assert_eq!(raw(&s, long_target.as_bytes()).unwrap().status, 414);
        let big_head = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(2000));
        assert_eq!(raw(&s, big_head.as_bytes()).unwrap().status, 431);
        let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", (0..10).map(|i| format!("X-{i}: v\r\n")).collect::<String>());
        assert_eq!(raw(&s, many.as_bytes()).unwrap().status, 431);
        // 413 is decided from Content-Length, before any body byte is sent.
        let mut conn = s.connect();
        conn.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n").unwrap();
        let resp = read_response(&mut BufReader::new(conn), false).unwrap();
        assert_eq!((resp.status, resp.header("connection")), (413, Some("close")));
        // A chunked body past the limit: 413 as soon as the sizes add up.
        let resp = raw(&s, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n").unwrap();
        assert_eq!(resp.status, 413);
        // Under the limits all is well.
        let resp = raw(&s, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789").unwrap();
        assert_eq!((resp.status, &resp.body[..]), (200, &b"0123456789"[..]));
    }
}

both_backends! {
    fn a_request_split_into_single_bytes_is_parsed(io) {
        let s = Server::start(io, &[]);
        let mut conn = s.connect();
        let req = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n";
        for b in req.iter() {
            conn.write_all(&[*b]).unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
        let resp = read_response(&mut BufReader::new(conn), false).unwrap();
        assert_eq!((resp.status, &resp.body[..]), (200, &b"abcde"[..]));
    }
}
