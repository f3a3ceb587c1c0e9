//! Bearer tokens and their scopes: the format, decoding (pure, fuzzed), signing, verification
//! against a keyring of public keys with a revocation list, and a per-core cache of verified
//! tokens.
//!
//! A token is a compact JWS (RFC 7515/7519, EdDSA per RFC 8037):
//! `b64url(header) "." b64url(claims) "." b64url(signature)`, no padding, at most
//! [`MAX_TOKEN_LEN`] bytes. The header is `{"alg":"EdDSA","typ":"JWT","kid":"<kid>"}`; the
//! claims are `{"sub":..,"iat":..,"exp":..,"jti":"<32 hex>","scopes":[..]}`; the signature is
//! Ed25519 (`ed25519-dalek`) over the ASCII text `header.claims`. `docs/SECURITY.md` says how
//! to make keys and tokens and how keys rotate.
//!
//! ```
//! use ringwire_net::auth::{Claims, Keyring, Need, SigningKey, sign};
//! let key = SigningKey::from_bytes(&[7; 32]);
//! let keyring = Keyring::with_keys([("k1".to_string(), key.verifying_key())], []);
//! let claims = Claims::issue("alice", vec!["kv:read:users/".into()], 1_000, 3_600);
//! let token = sign(&claims, &key, "k1");
//! let verified = keyring.verify(token.as_bytes(), 1_010, 5).unwrap();
//! assert_eq!(verified.sub, "alice");
//! assert!(verified.scopes.allows(Need::KvRead(b"users/7")));
//! assert!(!verified.scopes.allows(Need::KvWrite(b"users/7")));
//! ```

mod cache;
mod clients;
pub mod fuzzing;
mod keys;
mod scope;
mod token;

pub use cache::{CACHE_CAPACITY, TokenCache};
pub use clients::ClientScopes;
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use keys::{KeyError, Keyring, generate_keypair, key_id, load_signing_key};
pub use scope::{Glob, Need, Scope, ScopeError, Scopes};
pub use token::{Claims, MAX_TOKEN_LEN, Unverified, decode, new_jti, sign};

use std::fmt;

/// Why a presented token was refused. Its `Display` is for logs only: clients are told no more
/// than "invalid token" (HTTP 401 / stream `UNAUTHENTICATED`), whatever the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthError {
    /// Not a well-formed token: length, encoding, JSON, `alg`, or a missing claim.
    Malformed,
    /// Its `kid` names no key in the keyring.
    UnknownKey,
    /// The signature does not verify with the key its `kid` names.
    BadSignature,
    /// `exp` (plus the leeway) has passed.
    Expired,
    /// `iat` is later than now (plus the leeway).
    NotYetValid,
    /// Its `jti` is in the revocation file.
    Revoked,
    /// One of its scopes does not parse (signed by a key holder, but not something this
    /// server understands).
    BadScope,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::Malformed => "malformed token",
            AuthError::UnknownKey => "token signed by an unknown key (kid)",
            AuthError::BadSignature => "token signature does not verify",
            AuthError::Expired => "token expired",
            AuthError::NotYetValid => "token issued in the future (iat beyond the leeway)",
            AuthError::Revoked => "token revoked (jti in the revocation file)",
            AuthError::BadScope => "token carries a scope this server cannot parse",
        })
    }
}

impl std::error::Error for AuthError {}

/// What a verified token grants, as [`Keyring::verify`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The subject (`sub`): who the token was issued to; the key of `key=sub` rate limits.
    pub sub: String,
    /// The token's id (`jti`), for logs and revocation.
    pub jti: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// What it may do.
    pub scopes: Scopes,
    /// The key id it was signed under (for logs, and [`Keyring::still_valid`] after a reload).
    pub kid: String,
}
