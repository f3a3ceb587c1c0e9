//! Entry point for the `token_decode` fuzz target (`fuzz/`), also run on stable Rust over the
//! checked-in seeds by `net/tests/fuzz_corpus.rs`. It panics when an invariant breaks;
//! refusing the input is never a failure. Not a stable API.

use super::{AuthError, Keyring, MAX_TOKEN_LEN, SigningKey, decode, sign};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// [`decode`] on any bytes: it never panics; what it accepts is at most [`MAX_TOKEN_LEN`]
/// bytes of three unpadded base64url parts whose first two are exactly the signing input; the
/// decoded claims re-signed (with a fixed key) decode to the same claims and verify; and the
/// input itself goes through [`Keyring::verify`] without a panic.
pub fn token_decode(data: &[u8]) {
    let key = SigningKey::from_bytes(&[0x42; 32]);
    let Ok(u) = decode(data) else {
        return;
    };
    assert!(!data.is_empty() && data.len() <= MAX_TOKEN_LEN);
    let parts: Vec<&[u8]> = data.split(|&b| b == b'.').collect();
    assert_eq!(parts.len(), 3, "exactly three parts");
    for part in &parts {
        let decoded = URL_SAFE_NO_PAD
            .decode(part)
            .expect("each part is base64url");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(&decoded).as_bytes(),
            *part,
            "canonical"
        );
    }
    assert_eq!(u.signing_input.len(), parts[0].len() + 1 + parts[1].len());
    assert!(data.starts_with(u.signing_input));
    assert!(!u.kid.is_empty());

    let resigned = sign(&u.claims, &key, &u.kid);
    if resigned.len() <= MAX_TOKEN_LEN {
        let again = decode(resigned.as_bytes()).expect("a signed token decodes");
        assert_eq!(again.claims, u.claims);
        assert_eq!(again.kid, u.kid);
        let ring = Keyring::with_keys([(u.kid.clone(), key.verifying_key())], []);
        let result = ring.verify(resigned.as_bytes(), u.claims.iat, 0);
        assert!(
            matches!(
                result,
                Ok(_) | Err(AuthError::Expired | AuthError::BadScope)
            ),
            "{result:?}"
        );
        // The input itself goes through every check without a panic.
        let _ = ring.verify(data, u.claims.iat, 0);
    }
}
