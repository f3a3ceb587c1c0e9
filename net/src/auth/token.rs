//! The token's wire format: [`decode`] (pure: no crypto, no clock) and [`sign`].

use super::AuthError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};

/// The longest token accepted, in bytes (the stream protocol's AUTH frame has the same bound).
pub const MAX_TOKEN_LEN: usize = 4096;

/// The only algorithm accepted: Ed25519 (RFC 8037). Anything else, `none` included, is
/// [`AuthError::Malformed`].
const ALG: &str = "EdDSA";
/// The longest key id, in bytes.
pub(super) const MAX_KID_LEN: usize = 64;

/// The signed claims of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: who the token is for.
    pub sub: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
    /// Token id (32 hex digits from [`new_jti`]), the handle for revocation.
    pub jti: String,
    /// Scopes in their text form (`kv:read:users/`, `pub:orders.>`, `admin`, ...).
    pub scopes: Vec<String>,
}

impl Claims {
    /// Claims for `sub` with `scopes`, issued at `now` (Unix seconds) for `ttl_secs`, with a
    /// fresh random `jti`.
    pub fn issue(sub: &str, scopes: Vec<String>, now: u64, ttl_secs: u64) -> Claims {
        Claims {
            sub: sub.to_string(),
            iat: now,
            exp: now.saturating_add(ttl_secs),
            jti: new_jti(),
            scopes,
        }
    }
}

/// A fresh token id: 16 random bytes from the operating system, as 32 lowercase hex digits.
///
/// # Panics
/// If the operating system has no randomness to give (`getrandom` fails), which is not a
/// state to issue tokens in.
pub fn new_jti() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator");
    hex(&bytes)
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The protected header, as written by [`sign`].
#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// The protected header, as read: `typ` is optional (RFC 7519 §5.1), `crit` is refused
/// (no extension is understood), other members are ignored.
#[derive(Deserialize)]
struct HeaderIn {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    kid: String,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// A decoded token whose signature has not been checked: nothing in it can be trusted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified<'a> {
    /// The key id from the header.
    pub kid: String,
    /// The claims, as the token states them.
    pub claims: Claims,
    /// The bytes the signature covers: `b64url(header) "." b64url(claims)`.
    pub signing_input: &'a [u8],
    /// The Ed25519 signature.
    pub signature: [u8; 64],
}

/// Splits and decodes a token without any cryptography or clock: the length bound, three
/// unpadded base64url parts, a header with `alg` `EdDSA` and a usable `kid`, claims with every
/// required member, and a 64-byte signature. Everything else is [`AuthError::Malformed`].
pub fn decode(token: &[u8]) -> Result<Unverified<'_>, AuthError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::Malformed);
    }
    let mut parts = token.split(|&b| b == b'.');
    let (Some(header), Some(claims), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header: HeaderIn =
        serde_json::from_slice(&b64(header)?).map_err(|_| AuthError::Malformed)?;
    if header.alg != ALG
        || header.typ.as_deref().is_some_and(|t| t != "JWT")
        || header.crit.is_some()
        || !valid_kid(&header.kid)
    {
        return Err(AuthError::Malformed);
    }
    let claims_json = b64(claims)?;
    let claims: Claims = serde_json::from_slice(&claims_json).map_err(|_| AuthError::Malformed)?;
    let signature: [u8; 64] = b64(sig)?.try_into().map_err(|_| AuthError::Malformed)?;
    let signing_input = &token[..token.len() - sig.len() - 1];
    Ok(Unverified {
        kid: header.kid,
        claims,
        signing_input,
        signature,
    })
}

fn b64(part: &[u8]) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed)
}

/// A key id: 1 to 64 bytes of ASCII letters, digits, `-`, `_` and `.` (it is a file stem).
pub(super) fn valid_kid(kid: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Signs `claims` with `key` under the key id `kid` and returns the compact token. Scopes are
/// written as given: check them with [`super::Scope::parse`] first (the CLI does).
pub fn sign(claims: &Claims, key: &SigningKey, kid: &str) -> String {
    let header = HeaderOut {
        alg: ALG,
        typ: "JWT",
        kid,
    };
    let header = serde_json::to_vec(&header).expect("a header serializes");
    let claims = serde_json::to_vec(claims).expect("claims serialize");
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(claims, &mut token);
    let signature = key.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    fn claims() -> Claims {
        Claims {
            sub: "alice".into(),
            iat: 100,
            exp: 200,
            jti: "00112233445566778899aabbccddeeff".into(),
            scopes: vec!["kv:read:".into(), "pub:a.*".into()],
        }
    }

    fn part(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn decode_reads_back_what_sign_wrote() {
        let token = sign(&claims(), &key(), "k1");
        let u = decode(token.as_bytes()).unwrap();
        assert_eq!(u.kid, "k1");
        assert_eq!(u.claims, claims());
        let (input, _) = token.rsplit_once('.').unwrap();
        assert_eq!(u.signing_input, input.as_bytes());
        assert!(!token.contains('='), "no padding");
    }

    #[test]
    fn the_header_is_the_documented_one() {
        let token = sign(&claims(), &key(), "k1");
        let header = token.split('.').next().unwrap();
        let header = URL_SAFE_NO_PAD.decode(header).unwrap();
        assert_eq!(header, br#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = sign(&claims(), &key(), "k1");
        let (h, rest) = good.split_once('.').unwrap();
        let (c, s) = rest.split_once('.').unwrap();
        let claims_json = serde_json::to_string(&claims()).unwrap();
        let with_header = |json: &str| format!("{}.{c}.{s}", part(json));
        let cases = [
            String::new(),
            "a.b".into(),
            format!("{h}.{c}"),
            format!("{good}.x"),
            format!("{h}.{c}.{s}="),
            format!("{h}=.{c}.{s}"),
            format!("{h}.{c}.{}", &s[..s.len() - 2]),
            format!("{h}.{}.{s}", part("{}")),
            format!(
                "{h}.{}.{s}",
                part(&claims_json.replace("\"iat\":100", "\"iat\":-1"))
            ),
            format!(
                "{h}.{}.{s}",
                part(&claims_json.replace("\"sub\"", "\"who\""))
            ),
            with_header(r#"{"alg":"none","kid":"k1"}"#),
            with_header(r#"{"alg":"HS256","kid":"k1"}"#),
            with_header(r#"{"alg":"EdDSA"}"#),
            with_header(r#"{"alg":"EdDSA","kid":""}"#),
            with_header(r#"{"alg":"EdDSA","kid":"../etc/passwd"}"#),
            with_header(r#"{"alg":"EdDSA","kid":"k1","typ":"JOSE+JSON"}"#),
            with_header(r#"{"alg":"EdDSA","kid":"k1","crit":["exp"]}"#),
            with_header(r#"{"alg":"EdDSA","kid":"k1","kid":"k2"}"#),
            format!("{good}{}", "A".repeat(MAX_TOKEN_LEN)),
        ];
        for case in cases {
            assert_eq!(decode(case.as_bytes()), Err(AuthError::Malformed), "{case}");
        }
        // No typ, extra members: still a token.
        assert!(decode(with_header(r#"{"alg":"EdDSA","kid":"k1","x":1}"#).as_bytes()).is_ok());
    }

    #[test]
    fn jti_is_32_hex_digits_and_fresh() {
        let (a, b) = (new_jti(), new_jti());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        let c = Claims::issue("bob", vec![], 10, 3600);
        assert_eq!((c.iat, c.exp), (10, 3610));
    }
}
