//! HTTPS against the real binary over real sockets, on both backends: curl, a raw rustls
//! client pipelining, `openssl s_client` (versions, ALPN, ciphers), static files with ranges,
//! the TLS metrics, resumption and client certificates.

mod util;

use rustls::HandshakeKind;
use std::io::Write;
use util::{
    curl, pattern,
    tls::{self, Conn, Ending, Pki},
};

/// curl against the server's HTTPS port as `localhost` (resolved to its address).
fn curl_tls(s: &util::Server, pki: &Pki, args: &[&str]) -> (Vec<u8>, i32) {
    let resolve = format!("localhost:{}:127.0.0.1", s.addr.port());
    let ca = pki.ca();
    let mut all = vec!["--cacert", ca.to_str().unwrap(), "--resolve", &resolve];
    all.extend_from_slice(args);
    curl(&all)
}

fn https(s: &util::Server, path: &str) -> String {
    format!("https://localhost:{}{path}", s.addr.port())
}

both_backends! {
    fn curl_over_https(io) {
        let pki = Pki::new();
        let s = tls::start(io, &pki, &[]);
        let (body, code) = curl_tls(&s, &pki, &[&https(&s, "/plaintext")]);
        assert_eq!((code, &body[..]), (0, &b"Hello, World!"[..]));
        let (body, code) = curl_tls(&s, &pki, &[&https(&s, "/json")]);
        assert_eq!(code, 0);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["message"], "Hello, World!");
        // The certificate's IP SAN works too.
        let (body, code) = curl(&["--cacert", pki.ca().to_str().unwrap(), &format!("https://{}/plaintext", s.addr)]);
        assert_eq!((code, &body[..]), (0, &b"Hello, World!"[..]));

        // Several URLs in one curl: one connection (one handshake), kept alive.
        let (a, b, c) = (https(&s, "/plaintext"), https(&s, "/json"), https(&s, "/plaintext"));
        let (out, code) = curl_tls(&s, &pki, &["-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n", &a, &b, &c]);
        assert_eq!(code, 0);
        assert_eq!(String::from_utf8_lossy(&out), "200 1\n200 0\n200 0\n", "one connection for three requests");

        // TLS 1.2 only works; TLS 1.1 at most is refused (the client's security level is
        // lowered so that it really offers 1.1 and the server is the one to refuse).
        let (body, code) = curl_tls(&s, &pki, &["--tlsv1.2", "--tls-max", "1.2", &https(&s, "/plaintext")]);
        assert_eq!((code, &body[..]), (0, &b"Hello, World!"[..]));
        let failed = tls::handshakes(&s, "failed");
        let (body, code) = curl_tls(&s, &pki, &["--tlsv1", "--tls-max", "1.1", "--ciphers", "DEFAULT:@SECLEVEL=0", &https(&s, "/plaintext")]);
        assert!(code != 0 && body.is_empty(), "TLS 1.1 served: {code}");
        assert!(tls::handshakes(&s, "failed") > failed, "the server refused the TLS 1.1 hello");

        // Plain HTTP to the TLS port: no HTTP answer, the connection is closed.
        let ending = tls::send_raw(s.addr, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", false, std::time::Duration::from_secs(15));
        match ending {
            Ending::Closed(bytes) => assert!(!bytes.starts_with(b"HTTP/"), "plain HTTP answered on the TLS port"),
            Ending::Open => panic!("plain HTTP on the TLS port: not closed"),
        }
        let (_, code) = curl(&[&s.url("/plaintext")]);
        assert_ne!(code, 0, "curl over plain HTTP to the TLS port");
    }
}

both_backends! {
    fn pipelined_requests_and_a_large_body(io) {
        let pki = Pki::new();
        let s = tls::start(io, &pki, &["--max-body", "2m"]);
        let config = tls::client(&pki, &[b"http/1.1"]);
        let mut c = Conn::open(s.addr, &config).unwrap();
        assert_eq!(c.tls().conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        // 100 requests in one write; every third a GET, the others echo their number.
        let mut batch = Vec::new();
        for i in 0..100 {
            if i % 3 == 0 {
                batch.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n");
            } else {
                let body = format!("request {i}");
                write!(batch, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
            }
        }
        c.send(&batch).unwrap();
        for i in 0..100 {
            let r = c.response().unwrap_or_else(|| panic!("response {i} missing"));
            assert_eq!(r.status, 200, "response {i}");
            if i % 3 == 0 {
                assert_eq!(r.body, b"Hello, World!", "response {i}");
            } else {
                assert_eq!(String::from_utf8_lossy(&r.body), format!("request {i}"), "in order");
            }
        }
        // 1 MiB echoed byte-exact on the same connection.
        let data = pattern(18, 1 << 20);
        let head = format!("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n", data.len());
        c.send(&[head.as_bytes(), &data].concat()).unwrap();
        let r = c.response().expect("echo of 1 MiB");
        assert_eq!(r.status, 200);
        assert!(r.body == data, "1 MiB echo differs (len {})", r.body.len());
        assert_eq!(c.get("/plaintext").unwrap().status, 200, "still alive");
    }
}

both_backends! {
    fn openssl_versions_alpn_and_ciphers_then_metrics(io) {
        let pki = Pki::new();
        let s = tls::start(io, &pki, &["--workers", "2"]);
        let addr = s.addr;
        let ok = |args: &[&str], expect: &[&str]| {
            let (success, out) = tls::s_client(addr, &pki, args);
            assert!(success, "s_client {args:?} failed:\n{out}");
            assert!(out.contains("Verify return code: 0 (ok)"), "{args:?}:\n{out}");
            for e in expect {
                assert!(out.contains(e), "s_client {args:?}: no `{e}` in:\n{out}");
            }
        };
        let refused = |args: &[&str], expect: &str| {
            let (success, out) = tls::s_client(addr, &pki, args);
            // (In TLS 1.3 OpenSSL prints "New, TLSv1.3" after the ServerHello even when the
            // server's next message is an alert: no server certificate is the proof.)
            assert!(!success && out.contains("no peer certificate available"), "s_client {args:?} connected:\n{out}");
            assert!(out.contains(expect), "s_client {args:?}: no `{expect}` in:\n{out}");
        };
        ok(&["-tls1_3"], &["New, TLSv1.3"]);
        ok(&["-tls1_2"], &["New, TLSv1.2", "Protocol  : TLSv1.2"]);
        ok(&["-alpn", "http/1.1"], &["ALPN protocol: http/1.1"]);
        ok(&["-alpn", "ringwire-stream/1"], &["ALPN protocol: ringwire-stream/1"]);
        ok(&["-alpn", "h2,http/1.1"], &["ALPN protocol: http/1.1"]);
        ok(&["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"], &["Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"]);
        ok(&["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"], &["Cipher is ECDHE-ECDSA-CHACHA20-POLY1305"]);
        // The stream protocol's own port offers only its protocol.
        let stream = s.stream.expect("stream listener");
        let (success, out) = tls::s_client(stream, &pki, &["-alpn", "ringwire-stream/1"]);
        assert!(success && out.contains("ALPN protocol: ringwire-stream/1"), "{out}");

        let failed = tls::handshakes(&s, "failed");
        // The alert texts are OpenSSL's names of the server's alerts.
        refused(&["-alpn", "h2"], "no application protocol");
        // (rustls answers a hello without a version it speaks with handshake_failure.)
        refused(&["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"], "alert handshake failure");
        refused(&["-tls1_2", "-cipher", "AES256-SHA"], "alert handshake failure");
        refused(&["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA"], "alert handshake failure");
        let (success, out) = tls::s_client(stream, &pki, &["-alpn", "http/1.1"]);
        assert!(!success && out.contains("no application protocol"), "http/1.1 on the stream port:\n{out}");
        let failed = tls::handshakes(&s, "failed") - failed;
        assert!(failed >= 5.0, "5 refused handshakes counted failed, got {failed}");

        // Metrics: both versions counted, ok handshakes, both workers in user-space mode.
        assert!(tls::handshakes(&s, "ok") >= 8.0);
        assert!(tls::metric(&s, "ringwire_tls_handshakes_completed_total{version=\"1.3\"}") >= 4.0);
        assert!(tls::metric(&s, "ringwire_tls_handshakes_completed_total{version=\"1.2\"}") >= 3.0);
        // Both workers in one mode: the kernel's where it offers kTLS (tests/tls_ktls.rs).
        let mode = if ringwire_net::tls::ktls_support().is_ok() { "kernel" } else { "user" };
        assert_eq!(tls::metric(&s, &format!("ringwire_tls_mode{{mode=\"{mode}\"}}")), 2.0, "two workers in {mode} mode");
        assert!(tls::metric(&s, "ringwire_tls_handshake_duration_seconds_count") >= 8.0);
        assert!(tls::metric(&s, "ringwire_connections_closed_total{reason=\"tls_handshake\"}") >= 5.0);
    }
}

both_backends! {
    fn static_files_and_ranges_byte_exact(io) {
        let pki = Pki::new();
        let root = tempfile::tempdir().unwrap();
        let data = pattern(7, (1 << 20) + 3);
        std::fs::write(root.path().join("big.bin"), &data).unwrap();
        let s = tls::start(io, &pki, &["--root", root.path().to_str().unwrap()]);
        let config = tls::client(&pki, &[b"http/1.1"]);
        let mut c = Conn::open(s.addr, &config).unwrap();
        for _ in 0..2 {
            let r = c.get("/static/big.bin").unwrap();
            assert_eq!((r.status, r.body.len()), (200, data.len()));
            assert!(r.body == data, "whole file differs");
            let r = c.get_with("/static/big.bin", "Range: bytes=1000-200000").unwrap();
            assert_eq!(r.status, 206);
            assert_eq!(r.header("content-range"), Some(&*format!("bytes 1000-200000/{}", data.len())));
            assert!(r.body == data[1000..=200_000], "range differs");
            let r = c.get_with("/static/big.bin", "Range: bytes=-70000").unwrap();
            assert_eq!(r.status, 206);
            assert!(r.body == data[data.len() - 70_000..], "suffix range differs");
        }
        // And with curl, a range from the middle to the end.
        let (body, code) = curl_tls(&s, &pki, &["-r", "524288-", &https(&s, "/static/big.bin")]);
        assert_eq!(code, 0);
        assert!(body == data[524_288..], "curl range differs");
    }
}

both_backends! {
    /// A file truncated while it is sent over TLS ends that response short (the connection
    /// closes) and leaves the core serving: the emulated sendfile used to return a zero count
    /// that the flush loop retried forever, spinning the worker.
    fn a_file_truncated_mid_send_ends_the_response_not_the_core(io) {
        let pki = Pki::new();
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("shrinks.bin");
        std::fs::write(&path, pattern(3, 32 << 20)).unwrap();
        let s = tls::start(io, &pki, &["--workers", "1", "--root", root.path().to_str().unwrap()]);
        let config = tls::client(&pki, &[b"http/1.1"]);
        let mut c = Conn::open(s.addr, &config).unwrap();
        c.send(b"GET /static/shrinks.bin HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        // Some of the body, then the file shrinks while the server is still sending.
        let mut got = vec![0u8; 256 * 1024];
        std::io::Read::read_exact(&mut c.r, &mut got).unwrap();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
        let mut total = got.len();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match std::io::Read::read(&mut c.r, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        assert!(total < 32 << 20, "the whole file arrived although it was truncated");
        // The one worker still answers.
        let mut other = Conn::open(s.addr, &config).unwrap();
        assert_eq!(other.get("/plaintext").unwrap().status, 200);
    }
}

both_backends! {
    fn tls13_session_resumption(io) {
        let pki = Pki::new();
        let s = tls::start(io, &pki, &["--workers", "2"]);
        let config = tls::client(&pki, &[b"http/1.1"]);
        let mut first = Conn::open(s.addr, &config).unwrap();
        assert_eq!(first.tls().conn.handshake_kind(), Some(HandshakeKind::Full));
        // Reading a response also reads the tickets sent before it.
        assert_eq!(first.get("/plaintext").unwrap().status, 200);
        let mut resumed = 0;
        for _ in 0..4 {
            let mut c = Conn::open(s.addr, &config).unwrap();
            assert_eq!(c.get("/plaintext").unwrap().status, 200);
            assert_eq!(c.tls().conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
            if c.tls().conn.handshake_kind() == Some(HandshakeKind::Resumed) {
                resumed += 1;
            }
        }
        // Tickets are shared by the cores, so whichever worker accepts resumes.
        assert_eq!(resumed, 4, "every later connection resumes");
        assert!(tls::metric(&s, "ringwire_tls_resumed_total") >= 4.0);
        // A fresh client configuration has no ticket: a full handshake.
        let mut c = Conn::open(s.addr, &tls::client(&pki, &[b"http/1.1"])).unwrap();
        assert_eq!(c.tls().conn.handshake_kind(), Some(HandshakeKind::Full));
    }
}

both_backends! {
    fn client_certificates_optional_and_verified(io) {
        let pki = Pki::new();
        let ca = pki.client_ca();
        let s = tls::start(io, &pki, &["--tls-client-ca", ca.to_str().unwrap()]);
        pki.client("alice", "alice", true);
        pki.client("mallory", "mallory", false);
        let mut c = Conn::open(s.addr, &tls::client_with_cert(&pki, "alice")).expect("trusted client cert");
        assert_eq!(c.get("/plaintext").unwrap().status, 200);
        // Without a certificate: still served.
        let mut c = Conn::open(s.addr, &tls::client(&pki, &[b"http/1.1"])).unwrap();
        assert_eq!(c.get("/plaintext").unwrap().status, 200);
        // A certificate from a CA the server does not trust: the server refuses it (in TLS 1.3
        // the client learns it at its first read).
        let failed = tls::handshakes(&s, "failed");
        let refused = match Conn::open(s.addr, &tls::client_with_cert(&pki, "mallory")) {
            Err(_) => true,
            Ok(mut c) => c.get("/plaintext").is_none(),
        };
        assert!(refused, "a client certificate from an unknown CA was served");
        assert!(tls::handshakes(&s, "failed") > failed);
        // The server is fine.
        let mut c = Conn::open(s.addr, &tls::client_with_cert(&pki, "alice")).unwrap();
        assert_eq!(c.get("/json").unwrap().status, 200);
    }
}
