//! kTLS, on both backends against the real binary. Where the kernel offers the `tls` ULP, TLS
//! connections hand their records to it after the handshake, and these tests check that
//! every byte still arrives (requests that rode with the handshake's last flight, pipelined
//! requests, a 1 MiB file by sendfile, ranges). Where it does not (CI's machines), the test
//! hook `RINGWIRE_TEST_KTLS_ATTEMPT=1` makes the server try the switch anyway: every step
//! runs (stopping io_uring's armed receive, feeding what it took to rustls, the record
//! boundary check) up to the kernel's refusal of the ULP, and the connection must go on in
//! user space without losing a byte.

mod util;

use rustls::{ClientConnection, StreamOwned};
use std::{
    io::{BufReader, Read, Write},
    net::TcpStream,
    sync::Arc,
    thread,
    time::Duration,
};
use util::{
    Server, pattern,
    tls::{self, Conn, Pki},
};

const REQ: &[u8] =
    b"GET /static/big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=5-20004\r\n\r\n";

/// How the client's last flight (Finished, then the first request's record) is written.
#[derive(Clone, Copy)]
enum Flight {
    /// In one write.
    Whole,
    /// In two writes, split after the Finished record, the second while the server pauses
    /// before its switch: on io_uring the server's armed receive takes it meanwhile, and the
    /// switch must hand those bytes on.
    Split,
    /// All but the last `n` bytes, then (after a pause) the rest: a record still arriving
    /// when the server's handshake ends.
    Cut(usize),
}

/// A client whose first request is written before the handshake ends, so that it comes
/// right behind the client's Finished.
fn early_request(s: &Server, config: &Arc<rustls::ClientConfig>, flight: Flight) -> Conn {
    let mut sock = TcpStream::connect(s.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.set_nodelay(true).unwrap();
    let mut conn = ClientConnection::new(config.clone(), "localhost".try_into().unwrap()).unwrap();
    conn.writer().write_all(REQ).unwrap();
    loop {
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out).unwrap();
        }
        if !conn.is_handshaking() {
            // The last flight: Finished, then the request's record.
            let first_record = 5 + usize::from(u16::from_be_bytes([out[3], out[4]]));
            let split = match flight {
                Flight::Whole => out.len(),
                Flight::Split => first_record,
                Flight::Cut(n) => out.len() - n,
            };
            sock.write_all(&out[..split]).unwrap();
            match flight {
                Flight::Whole => {}
                // Within the server's test pause (RINGWIRE_TEST_KTLS_PAUSE_MS, 100 ms).
                Flight::Split => thread::sleep(Duration::from_millis(20)),
                Flight::Cut(_) => thread::sleep(Duration::from_millis(300)),
            }
            sock.write_all(&out[split..]).unwrap();
            break;
        }
        sock.write_all(&out).unwrap();
        conn.read_tls(&mut sock).unwrap();
        conn.process_new_packets().unwrap();
    }
    Conn {
        r: BufReader::with_capacity(64 * 1024, StreamOwned::new(conn, sock)),
    }
}

fn check_range(c: &mut Conn, data: &[u8]) {
    let r = c.response().expect("a response to the early request");
    assert_eq!(r.status, 206);
    assert!(r.body == data[5..20005], "ranged body differs");
}

both_backends! {
    fn the_switch_loses_no_byte(io) {
        let pki = Pki::new();
        let root = tempfile::tempdir().unwrap();
        let data = pattern(11, (1 << 20) + 3);
        std::fs::write(root.path().join("big.bin"), &data).unwrap();
        let (cert, key) = pki.server();
        let s = Server::start_with_env(
            io,
            &[
                "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap(),
                "--root", root.path().to_str().unwrap(),
                "--log-level", "ringwire_net::tls=debug,info",
            ],
            &[(ringwire_net::tls::KTLS_ATTEMPT_ENV, "1"), (ringwire_net::tls::KTLS_PAUSE_ENV, "100")],
        );
        let config = tls::client(&pki, &[b"http/1.1"]);
        let mut connections = 0.0;

        // Requests after the handshake: pipelined, then a whole file (sendfile under kTLS).
        for _ in 0..3 {
            let mut c = Conn::open(s.addr, &config).unwrap();
            connections += 1.0;
            let three = "GET /static/big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-99\r\n\r\n".repeat(3);
            c.send(three.as_bytes()).unwrap();
            for _ in 0..3 {
                let r = c.response().unwrap();
                assert_eq!(r.status, 206);
                assert!(r.body == data[..100]);
            }
            let r = c.get("/static/big.bin").unwrap();
            assert_eq!((r.status, r.body.len()), (200, data.len()));
            assert!(r.body == data, "whole file differs");
        }

        // A request that rides with the client's Finished: the server's handshake reads it
        // (io_uring's armed receive may hold part of it) and it must be answered once.
        for flight in [Flight::Whole, Flight::Split, Flight::Whole, Flight::Split, Flight::Split] {
            let mut c = early_request(&s, &config, flight);
            connections += 1.0;
            check_range(&mut c, &data);
            let r = c.get("/static/big.bin").unwrap();
            assert!(r.body == data, "whole file differs after an early request");
        }

        // The request's record cut: the switch must not happen in the middle of a record.
        let mut c = early_request(&s, &config, Flight::Cut(7));
        connections += 1.0;
        check_range(&mut c, &data);
        let r = c.get("/static/big.bin").unwrap();
        assert!(r.body == data, "whole file differs after a cut record");
        // The server closes with close_notify (the kernel's alert, or rustls's).
        c.send(b"GET /static/big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!(c.response().unwrap().status, 200);
        let mut rest = Vec::new();
        let end = c.tls().read_to_end(&mut rest);
        assert!(end.is_ok(), "no clean close_notify: {end:?}");

        let kernel = tls::metric(&s, "ringwire_tls_ktls_sessions_total");
        let fallbacks = tls::metric(&s, "ringwire_tls_ktls_fallbacks_total");
        assert_eq!(kernel + fallbacks, connections, "every connection tried the switch once");
        let log = tls::wait_log(&s, "a TLS record was still arriving");
        match ringwire_net::tls::ktls_support() {
            Ok(()) => {
                println!("kTLS: the kernel took {kernel} of {connections} connections");
                assert!(kernel >= connections - 1.0, "kTLS offered, but {fallbacks} fell back:\n{log}");
                assert_eq!(tls::metric(&s, "ringwire_tls_mode{mode=\"kernel\"}"), 2.0);
            }
            Err(reason) => {
                println!("no kTLS here ({reason}): the switch ran up to the kernel's refusal");
                assert_eq!(kernel, 0.0);
                assert!(log.contains("kTLS not used: setsockopt(TCP_ULP, \"tls\")"), "{log}");
                assert!(log.contains(&reason), "the per-core log gives the reason:\n{log}");
                assert_eq!(tls::metric(&s, "ringwire_tls_mode{mode=\"user\"}"), 2.0);
            }
        }
    }
}

both_backends! {
    fn ktls_false_keeps_records_in_user_space(io) {
        let pki = Pki::new();
        let s = tls::start(io, &pki, &["--tls-ktls", "false"]);
        let mut c = Conn::open(s.addr, &tls::client(&pki, &[b"http/1.1"])).unwrap();
        assert!(c.get("/").is_some(), "an answer over TLS");
        tls::wait_log(&s, "tls.ktls = false");
        assert_eq!(tls::metric(&s, "ringwire_tls_mode{mode=\"user\"}"), 2.0);
        assert_eq!(tls::metric(&s, "ringwire_tls_ktls_sessions_total"), 0.0);
        assert_eq!(tls::metric(&s, "ringwire_tls_ktls_fallbacks_total"), 0.0);
    }
}
