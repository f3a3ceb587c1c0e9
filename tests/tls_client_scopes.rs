//! TLS client certificates as principals (`--tls-client-ca`, `--tls-client-scopes`), over
//! HTTP against the real server on both backends: a listed identity gets its scopes without a
//! token, an unlisted one is anonymous, a token decides when present, and a SIGHUP that drops
//! an identity takes effect on open connections.

mod util;

use util::{
    tls::{Conn, Pki, client_with_cert, start},
    tokens::{Key, KeyDir},
};

/// `method path` on `c` with `body`, optional `Authorization: Bearer`; the status.
fn call(c: &mut Conn, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> u16 {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    );
    c.send(&[head.as_bytes(), body].concat()).unwrap();
    c.response().expect("a response").status
}

both_backends! {
    fn listed_certificates_are_principals_with_their_scopes(io) {
        let pki = Pki::new();
        pki.client("backup", "backup", true);
        pki.client("writer", "writer", true);
        pki.client("unlisted", "unlisted", true);
        let scopes = pki.path("client-scopes");
        std::fs::write(&scopes, "# identity scopes\nbackup kv:read:\nwriter kv:write:\n").unwrap();
        let key = Key::new();
        let keys = KeyDir::with(&[&key]);
        let client_ca = pki.client_ca();
        let s = start(io, &pki, &[
            "--auth-keys", keys.path(),
            "--tls-client-ca", client_ca.to_str().unwrap(),
            "--tls-client-scopes", scopes.to_str().unwrap(),
        ]);

        let mut writer = Conn::open(s.addr, &client_with_cert(&pki, "writer")).unwrap();
        assert_eq!(call(&mut writer, "PUT", "/kv/a/x", None, b"v1"), 201, "writer may write");
        assert_eq!(call(&mut writer, "GET", "/kv/a/x", None, b""), 403, "but not read");

        let mut backup = Conn::open(s.addr, &client_with_cert(&pki, "backup")).unwrap();
        assert_eq!(call(&mut backup, "GET", "/kv/a/x", None, b""), 200, "backup may read");
        assert_eq!(call(&mut backup, "PUT", "/kv/a/x", None, b"v2"), 403, "but not write");
        // A token, when presented, decides instead of the certificate.
        let token = key.token(&["kv:write:a/"]);
        assert_eq!(call(&mut backup, "PUT", "/kv/a/x", Some(&token), b"v2"), 204);

        let mut unlisted = Conn::open(s.addr, &client_with_cert(&pki, "unlisted")).unwrap();
        assert_eq!(call(&mut unlisted, "GET", "/kv/a/x", None, b""), 401, "unlisted: anonymous");
        let mut none = Conn::open(s.addr, &util::tls::client(&pki, &[b"http/1.1"])).unwrap();
        assert_eq!(call(&mut none, "GET", "/kv/a/x", None, b""), 401, "no certificate");

        // SIGHUP with `backup` gone: the open connection is refused from its next request.
        std::fs::write(&scopes, "writer kv:write:\n").unwrap();
        s.signal("HUP");
        util::tls::wait_log(&s, "auth keys reloaded");
        let mut code = 0;
        for _ in 0..100 {
            code = call(&mut backup, "GET", "/kv/a/x", None, b"");
            if code != 200 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(code, 401, "a dropped identity is an invalid credential");
        assert_eq!(call(&mut writer, "PUT", "/kv/a/y", None, b"v"), 201, "writer still listed");
    }
}

#[test]
fn client_scopes_need_a_client_ca() {
    let pki = Pki::new();
    let (cert, key) = pki.server();
    let scopes = pki.path("client-scopes");
    std::fs::write(&scopes, "backup kv:read:\n").unwrap();
    let (code, err) = util::tls::start_fails(
        "epoll",
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-client-scopes",
            scopes.to_str().unwrap(),
        ],
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("tls.client_scopes"), "{err}");
}

/// `ringwire client --io IO --tls --tls-ca CA [--tls-cert NAME.pem --tls-key NAME.key]
/// --addr ADDR args...`: (exit code, stdout, stderr), killed after 30 s.
fn stream_cli(
    io: &str,
    pki: &Pki,
    cert: Option<&str>,
    addr: &str,
    args: &[&str],
) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ringwire"));
    cmd.args(["client", "--io", io, "--tls", "--tls-ca"])
        .arg(pki.ca());
    if let Some(name) = cert {
        cmd.arg("--tls-cert").arg(pki.path(&format!("{name}.pem")));
        cmd.arg("--tls-key").arg(pki.path(&format!("{name}.key")));
    }
    let mut child = cmd
        .args(["--addr", addr])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > end {
            let _ = child.kill();
            panic!("ringwire client {args:?} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

both_backends! {
    fn listed_certificates_are_principals_on_the_stream_protocol(io) {
        let pki = Pki::new();
        pki.client("backup", "backup", true);
        pki.client("writer", "writer", true);
        let scopes = pki.path("client-scopes");
        std::fs::write(&scopes, "backup kv:read:\nwriter kv:write:\n").unwrap();
        let keys = KeyDir::with(&[&Key::new()]);
        let client_ca = pki.client_ca();
        let s = start(io, &pki, &[
            "--auth-keys", keys.path(),
            "--tls-client-ca", client_ca.to_str().unwrap(),
            "--tls-client-scopes", scopes.to_str().unwrap(),
        ]);
        let stream = s.stream.unwrap().to_string();
        let (code, _, err) = stream_cli(io, &pki, Some("writer"), &stream, &["kv", "put", "a/x", "v"]);
        assert_eq!(code, 0, "writer may write: {err}");
        let (code, _, err) = stream_cli(io, &pki, Some("writer"), &stream, &["kv", "get", "a/x"]);
        assert_ne!(code, 0, "writer may not read");
        assert!(err.to_lowercase().contains("forbidden"), "{err}");
        let (code, out, err) = stream_cli(io, &pki, Some("backup"), &stream, &["kv", "get", "a/x"]);
        assert_eq!((code, out.as_str()), (0, "v\n"), "backup may read: {err}");
        let (code, _, err) = stream_cli(io, &pki, None, &stream, &["kv", "get", "a/x"]);
        assert_ne!(code, 0, "no certificate, no token: {err}");
    }
}
