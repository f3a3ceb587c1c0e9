//! `ringwire client --token` (and `RINGWIRE_TOKEN`) against a real `ringwire serve --auth-keys`,
//! on both backends: the token travels in the stream handshake, and every refusal tells the
//! user what to do.

mod util;

use std::path::Path;
use std::process::{Command, Output};
use util::Server;

fn ringwire(io: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let (cmd, rest) = args.split_first().expect("a subcommand");
    let mut c = Command::new(env!("CARGO_BIN_EXE_ringwire"));
    c.arg(cmd)
        .args(["--io", io])
        .args(rest)
        .env_remove("RINGWIRE_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("run ringwire");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into(),
        String::from_utf8_lossy(&stderr).into(),
    )
}

/// A key pair in `dir`; the private key's path.
fn keygen(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(["token", "keygen", "--out", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let kid = text
        .lines()
        .find_map(|l| l.strip_prefix("kid: "))
        .unwrap_or_else(|| panic!("no kid in {text:?}"));
    dir.join(format!("{kid}.key")).to_str().unwrap().to_string()
}

fn issue(key: &str, scopes: &[&str]) -> String {
    let mut args = vec!["token", "issue", "--key", key, "--sub", "cli-test"];
    for s in scopes {
        args.extend(["--scope", s]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

both_backends! {
    fn the_token_opens_the_door_and_refusals_say_what_to_do(io) {
        let keys = tempfile::tempdir().unwrap();
        let key = keygen(keys.path());
        let pubs = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(keys.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "pub") {
                std::fs::copy(&path, pubs.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        let s = Server::start(io, &["--auth-keys", pubs.path().to_str().unwrap()]);
        let addr = s.stream.unwrap().to_string();
        let writer = issue(&key, &["kv:write:app/", "kv:read:app/"]);
        let reader = issue(&key, &["kv:read:app/"]);

        // --token, then the environment variable.
        let (code, _, err) =
            ringwire(io, &["client", "--addr", &addr, "--token", &writer, "kv", "put", "app/x", "v1"], &[]);
        assert_eq!(code, 0, "{err}");
        let (code, out, err) =
            ringwire(io, &["client", "--addr", &addr, "kv", "get", "app/x"], &[("RINGWIRE_TOKEN", &writer)]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), "v1");

        // No token: refused, and told how to give one.
        let (code, _, err) = ringwire(io, &["client", "--addr", &addr, "kv", "get", "app/x"], &[]);
        assert_ne!(code, 0);
        assert!(err.contains("--token") && err.contains("RINGWIRE_TOKEN"), "{err}");

        // A token the server did not sign: the handshake is refused with its text.
        let forged = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let (code, _, err) =
            ringwire(io, &["client", "--addr", &addr, "--token", forged, "ping", "-n", "1"], &[]);
        assert_ne!(code, 0);
        assert!(err.contains("UNAUTHENTICATED") && err.contains("invalid token"), "{err}");
        assert!(err.contains("--token"), "{err}");

        // A valid token without the scope: forbidden, and told about scopes.
        let (code, _, err) = ringwire(
            io,
            &["client", "--addr", &addr, "--token", &reader, "kv", "put", "app/x", "v2"],
            &[],
        );
        assert_ne!(code, 0);
        assert!(err.to_lowercase().contains("forbidden") && err.contains("scope"), "{err}");
        drop(s);
    }
}
