//! Key rotation and revocation against the real server on both backends: SIGHUP and
//! `POST /admin/reload` re-read `--auth-keys` and `--auth-revoked`, a bad key file keeps the
//! old keys, the admin actions need the `admin` scope, `/metrics` is open unless
//! `--public-metrics false`, and a server with unusable keys refuses to start.

mod util;

use std::{
    io::Read,
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use util::{
    Server,
    tokens::{
        Key, KeyDir, admin_call, call, error_code, eventually, get_status, jti_of, write_revoked,
    },
};

/// Whether `token` passes the edge (a kv read of an absent key: 404 rather than 401).
fn accepted(s: &Server, token: &str) -> bool {
    match get_status(s, "k/absent", token) {
        404 => true,
        401 => false,
        other => panic!("GET /kv/k/absent: {other}\n{}", s.log()),
    }
}

both_backends! {
    fn sighup_rotates_keys(io) {
        let (a, b) = (Key::new(), Key::new());
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &["--workers", "2", "--auth-keys", keys.path()]);
        let (ta, tb) = (a.token(&["kv:read:"]), b.token(&["kv:read:"]));
        assert!(accepted(&s, &ta));
        assert!(!accepted(&s, &tb), "B's token before B's key is there");

        keys.add(&b);
        s.signal("HUP");
        eventually("B's token accepted after SIGHUP", &s, || accepted(&s, &tb));
        assert!(accepted(&s, &ta), "A's token still accepted");
        assert!(s.log().contains("auth keys reloaded (2 keys)"), "{}", s.log());

        keys.remove(&a);
        s.signal("HUP");
        eventually("A's token refused after its key left", &s, || !accepted(&s, &ta));
        assert!(accepted(&s, &tb));
        // Every worker agrees (each connection may land on either core).
        for _ in 0..8 {
            assert!(!accepted(&s, &ta));
            assert!(accepted(&s, &tb));
        }
    }
}

both_backends! {
    fn sighup_reloads_the_revocation_file(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let list = tempfile::tempdir().unwrap();
        let revoked = list.path().join("revoked");
        write_revoked(&revoked, &[]);
        let s = Server::start(io, &[
            "--workers", "2",
            "--auth-keys", keys.path(),
            "--auth-revoked", revoked.to_str().unwrap(),
        ]);
        let (gone, kept) = (a.token(&["kv:read:"]), a.token(&["kv:read:"]));
        assert!(accepted(&s, &gone) && accepted(&s, &kept));

        write_revoked(&revoked, &[&jti_of(&gone)]);
        s.signal("HUP");
        eventually("the revoked token refused", &s, || !accepted(&s, &gone));
        for _ in 0..8 {
            assert!(!accepted(&s, &gone));
            assert!(accepted(&s, &kept));
        }
    }
}

both_backends! {
    fn a_bad_key_file_keeps_the_old_keys(io) {
        let (a, b) = (Key::new(), Key::new());
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &["--workers", "2", "--auth-keys", keys.path()]);
        let (ta, tb) = (a.token(&["kv:read:"]), b.token(&["kv:read:"]));
        keys.add(&b);
        std::fs::write(keys.dir.path().join("broken.pub"), "not a key\n").unwrap();
        s.signal("HUP");
        eventually("the reload error in the log", &s, || s.log().contains("not reloaded"));
        let log = s.log();
        let line = log.lines().find(|l| l.contains("not reloaded")).unwrap();
        assert!(line.contains("ERROR") || line.contains("error"), "{line}");
        assert!(line.contains("broken.pub"), "the bad file is named: {line}");
        // The old keyring stays whole: A in, B (added with the bad file) not yet.
        assert!(accepted(&s, &ta));
        assert!(!accepted(&s, &tb));
        assert_eq!(call(&s, "GET", "/plaintext", None, b"").status, 200);

        // Fixing the directory and reloading again brings B in.
        std::fs::remove_file(keys.dir.path().join("broken.pub")).unwrap();
        s.signal("HUP");
        eventually("B accepted once the dir is fixed", &s, || accepted(&s, &tb));
        assert!(accepted(&s, &ta));
    }
}

both_backends! {
    fn admin_actions_need_the_admin_scope(io) {
        let (a, b) = (Key::new(), Key::new());
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &["--workers", "2", "--auth-keys", keys.path()]);
        let (admin, kv) = (a.token(&["admin"]), a.token(&["kv:read:", "kv:write:"]));
        let tb = b.token(&["kv:read:"]);
        keys.add(&b);

        let r = admin_call(&s, "POST", "/admin/reload", None);
        assert_eq!(r.status, 401, "{r:?}");
        assert_eq!(error_code(&r), "auth.missing_token");
        let r = admin_call(&s, "POST", "/admin/reload", Some("junk.junk.junk"));
        assert_eq!((r.status, error_code(&r)), (401, "auth.invalid_token".into()), "{r:?}");
        let r = admin_call(&s, "POST", "/admin/reload", Some(&kv));
        assert_eq!((r.status, error_code(&r)), (403, "auth.forbidden".into()), "{r:?}");
        let r = admin_call(&s, "POST", "/admin/drain", Some(&kv));
        assert_eq!((r.status, error_code(&r)), (403, "auth.forbidden".into()), "{r:?}");
        // Nothing happened: B is still unknown and the server still serves.
        assert!(!accepted(&s, &tb));
        assert!(!s.log().contains("auth keys reloaded"), "{}", s.log());

        let r = admin_call(&s, "POST", "/admin/reload", Some(&admin));
        assert_eq!(r.status, 202, "{r:?}\n{}", s.log());
        eventually("B accepted after /admin/reload", &s, || accepted(&s, &tb));
        assert!(s.log().contains("auth keys reloaded (2 keys)"), "{}", s.log());
        assert_eq!(call(&s, "GET", "/plaintext", None, b"").status, 200, "not drained");

        // Probes stay open.
        assert_eq!(admin_call(&s, "GET", "/health/live", None).status, 200);
    }
}

both_backends! {
    fn metrics_are_open_unless_configured_closed(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let (admin, kv) = (a.token(&["admin"]), a.token(&["kv:read:"]));
        let open = Server::start(io, &["--workers", "1", "--auth-keys", keys.path()]);
        assert_eq!(admin_call(&open, "GET", "/metrics", None).status, 200);
        drop(open);

        let closed = Server::start(io, &[
            "--workers", "1", "--auth-keys", keys.path(), "--public-metrics", "false",
        ]);
        let r = admin_call(&closed, "GET", "/metrics", None);
        assert_eq!((r.status, error_code(&r)), (401, "auth.missing_token".into()), "{r:?}");
        assert_eq!(admin_call(&closed, "GET", "/metrics", Some(&kv)).status, 403);
        let r = admin_call(&closed, "GET", "/metrics", Some(&admin));
        assert_eq!(r.status, 200, "{r:?}");
        assert!(String::from_utf8_lossy(&r.body).contains("ringwire_edge_denied_total"));
        assert_eq!(admin_call(&closed, "GET", "/health/ready", None).status, 200, "probes open");
    }
}

/// Runs `ringwire serve` expecting it to fail at start; its stderr.
fn refused_start(io: &str, keys: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args([
            "serve",
            "--io",
            io,
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ])
        .args(["--stream-listen", "127.0.0.1:0", "--auth-keys", keys])
        .env_remove("RINGWIRE_AUTH_KEYS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ringwire serve --auth-keys {keys} kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "{err}");
    err
}

both_backends! {
    fn unusable_key_dirs_stop_the_start(io) {
        let base = tempfile::tempdir().unwrap();
        let missing = base.path().join("no-such-dir");
        let err = refused_start(io, missing.to_str().unwrap());
        assert!(err.contains("no-such-dir"), "{err}");

        let empty = base.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        std::fs::write(empty.join("README"), "keys go here\n").unwrap();
        let err = refused_start(io, empty.to_str().unwrap());
        assert!(err.contains("empty"), "{err}");
        assert!(err.contains(".pub"), "says what is missing: {err}");
    }
}

both_backends! {
    fn a_reload_that_would_drop_everything_keeps_the_old_state(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let list = tempfile::tempdir().unwrap();
        let revoked = list.path().join("revoked");
        let (gone, kept) = (a.token(&["kv:read:"]), a.token(&["kv:read:"]));
        write_revoked(&revoked, &[&jti_of(&gone)]);
        let s = Server::start(io, &[
            "--workers", "2",
            "--auth-keys", keys.path(),
            "--auth-revoked", revoked.to_str().unwrap(),
        ]);
        assert!(!accepted(&s, &gone) && accepted(&s, &kept));

        // The revocation file vanishes: the reload fails and the revocations stay in force.
        std::fs::remove_file(&revoked).unwrap();
        s.signal("HUP");
        eventually("the failed reload logged", &s, || s.log().matches("not reloaded").count() == 1);
        assert!(s.log().contains("revoked"), "the file is named\n{}", s.log());
        assert!(!accepted(&s, &gone), "a missing file must not unrevoke");
        assert!(accepted(&s, &kept));

        // Every key removed: the reload fails and the old key still verifies.
        write_revoked(&revoked, &[&jti_of(&gone)]);
        keys.remove(&a);
        s.signal("HUP");
        eventually("the second failed reload logged", &s, || s.log().matches("not reloaded").count() == 2);
        assert!(accepted(&s, &kept));
        assert!(!accepted(&s, &gone));
    }
}
