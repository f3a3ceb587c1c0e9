//! Timeouts, the connection limit, and slow clients, with short configured values.

mod util;

use std::{
    io::{BufReader, ErrorKind, Read, Write},
    thread,
    time::{Duration, Instant},
};
use util::{Server, read_response};

/// Reads until EOF or error; returns (bytes read, time taken).
fn read_until_closed(mut s: std::net::TcpStream) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                panic!("not closed within the read timeout")
            }
            Err(_) => break, // reset: closed too
        }
    }
    (all, start.elapsed())
}

both_backends! {
    fn head_timeout_sends_408_and_closes(io) {
        let s = Server::start(io, &["--head-timeout", "300ms"]);
        let mut c = s.connect();
        c.write_all(b"GET /plaintext HTTP/1.1\r\nHost:").unwrap();
        // Slowloris: trickle bytes; the deadline counts from the first byte, not the last.
        for _ in 0..3 {
            thread::sleep(Duration::from_millis(60));
            let _ = c.write_all(b" ");
        }
        let (all, took) = read_until_closed(c);
        let text = String::from_utf8_lossy(&all);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("Connection: close"), "{text}");
        assert!(took < Duration::from_secs(3), "closed after {took:?}");
    }
}

both_backends! {
    fn idle_keepalive_connection_is_closed(io) {
        let s = Server::start(io, &["--keepalive-timeout", "300ms"]);
        let c = s.connect();
        let mut w = c.try_clone().unwrap();
        w.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
        let start = Instant::now();
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
        assert!(rest.is_empty(), "no 408 for an idle keep-alive connection, just a close");
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(3), "closed after {took:?}");
    }
}

both_backends! {
    fn body_timeout_sends_408(io) {
        let s = Server::start(io, &["--body-timeout", "300ms"]);
        let mut c = s.connect();
        c.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a few bytes").unwrap();
        let (all, took) = read_until_closed(c);
        let text = String::from_utf8_lossy(&all);
        // /echo streams: its 200 head may already be out, in which case the close is the signal.
        assert!(text.contains("408") || text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(took < Duration::from_secs(3), "closed after {took:?}");
    }
}

both_backends! {
    fn a_stalled_reader_is_dropped_after_the_write_timeout(io) {
        let root = tempfile::tempdir().unwrap();
        let size = 64 << 20;
        std::fs::write(root.path().join("big.bin"), vec![7u8; size]).unwrap();
        let s = Server::start(io, &["--write-timeout", "500ms", "--root", root.path().to_str().unwrap()]);
        let mut c = s.connect();
        c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        c.write_all(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        // Read nothing while the socket buffers fill and the server's write stalls.
        thread::sleep(Duration::from_secs(2));
        let (all, _) = read_until_closed(c);
        assert!(all.len() < size, "the whole 64 MiB arrived ({} bytes): the stalled write was not cut off", all.len());
    }
}

both_backends! {
    fn over_the_connection_limit_new_ones_are_closed(io) {
        let s = Server::start(io, &["--workers", "1", "--max-connections", "2"]);
        let a = s.connect();
        let b = s.connect();
        for c in [&a, &b] {
            let mut w = c.try_clone().unwrap();
            w.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            assert_eq!(read_response(&mut BufReader::new(c.try_clone().unwrap()), false).unwrap().status, 200);
        }
        let third = s.connect();
        let mut w = third.try_clone().unwrap();
        let _ = w.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
        let (all, _) = read_until_closed(third);
        assert!(all.is_empty(), "the third connection was accepted and closed");
        drop((a, b));
        thread::sleep(Duration::from_millis(100));
        let mut d = s.connect();
        d.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut BufReader::new(d), false).unwrap().status, 200, "room again");
    }
}

both_backends! {
    fn slow_clients_do_not_delay_others_on_the_same_core(io) {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("big.bin"), vec![1u8; 32 << 20]).unwrap();
        let s = Server::start(io, &["--workers", "1", "--root", root.path().to_str().unwrap()]);
        // 20 slowloris clients trickling a head, and 5 that request a big file and never read.
        let mut slow = Vec::new();
        for _ in 0..20 {
            let mut c = s.connect();
            c.write_all(b"GET /plaintext HTTP/1.1\r\n").unwrap();
            slow.push(c);
        }
        for _ in 0..5 {
            let mut c = s.connect();
            c.write_all(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            slow.push(c);
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let trickle = {
            let stop = stop.clone();
            let mut conns: Vec<_> = slow.iter().take(20).map(|c| c.try_clone().unwrap()).collect();
            thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for c in &mut conns {
                        let _ = c.write_all(b"X");
                    }
                    thread::sleep(Duration::from_millis(50));
                }
            })
        };
        let c = s.connect();
        let mut w = c.try_clone().unwrap();
        let mut r = BufReader::new(c);
        let mut worst = Duration::ZERO;
        for _ in 0..200 {
            let t = Instant::now();
            w.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            assert_eq!(read_response(&mut r, false).unwrap().status, 200);
            worst = worst.max(t.elapsed());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        trickle.join().unwrap();
        assert!(worst < Duration::from_millis(500), "a fast client waited {worst:?} behind slow ones");
    }
}
