//! Certificates against the real binary, on both backends: a bad certificate or key stops the
//! start with an error that names the file and the reason; SIGHUP reloads the certificate
//! under load with zero failed requests, and a broken file keeps the old one.

mod util;

use std::{
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};
use util::tls::{self, Conn, Pki, Validity};

/// The start fails: a non-zero exit, and stderr says each of `expect`.
fn refused(io: &str, args: &[&str], expect: &[&str]) {
    let (code, stderr) = tls::start_fails(io, args);
    assert!(
        code.is_some_and(|c| c != 0),
        "exit {code:?} with {args:?}:\n{stderr}"
    );
    for e in expect {
        assert!(
            stderr.contains(e),
            "no `{e}` in the error for {args:?}:\n{stderr}"
        );
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

both_backends! {
    fn bad_certificates_stop_the_start_naming_the_file(io) {
        let pki = Pki::new();
        let (cert, key) = pki.server();
        let (expired, expired_key) = pki.leaf("expired", "old", Validity::Expired);
        refused(io, &["--tls-cert", p(&expired), "--tls-key", p(&expired_key)], &[p(&expired), "expired", "2020-01-02"]);
        let (future, future_key) = pki.leaf("future", "later", Validity::Future);
        refused(io, &["--tls-cert", p(&future), "--tls-key", p(&future_key)], &[p(&future), "not yet valid", "2100-03-04"]);
        let stray = pki.stray_key("stray");
        refused(io, &["--tls-cert", p(&cert), "--tls-key", p(&stray)], &[p(&stray), "does not match", p(&cert)]);
        let missing = pki.path("missing.pem");
        refused(io, &["--tls-cert", p(&missing), "--tls-key", p(&key)], &[p(&missing), "cannot read"]);
        let junk = pki.path("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        refused(io, &["--tls-cert", p(&junk), "--tls-key", p(&key)], &[p(&junk), "no certificate"]);
        // The key file given as the certificate, and the certificate as the key.
        refused(io, &["--tls-cert", p(&cert), "--tls-key", p(&cert)], &[p(&cert), "no private key"]);
        refused(io, &["--tls-cert", p(&cert)], &["tls.key"]);
        refused(io, &["--tls-key", p(&key)], &["tls.cert"]);
        let missing_ca = pki.path("no-ca.pem");
        refused(io, &["--tls-cert", p(&cert), "--tls-key", p(&key), "--tls-client-ca", p(&missing_ca)], &[p(&missing_ca)]);
        // The environment variables work like the flags.
        let mut server = util::Server::start_with_env(io, &[], &[("RINGWIRE_TLS_CERT", p(&cert)), ("RINGWIRE_TLS_KEY", p(&key))]);
        assert!(server.log().contains("listening on https://"), "{}", server.log());
        let mut c = Conn::open(server.addr, &tls::client(&pki, &[b"http/1.1"])).unwrap();
        assert_eq!(c.get("/plaintext").unwrap().status, 200);
        server.signal("TERM");
        assert!(server.wait(Duration::from_secs(20)).is_some_and(|st| st.success()));
    }
}

/// What the load saw: (when the connection started, the server's certificate).
type Seen = Vec<(Instant, Vec<u8>)>;

/// New connections, one request each, until `stop`: what each saw, and the failures. Full
/// handshakes unless `resume` (a resumed session keeps the certificate it began with).
fn new_connections(
    addr: std::net::SocketAddr,
    pki: &Pki,
    stop: &AtomicBool,
    resume: bool,
) -> (Seen, Vec<String>) {
    let config = if resume {
        tls::client(pki, &[b"http/1.1"])
    } else {
        tls::client_full(pki, &[b"http/1.1"])
    };
    let (mut seen, mut failed) = (Vec::new(), Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        match Conn::open(addr, &config) {
            Ok(mut c) => match c.get("/plaintext") {
                Some(r) if r.status == 200 && r.body == b"Hello, World!" => {
                    seen.push((started, c.peer_leaf()))
                }
                other => failed.push(format!("answer: {other:?}")),
            },
            Err(e) => failed.push(format!("handshake: {e}")),
        }
    }
    (seen, failed)
}

both_backends! {
    fn sighup_reloads_under_load_with_zero_failures(io) {
        let pki = Pki::new();
        let (first, first_key) = pki.server();
        let (live, live_key) = (pki.path("live.pem"), pki.path("live.key"));
        tls::replace(&first, &live);
        tls::replace(&first_key, &live_key);
        let (second, second_key) = pki.leaf("second", "ringwire second server", Validity::Now);
        let (old_der, new_der) = (tls::leaf_der(&first), tls::leaf_der(&second));
        let s = util::Server::start(io, &["--workers", "2", "--tls-cert", p(&live), "--tls-key", p(&live_key)]);
        let stop = &AtomicBool::new(false);
        let (s, pki) = (&s, &pki);
        let mut keep = Conn::open(s.addr, &tls::client(pki, &[b"http/1.1"])).unwrap();
        assert_eq!(keep.peer_leaf(), old_der);

        let (loads, kept, reloaded, reload_log) = thread::scope(|scope| {
            // Two threads of full handshakes, one of resumed ones.
            let loads: Vec<_> = [false, false, true].map(|resume| scope.spawn(move || new_connections(s.addr, pki, stop, resume))).into_iter().collect();
            let kept = scope.spawn(|| {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    match keep.get("/json") {
                        Some(r) if r.status == 200 => n += 1,
                        other => return Err(format!("keep-alive request {n}: {other:?}")),
                    }
                }
                Ok((n, keep.peer_leaf()))
            });
            thread::sleep(Duration::from_secs(1));
            // The second certificate, then SIGHUP.
            tls::replace(&second, &live);
            tls::replace(&second_key, &live_key);
            s.signal("HUP");
            tls::wait_log(s, "TLS certificate reloaded");
            let reloaded = Instant::now();
            thread::sleep(Duration::from_secs(1));
            // A broken certificate file, then SIGHUP: the second certificate stays.
            std::fs::write(pki.path("broken.pem"), "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
            tls::replace(&pki.path("broken.pem"), &live);
            s.signal("HUP");
            let log = tls::wait_log(s, "TLS certificate not reloaded");
            thread::sleep(Duration::from_secs(1));
            stop.store(true, Ordering::Relaxed);
            let loads: Vec<_> = loads.into_iter().map(|t| t.join().unwrap()).collect();
            (loads, kept.join().unwrap(), reloaded, log)
        });

        let (n, kept_leaf) = kept.expect("the keep-alive connection kept working");
        assert!(n > 10, "only {n} keep-alive requests");
        assert_eq!(kept_leaf, old_der, "an open connection keeps its certificate");
        let (mut before, mut after) = (0, 0);
        for (i, (seen, failed)) in loads.iter().enumerate() {
            assert!(failed.is_empty(), "failed requests during the reload: {failed:?}");
            assert!(seen.len() > 10, "load {i}: only {} requests", seen.len());
            if i == 2 {
                continue; // resumed sessions: their certificate is the first full handshake's
            }
            for (started, der) in seen {
                if *started >= reloaded {
                    assert!(*der == new_der, "a connection after the reload got the old certificate");
                    after += 1;
                } else if *der == old_der {
                    before += 1;
                } else {
                    assert!(*der == new_der, "an unknown certificate");
                }
            }
        }
        assert!(before > 5 && after > 5, "connections before/after the reload: {before}/{after}");
        let line = reload_log.lines().find(|l| l.contains("TLS certificate not reloaded")).unwrap();
        assert!(line.contains(p(&live)), "the failed reload names the file: {line}");
        // After the failed reload: still the second certificate, and the server serves.
        let mut c = Conn::open(s.addr, &tls::client(pki, &[b"http/1.1"])).unwrap();
        assert_eq!(c.peer_leaf(), new_der);
        assert_eq!(c.get("/plaintext").unwrap().status, 200);
        let subject = String::from_utf8_lossy(&new_der).contains("ringwire second server");
        assert!(subject, "the new leaf's subject CN");
    }
}
