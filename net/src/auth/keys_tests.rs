//! Keyring tests: files, verification order, rotation, revocation.

use super::*;
use crate::auth::{Claims, Need, sign};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::os::unix::fs::PermissionsExt;

const NOW: u64 = 1_700_000_000;

fn claims(scopes: &[&str]) -> Claims {
    Claims {
        sub: "alice".into(),
        iat: NOW,
        exp: NOW + 3600,
        jti: "0123456789abcdef0123456789abcdef".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

/// A directory with one fresh key pair.
fn keydir() -> (tempfile::TempDir, String, SigningKey) {
    let dir = tempfile::tempdir().unwrap();
    let (kid, key_path, _) = generate_keypair(dir.path()).unwrap();
    let (kid2, key) = load_signing_key(&key_path).unwrap();
    assert_eq!(kid, kid2);
    (dir, kid, key)
}

#[test]
fn keygen_writes_private_0600_and_kid_from_the_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("keys");
    let (kid, key_path, pub_path) = generate_keypair(&sub).unwrap();
    assert_eq!(kid.len(), 16);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key_path), 0o600);
    assert_eq!(mode(&sub), 0o700);
    assert_eq!(key_path, sub.join(format!("{kid}.key")));
    let text = std::fs::read_to_string(&pub_path).unwrap();
    assert!(text.starts_with("-----BEGIN PUBLIC KEY-----"), "{text}");
    let (_, key) = load_signing_key(&key_path).unwrap();
    assert_eq!(key_id(&key.verifying_key()), kid);
    // RFC 8410's form (what OpenSSL writes and reads): 48 bytes of DER, no public key inside.
    let private = std::fs::read_to_string(&key_path).unwrap();
    let der: String = private
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(der.len(), 64, "{private}");
}

#[test]
fn a_key_made_by_openssl_loads() {
    // `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`, for the secret [1; 32].
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("ossl.key");
    std::fs::write(&key_path, "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB\n-----END PRIVATE KEY-----\n").unwrap();
    let (kid, key) = load_signing_key(&key_path).unwrap();
    assert_eq!((kid.as_str(), key.to_bytes()), ("ossl", [1; 32]));
    let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAiojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=\n-----END PUBLIC KEY-----\n";
    let pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    assert_eq!(pem, public, "the .pub keygen writes is what openssl writes");
    std::fs::write(dir.path().join("ossl.pub"), public).unwrap();
    let ring = Keyring::load(dir.path(), None).unwrap();
    let token = sign(&claims(&[]), &key, &kid);
    assert!(ring.verify(token.as_bytes(), NOW, 0).is_ok());
}

#[test]
fn sign_then_verify_round_trips() {
    let (dir, kid, key) = keydir();
    let ring = Keyring::load(dir.path(), None).unwrap();
    assert_eq!((ring.len(), ring.is_empty()), (1, false));
    let token = sign(&claims(&["kv:read:a/", "admin"]), &key, &kid);
    let v = ring.verify(token.as_bytes(), NOW + 10, 5).unwrap();
    assert_eq!(v.sub, "alice");
    assert_eq!(v.jti, "0123456789abcdef0123456789abcdef");
    assert_eq!(v.exp, NOW + 3600);
    assert!(v.scopes.allows(Need::KvRead(b"a/b")));
    assert!(v.scopes.allows(Need::Admin));
}

#[test]
fn tampering_is_a_bad_signature() {
    let (dir, kid, key) = keydir();
    let ring = Keyring::load(dir.path(), None).unwrap();
    let token = sign(&claims(&["kv:read:a/"]), &key, &kid);
    let (h, rest) = token.split_once('.').unwrap();
    let (_, s) = rest.split_once('.').unwrap();
    // Claims changed (wider scope), old signature.
    let forged = serde_json::to_vec(&claims(&["kv:read:"])).unwrap();
    let forged = format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode(forged));
    assert_eq!(
        ring.verify(forged.as_bytes(), NOW, 5),
        Err(AuthError::BadSignature)
    );
    // One signature bit flipped.
    let mut sig = URL_SAFE_NO_PAD.decode(s).unwrap();
    sig[10] ^= 1;
    let (input, _) = token.rsplit_once('.').unwrap();
    let flipped = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(
        ring.verify(flipped.as_bytes(), NOW, 5),
        Err(AuthError::BadSignature)
    );
    // Signed by another key under this kid.
    let other = SigningKey::from_bytes(&[9; 32]);
    let wrong = sign(&claims(&[]), &other, &kid);
    assert_eq!(
        ring.verify(wrong.as_bytes(), NOW, 5),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn an_unknown_kid_is_refused_before_the_signature() {
    let (dir, _, key) = keydir();
    let ring = Keyring::load(dir.path(), None).unwrap();
    let token = sign(&claims(&[]), &key, "nosuchkid");
    assert_eq!(
        ring.verify(token.as_bytes(), NOW, 5),
        Err(AuthError::UnknownKey)
    );
    let empty = Keyring::default();
    assert!(empty.is_empty());
    assert_eq!(
        empty.verify(token.as_bytes(), NOW, 5),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn expiry_counts_the_leeway() {
    let key = SigningKey::from_bytes(&[1; 32]);
    let ring = Keyring::with_keys([("k".into(), key.verifying_key())], []);
    let token = sign(&claims(&[]), &key, "k");
    let exp = NOW + 3600;
    let at = |now, leeway| ring.verify(token.as_bytes(), now, leeway).map(|_| ());
    assert_eq!(at(exp - 1, 0), Ok(()));
    assert_eq!(at(exp, 0), Err(AuthError::Expired));
    assert_eq!(at(exp + 4, 5), Ok(()));
    assert_eq!(at(exp + 5, 5), Err(AuthError::Expired));
    assert_eq!(at(exp, u64::MAX), Ok(()), "no overflow: a saturated sum");
}

#[test]
fn a_token_from_the_future_is_not_yet_valid() {
    let key = SigningKey::from_bytes(&[1; 32]);
    let ring = Keyring::with_keys([("k".into(), key.verifying_key())], []);
    let token = sign(&claims(&[]), &key, "k");
    assert_eq!(
        ring.verify(token.as_bytes(), NOW - 6, 5),
        Err(AuthError::NotYetValid)
    );
    assert!(ring.verify(token.as_bytes(), NOW - 5, 5).is_ok());
    assert!(ring.verify(token.as_bytes(), NOW, 0).is_ok());
}

#[test]
fn revoked_jtis_are_refused_and_the_file_format_is_lenient() {
    let (dir, kid, key) = keydir();
    let revoked = dir.path().join("revoked.txt");
    std::fs::write(
        &revoked,
        "# revoked 2026-11-30\n\n  0123456789abcdef0123456789abcdef  # leaked\nffff\n",
    )
    .unwrap();
    let ring = Keyring::load(dir.path(), Some(&revoked)).unwrap();
    assert_eq!(ring.revoked_len(), 2);
    let token = sign(&claims(&[]), &key, &kid);
    assert_eq!(
        ring.verify(token.as_bytes(), NOW, 5),
        Err(AuthError::Revoked)
    );
    let mut other = claims(&[]);
    other.jti = "11111111111111111111111111111111".into();
    assert!(
        ring.verify(sign(&other, &key, &kid).as_bytes(), NOW, 5)
            .is_ok()
    );
}

#[test]
fn a_bad_scope_is_refused_after_the_signature() {
    let key = SigningKey::from_bytes(&[1; 32]);
    let ring = Keyring::with_keys([("k".into(), key.verifying_key())], []);
    let token = sign(&claims(&["kv:list:x"]), &key, "k");
    assert_eq!(
        ring.verify(token.as_bytes(), NOW, 5),
        Err(AuthError::BadScope)
    );
}

#[test]
fn two_keys_in_the_directory_both_verify() {
    let (dir, kid1, key1) = keydir();
    let (kid2, key2_path, _) = generate_keypair(dir.path()).unwrap();
    let (_, key2) = load_signing_key(&key2_path).unwrap();
    // Other files are ignored, a .key among them.
    std::fs::write(dir.path().join("README"), "not a key").unwrap();
    let ring = Keyring::load(dir.path(), None).unwrap();
    assert_eq!(ring.len(), 2);
    for (kid, key) in [(&kid1, &key1), (&kid2, &key2)] {
        let token = sign(&claims(&[]), key, kid);
        assert!(ring.verify(token.as_bytes(), NOW, 5).is_ok(), "{kid}");
    }
    // Retiring the old key: its tokens stop verifying, the new key's still do.
    std::fs::remove_file(dir.path().join(format!("{kid1}.pub"))).unwrap();
    let ring = Keyring::load(dir.path(), None).unwrap();
    let old = sign(&claims(&[]), &key1, &kid1);
    assert_eq!(
        ring.verify(old.as_bytes(), NOW, 5),
        Err(AuthError::UnknownKey)
    );
    assert!(
        ring.verify(sign(&claims(&[]), &key2, &kid2).as_bytes(), NOW, 5)
            .is_ok()
    );
}

#[test]
fn load_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = Keyring::load(dir.path(), None).unwrap_err();
    assert_eq!(err.path, dir.path());
    assert!(err.to_string().contains("no public key"), "{err}");

    let bad = dir.path().join("broken.pub");
    std::fs::write(
        &bad,
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let err = Keyring::load(dir.path(), None).unwrap_err();
    assert_eq!(err.path, bad);
    assert!(err.to_string().contains("broken.pub"), "{err}");
    std::fs::remove_file(&bad).unwrap();

    generate_keypair(dir.path()).unwrap();
    let missing = dir.path().join("revoked.txt");
    let err = Keyring::load(dir.path(), Some(&missing)).unwrap_err();
    assert_eq!(err.path, missing);
    std::fs::write(&missing, "two words\n").unwrap();
    let err = Keyring::load(dir.path(), Some(&missing)).unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");

    let err = Keyring::load(&dir.path().join("nope"), None).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");

    let not_a_key = dir.path().join("k.key");
    std::fs::write(&not_a_key, "hello").unwrap();
    let err = load_signing_key(&not_a_key).unwrap_err();
    assert_eq!(err.path, not_a_key);
}

#[test]
fn keyring_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Keyring>();
}
