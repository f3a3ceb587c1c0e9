//! Hostile TLS clients against the real binary, on both backends: slow handshakes (a
//! slowloris before the handshake completes must hit `tls.handshake_timeout`), malformed
//! ClientHellos, and random bytes before and after the handshake. Each connection ends, the
//! server stays up and serves a good client after each batch.

mod util;

use std::{
    io::{Read, Write},
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};
use util::{
    pattern,
    tls::{self, Conn, Ending, Pki},
};

/// A good client is served.
fn serves(s: &util::Server, pki: &Pki) {
    let mut c = Conn::open(s.addr, &tls::client(pki, &[b"http/1.1"])).expect("good client");
    assert_eq!(c.get("/plaintext").expect("answer").body, b"Hello, World!");
}

/// Python's `ssl` makes a real ClientHello (a MemoryBIO, no socket), sends half of it and
/// stalls; prints what the server did and after how long.
const PY_SLOW_HELLO: &str = r#"
import ssl, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, out, server_hostname='localhost')
try:
    obj.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = out.read()
assert hello[0] == 0x16 and len(hello) > 100, hello[:8]
s = socket.create_connection((HOST, PORT))
s.sendall(hello[:len(hello) // 2])
s.settimeout(30)
t = time.monotonic()
try:
    got = s.recv(4096)
    end = 'eof' if got == b'' else 'data'
except ConnectionResetError:
    end = 'reset'
except socket.timeout:
    end = 'open'
print(end, round(time.monotonic() - t, 2))
"#;

both_backends! {
    fn slow_handshakes_hit_the_timeout(io) {
        let pki = Pki::new();
        let s = tls::start(io, &pki, &["--tls-handshake-timeout", "1s"]);
        let hello = tls::client_hello(&tls::client(&pki, &[b"http/1.1"]));
        // Three stallers: nothing at all, 20 bytes of a ClientHello, Python's half hello.
        let silent = TcpStream::connect(s.addr).unwrap();
        let mut partial = TcpStream::connect(s.addr).unwrap();
        partial.write_all(&hello[..20]).unwrap();
        let started = Instant::now();
        let python = thread::scope(|scope| {
            let py = scope.spawn(|| util::python(&s, PY_SLOW_HELLO));
            // Meanwhile other clients are served.
            for _ in 0..5 {
                serves(&s, &pki);
            }
            py.join().unwrap()
        });
        let (end, secs) = python.trim().split_once(' ').unwrap();
        assert!(end == "eof" || end == "reset", "python's half hello: {python}");
        assert!(secs.parse::<f64>().unwrap() < 8.0, "closed after {secs} s");
        for (what, mut sock) in [("silent", silent), ("20 bytes", partial)] {
            sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            let left = Duration::from_secs(8).saturating_sub(started.elapsed());
            match tls::read_until_closed(&mut sock, left) {
                Ending::Closed(_) => {}
                Ending::Open => panic!("the {what} client is still connected after 8 s"),
            }
        }
        assert!(tls::handshakes(&s, "timeout") >= 3.0, "three handshake timeouts counted");
        assert!(tls::metric(&s, "ringwire_connections_closed_total{reason=\"tls_handshake\"}") >= 3.0);
        serves(&s, &pki);
    }
}

/// A small deterministic xorshift.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Sends each blob on a connection of its own (four at a time) and asserts that every one is
/// closed by the server.
fn all_closed(s: &util::Server, blobs: &[Vec<u8>]) {
    thread::scope(|scope| {
        for part in blobs.chunks(blobs.len().div_ceil(4)) {
            scope.spawn(move || {
                for blob in part {
                    let ending = tls::send_raw(s.addr, blob, false, Duration::from_secs(10));
                    assert!(
                        matches!(ending, Ending::Closed(_)),
                        "not closed after {:02x?}",
                        &blob[..blob.len().min(16)]
                    );
                }
            });
        }
    });
}

both_backends! {
    fn malformed_client_hellos_are_closed(io) {
        let pki = Pki::new();
        // The timeout ends the few blobs that look like the start of a longer record.
        let s = tls::start(io, &pki, &["--tls-handshake-timeout", "2s"]);
        let hello = tls::client_hello(&tls::client(&pki, &[b"http/1.1"]));
        assert_eq!((hello[0], hello[5]), (0x16, 0x01), "a handshake record with a ClientHello");

        // 200 random blobs of 1..600 bytes; every other one behind a valid record header.
        let mut next = rng(0x7e57_0018);
        let blobs: Vec<Vec<u8>> = (0..200u64)
            .map(|i| {
                let len = 1 + (next() % 600) as usize;
                let body = pattern(next(), len);
                if i % 2 == 0 {
                    body
                } else {
                    let n = (len as u16).to_be_bytes();
                    [&[0x16, 0x03, 0x01, n[0], n[1]][..], &body].concat()
                }
            })
            .collect();
        let failed = tls::handshakes(&s, "failed");
        all_closed(&s, &blobs);
        serves(&s, &pki);
        assert!(tls::handshakes(&s, "failed") >= failed + 150.0, "random blobs counted failed");

        // A real ClientHello, damaged.
        let failed = tls::handshakes(&s, "failed");
        let mut shorter_handshake = hello.clone();
        shorter_handshake[8] = shorter_handshake[8].wrapping_sub(1); // handshake length - 1
        let mut shorter_record = hello.clone();
        let len = u16::from_be_bytes([hello[3], hello[4]]) - 5;
        shorter_record[3..5].copy_from_slice(&len.to_be_bytes());
        let mut bad_type = hello.clone();
        bad_type[5] = 0x63; // not a handshake message type
        let mut bad_version = hello.clone();
        bad_version[1] = 0x07;
        let sslv2 = b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10\x07\x00\xc0\x05\x00\x80\x03\x00\x80\x01\x00\x80\x06\x00\x40\x04\x00\x80\x02\x00\x80\x8a\x3b\x1c\x45\x7d\x1a\x53\xce\xcb\x54\xdb\x3d\xd8\x2d\x97\x7f".to_vec();
        let http = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
        let refused = [shorter_handshake, shorter_record, bad_type, bad_version, sslv2, http];
        all_closed(&s, &refused);
        assert!(tls::handshakes(&s, "failed") >= failed + refused.len() as f64);
        // A truncated ClientHello, then the client's FIN: closed too (counted as closed).
        let closed = tls::handshakes(&s, "closed");
        let ending = tls::send_raw(s.addr, &hello[..hello.len() / 2], true, Duration::from_secs(10));
        assert!(matches!(ending, Ending::Closed(_)), "truncated hello + FIN not closed");
        serves(&s, &pki);
        assert!(tls::handshakes(&s, "closed") > closed);
    }
}

both_backends! {
    fn garbage_after_the_handshake(io) {
        let pki = Pki::new();
        let s = tls::start(io, &pki, &[]);
        let config = tls::client(&pki, &[b"http/1.1"]);

        // Garbage HTTP inside a valid TLS session: a 400 or a close, never a hang.
        let mut next = rng(99);
        for i in 0..20 {
            let mut c = Conn::open(s.addr, &config).unwrap();
            let junk = pattern(next(), 1 + (next() % 3000) as usize);
            let _ = c.send(&junk);
            if i % 2 == 1 {
                let _ = c.send(b"\r\n\r\n");
            }
            let _ = c.tls().sock.shutdown(std::net::Shutdown::Write);
            if let Some(r) = c.response() {
                assert_eq!(r.status, 400, "garbage request {i}");
            }
        }
        serves(&s, &pki);

        // Bytes on the socket under an established session: the records do not authenticate
        // (bad_record_mac) or do not parse; the server closes the connection.
        for (i, raw) in [
            [&[0x17, 0x03, 0x03, 0x00, 0x40][..], &pattern(5, 64)].concat(),
            pattern(6, 2000),
        ]
        .into_iter()
        .enumerate()
        {
            let mut c = Conn::open(s.addr, &config).unwrap();
            assert_eq!(c.get("/plaintext").unwrap().status, 200);
            c.sock().write_all(&raw).unwrap();
            // The client sees the server's alert (or the reset), not an answer.
            let mut buf = [0; 64];
            match c.tls().read(&mut buf) {
                Ok(0) | Err(_) => {}
                Ok(n) => panic!("case {i}: {n} bytes of application data after garbage"),
            }
            let sock = c.sock();
            sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            assert!(
                matches!(tls::read_until_closed(sock, Duration::from_secs(10)), Ending::Closed(_)),
                "case {i}: the connection stays open after corrupt records"
            );
        }
        serves(&s, &pki);
    }
}

/// A forged application-data record after the handshake must be answered with the
/// bad_record_mac alert before the close (RFC 8446 5.2).
fn forged_record_gets_bad_record_mac(io: &'static str) {
    let pki = Pki::new();
    let s = tls::start(io, &pki, &[]);
    let config = tls::client(&pki, &[b"http/1.1"]);
    for i in 0..3 {
        let mut c = Conn::open(s.addr, &config).unwrap();
        // A request first, so the server is surely past its handshake.
        assert_eq!(c.get("/plaintext").unwrap().status, 200);
        c.sock().write_all(&[0x17, 0x03, 0x03, 0x00, 0x20]).unwrap();
        c.sock().write_all(&pattern(8 + i, 32)).unwrap();
        match c.tls().read(&mut [0; 16]) {
            Err(e) => assert!(
                e.to_string().contains("BadRecordMac"),
                "expected the bad_record_mac alert, got: {e}"
            ),
            Ok(n) => panic!("{n} bytes read after a forged record"),
        }
    }
    serves(&s, &pki);
}

both_backends! {
    /// Fixed: the alert used to be dropped when the loop closed on the read error.
    fn forged_record(io) {
        forged_record_gets_bad_record_mac(io);
    }
}
