//! Protected mode for real: a client in a network namespace of the test's own (a veth pair,
//! tests/util/netns.rs) is not on loopback, so a server without auth keys refuses it the data
//! services (HTTP 403 `auth.protected_mode`, stream GOAWAY FORBIDDEN, both saying how to
//! configure tokens or opt out) while the same request from 127.0.0.1 works; `--insecure-open`
//! opens it; with `--auth-keys` a token decides. Both backends, HTTP and the stream port.
//!
//! Needs root for `ip netns`; otherwise each test prints SKIPPED, or fails under
//! `RINGWIRE_REQUIRE_NETNS=1` (set by `.ci/run` as root).

mod util;

use std::{net::SocketAddr, process::Output};
use util::{Server, edge::Keys, netns::Netns};

/// A server listening on every address (HTTP and stream ports), so that both the namespace
/// (through the host end of the veth pair) and loopback reach it.
fn start(io: &str, args: &[&str]) -> Server {
    let mut all = vec!["--listen", "0.0.0.0:0", "--stream-listen", "0.0.0.0:0"];
    all.extend_from_slice(args);
    Server::start(io, &all)
}

/// The server's HTTP and stream addresses as the namespace reaches them.
fn from_ns(s: &Server, ns: &Netns) -> (String, String) {
    let http = SocketAddr::new(ns.host_ip.into(), s.addr.port());
    let stream = SocketAddr::new(ns.host_ip.into(), s.stream.unwrap().port());
    (format!("http://{http}"), stream.to_string())
}

/// curl's `-i` output: (status, headers + body as text).
fn status(out: &Output) -> (u16, String) {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "curl failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (code, text)
}

/// `ringwire client --io io --addr addr ARGS...` inside the namespace: (exit code, stderr).
fn client_in(
    ns: &Netns,
    io: &str,
    addr: &str,
    token: Option<&str>,
    args: &[&str],
) -> (i32, String) {
    let mut c = ns.command(env!("CARGO_BIN_EXE_ringwire"));
    c.args(["client", "--io", io, "--addr", addr]);
    if let Some(t) = token {
        c.args(["--token", t]);
    }
    let out = c.args(args).env_remove("RINGWIRE_TOKEN").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err)
}

both_backends! {
    fn without_keys_only_loopback_gets_data(io) {
        let Some(ns) = Netns::create(&format!("without_keys_only_loopback_gets_data::{io}")) else { return };
        let s = start(io, &[]);
        let (http, stream) = from_ns(&s, &ns);

        let (code, text) = status(&ns.curl(&["-i", &format!("{http}/kv/x")]));
        assert_eq!(code, 403, "{text}");
        assert!(text.contains("auth.protected_mode"), "{text}");
        assert!(text.contains("--auth-keys") && text.contains("--insecure-open"), "{text}");
        let (code, text) =
            status(&ns.curl(&["-i", "-X", "POST", "-d", "hi", &format!("{http}/channels/x")]));
        assert_eq!(code, 403, "{text}");
        assert!(text.contains("auth.protected_mode"), "{text}");
        // JSON when asked for, with the same code.
        let (code, text) = status(&ns.curl(&[
            "-i",
            "-H",
            "Accept: application/json",
            &format!("{http}/kv/x"),
        ]));
        assert_eq!(code, 403, "{text}");
        assert!(text.contains(r#""code":"auth.protected_mode""#), "{text}");
        // The public demo routes stay public.
        let (code, text) = status(&ns.curl(&["-i", &format!("{http}/plaintext")]));
        assert_eq!(code, 200, "{text}");

        // The stream port refuses the handshake with FORBIDDEN and the same advice.
        let (code, err) = client_in(&ns, io, &stream, None, &["kv", "get", "x"]);
        assert_ne!(code, 0, "{err}");
        assert!(err.contains("GOAWAY FORBIDDEN"), "{err}");
        assert!(err.contains("--auth-keys") && err.contains("--insecure-open"), "{err}");

        // From loopback the same requests are served.
        let (out, rc) = util::curl(&[
            "-X", "PUT", "--data-binary", "v1", "-o", "/dev/null", "-w", "%{http_code}",
            &format!("http://127.0.0.1:{}/kv/x", s.addr.port()),
        ]);
        assert_eq!(rc, 0);
        assert!(String::from_utf8_lossy(&out).starts_with('2'), "{out:?}");
        let (out, rc) = util::curl(&[&format!("http://127.0.0.1:{}/kv/x", s.addr.port())]);
        assert_eq!((rc, &out[..]), (0, &b"v1"[..]));
        let denied = util::edge::metric(&s, r#"ringwire_edge_denied_total{reason="protected_mode"}"#);
        assert!(denied >= 4.0, "protected_mode denials counted: {denied}");
    }
}

both_backends! {
    fn insecure_open_serves_everyone(io) {
        let Some(ns) = Netns::create(&format!("insecure_open_serves_everyone::{io}")) else { return };
        let s = start(io, &["--insecure-open"]);
        let (http, stream) = from_ns(&s, &ns);
        let (code, text) =
            status(&ns.curl(&["-i", "-X", "PUT", "--data-binary", "v2", &format!("{http}/kv/y")]));
        assert!((200..300).contains(&code), "{text}");
        let (code, text) = status(&ns.curl(&["-i", &format!("{http}/kv/y")]));
        assert_eq!(code, 200, "{text}");
        assert!(text.ends_with("v2"), "{text}");
        let (code, err) = client_in(&ns, io, &stream, None, &["kv", "put", "z", "v3"]);
        assert_eq!(code, 0, "{err}");
        let (code, err) = client_in(&ns, io, &stream, None, &["kv", "get", "z"]);
        assert_eq!(code, 0, "{err}");
    }
}

both_backends! {
    fn with_keys_a_token_decides_not_the_address(io) {
        let Some(ns) = Netns::create(&format!("with_keys_a_token_decides_not_the_address::{io}")) else { return };
        let keys = Keys::new();
        let s = start(io, &["--auth-keys", &keys.path()]);
        let (http, stream) = from_ns(&s, &ns);
        let rw = keys.issue("ns-client", &["kv:read:", "kv:write:"]);
        let ro = keys.issue("ns-reader", &["kv:read:"]);
        let bearer = |t: &str| format!("Authorization: Bearer {t}");

        // No token: 401, whatever the address.
        let (code, text) = status(&ns.curl(&["-i", &format!("{http}/kv/a")]));
        assert_eq!(code, 401, "{text}");
        assert!(text.contains("auth.missing_token"), "{text}");
        assert!(text.to_ascii_lowercase().contains("www-authenticate: bearer"), "{text}");
        // A valid token with the scope: served.
        let (code, text) = status(&ns.curl(&[
            "-i", "-X", "PUT", "--data-binary", "v4", "-H", &bearer(&rw), &format!("{http}/kv/a"),
        ]));
        assert!((200..300).contains(&code), "{text}");
        let (code, text) = status(&ns.curl(&["-i", "-H", &bearer(&ro), &format!("{http}/kv/a")]));
        assert_eq!(code, 200, "{text}");
        assert!(text.ends_with("v4"), "{text}");
        // A valid token without the scope: 403 auth.forbidden (not protected mode).
        let (code, text) = status(&ns.curl(&[
            "-i", "-X", "PUT", "--data-binary", "no", "-H", &bearer(&ro), &format!("{http}/kv/a"),
        ]));
        assert_eq!(code, 403, "{text}");
        assert!(text.contains("auth.forbidden"), "{text}");

        // The stream port: the handshake is accepted, the token opens kv.
        let (code, err) = client_in(&ns, io, &stream, Some(&rw), &["kv", "put", "b", "v5"]);
        assert_eq!(code, 0, "{err}");
        let (code, err) = client_in(&ns, io, &stream, Some(&ro), &["kv", "get", "b"]);
        assert_eq!(code, 0, "{err}");
        let (code, err) = client_in(&ns, io, &stream, None, &["kv", "get", "b"]);
        assert_ne!(code, 0, "no token must not read: {err}");
        assert!(err.contains("UNAUTHENTICATED"), "{err}");
        assert!(!err.contains("FORBIDDEN"), "keys configured: not protected mode: {err}");
    }
}
