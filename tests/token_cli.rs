//! `ringwire token keygen|issue` as a user runs them: the files keygen writes, and a token
//! from issue that the server's keyring accepts.

use ringwire_net::auth::{Keyring, Need};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn ringwire(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs keygen into `dir`; the kid.
fn keygen(dir: &Path) -> String {
    let (code, out, err) = ringwire(&["token", "keygen", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let kid = out
        .lines()
        .find_map(|l| l.strip_prefix("kid: "))
        .unwrap_or_else(|| panic!("no kid in {out:?}"))
        .to_string();
    assert!(out.contains(&format!("{kid}.key")), "{out}");
    assert!(out.contains(&format!("{kid}.pub")), "{out}");
    kid
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_can_read_and_a_public_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let kid = keygen(&dir);
    assert_eq!(kid.len(), 16);
    assert!(kid.bytes().all(|b| b.is_ascii_hexdigit()));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, [format!("{kid}.key"), format!("{kid}.pub")]);
    assert_eq!(mode(&dir.join(format!("{kid}.key"))), 0o600);
    assert_eq!(mode(&dir), 0o700);
    let private = std::fs::read_to_string(dir.join(format!("{kid}.key"))).unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
    let public = std::fs::read_to_string(dir.join(format!("{kid}.pub"))).unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    // A second key pair lands beside the first (rotation).
    assert_ne!(keygen(&dir), kid);
}

#[test]
fn issue_prints_one_token_the_keyring_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let kid = keygen(tmp.path());
    let key = tmp.path().join(format!("{kid}.key"));
    let before = now();
    let (code, out, err) = ringwire(&[
        "token",
        "issue",
        "--key",
        key.to_str().unwrap(),
        "--sub",
        "alice",
        "--scope",
        "kv:read:users/",
        "--scope",
        "pub:orders.>,sub:orders.*",
        "--ttl",
        "2h",
    ]);
    let after = now();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "one line: {out:?}");
    assert!(out.ends_with('\n'));
    let token = out.trim_end();

    let ring = Keyring::load(tmp.path(), None).unwrap();
    let v = ring.verify(token.as_bytes(), now(), 0).unwrap();
    assert_eq!(v.sub, "alice");
    assert_eq!(v.kid, kid);
    assert!(
        (before + 7200..=after + 7200).contains(&v.exp),
        "exp {}",
        v.exp
    );
    assert_eq!(v.jti.len(), 32);
    assert_eq!(
        v.scopes.to_string(),
        "kv:read:users/,pub:orders.>,sub:orders.*"
    );
    assert!(v.scopes.allows(Need::KvRead(b"users/1")));
    assert!(!v.scopes.allows(Need::KvWrite(b"users/1")));
    assert!(v.scopes.allows(Need::Pub("orders.new")));
    assert!(v.scopes.allows(Need::Sub("orders.eu")));
    assert!(!v.scopes.allows(Need::Admin));

    // The default lifetime is one hour; each token has its own jti.
    let (code, out, err) = ringwire(&[
        "token",
        "issue",
        "--key",
        key.to_str().unwrap(),
        "--sub",
        "bob",
    ]);
    assert_eq!(code, 0, "{err}");
    let v2 = ring.verify(out.trim_end().as_bytes(), now(), 0).unwrap();
    assert!(v2.exp >= before + 3600 && v2.exp <= now() + 3600);
    assert_ne!(v2.jti, v.jti);
}

#[test]
fn issue_refuses_a_bad_scope_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let kid = keygen(tmp.path());
    let key = tmp.path().join(format!("{kid}.key"));
    for (scope, why) in [
        ("kv:read", "missing `:`"),
        ("pub:a.>.b", "`>` may only be the last token"),
        ("write:x", "unknown kind"),
    ] {
        let (code, out, err) = ringwire(&[
            "token",
            "issue",
            "--key",
            key.to_str().unwrap(),
            "--sub",
            "alice",
            "--scope",
            scope,
        ]);
        assert_ne!(code, 0, "{scope}");
        assert!(out.is_empty(), "no token on stdout: {out}");
        assert!(err.contains(scope) && err.contains(why), "{scope}: {err}");
        assert!(err.contains("kv:read:<prefix>"), "lists the forms: {err}");
    }
}

#[test]
fn issue_with_a_missing_or_bad_key_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let kid = keygen(tmp.path());
    let public = tmp.path().join(format!("{kid}.pub"));
    let missing = tmp.path().join("nope.key");
    for key in [&public, &missing] {
        let (code, out, err) = ringwire(&[
            "token",
            "issue",
            "--key",
            key.to_str().unwrap(),
            "--sub",
            "a",
        ]);
        assert_eq!(code, 1);
        assert!(out.is_empty());
        assert!(err.contains(key.to_str().unwrap()), "{err}");
    }
    let (code, _, err) = ringwire(&[
        "token", "issue", "--key", "k.key", "--sub", "a", "--ttl", "1w",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--ttl"), "{err}");
}
