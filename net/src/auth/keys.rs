//! Key files and the server's keyring: `keygen`, loading a signing key for `issue`, and
//! [`Keyring`] (every `*.pub` of a directory plus the revocation file) with [`Keyring::verify`].

use super::token::{decode, hex, valid_kid};
use super::{AuthError, Scopes, Verified};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A key or revocation file that could not be used; the message names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// The file (or directory) at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl KeyError {
    fn new(path: &Path, reason: impl fmt::Display) -> KeyError {
        KeyError {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for KeyError {}

/// The key id `keygen` gives a key: the first 8 bytes of SHA-256 of the 32-byte public key,
/// as 16 lowercase hex digits.
pub fn key_id(key: &VerifyingKey) -> String {
    hex(&Sha256::digest(key.as_bytes())[..8])
}

/// Makes a new Ed25519 key pair in `dir` (created with mode 0700 if missing):
/// `<kid>.key` (PKCS#8 PEM, mode 0600) and `<kid>.pub` (SPKI PEM, mode 0644). Returns the kid
/// and the two paths. Never overwrites a file.
pub fn generate_keypair(dir: &Path) -> io::Result<(String, PathBuf, PathBuf)> {
    let context = |path: &Path| {
        let path = path.display().to_string();
        move |e: io::Error| io::Error::new(e.kind(), format!("{path}: {e}"))
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(context(dir))?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
    let key = SigningKey::from_bytes(&secret);
    secret.fill(0);
    let kid = key_id(&key.verifying_key());
    // RFC 8410's form, without the optional public key (PKCS#8 v2), which OpenSSL 3.0 cannot
    // read: `openssl genpkey -algorithm ed25519` writes the same.
    let pair = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    let private = pair
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| io::Error::other(format!("encoding the private key: {e}")))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| io::Error::other(format!("encoding the public key: {e}")))?;
    let key_path = dir.join(format!("{kid}.key"));
    let pub_path = dir.join(format!("{kid}.pub"));
    write_new(&key_path, private.as_bytes(), 0o600).map_err(context(&key_path))?;
    write_new(&pub_path, public.as_bytes(), 0o644).map_err(context(&pub_path))?;
    Ok((kid, key_path, pub_path))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The kid a key file stands for: its stem, which must be a valid kid.
fn kid_of(path: &Path) -> Result<String, KeyError> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| valid_kid(s))
        .map(str::to_string)
        .ok_or_else(|| {
            KeyError::new(
                path,
                "the file name (the key id) must be 1 to 64 ASCII letters, digits, '-', '_' or '.'",
            )
        })
}

/// Reads a private key written by [`generate_keypair`] (PKCS#8 PEM); the kid is the file stem.
pub fn load_signing_key(path: &Path) -> Result<(String, SigningKey), KeyError> {
    let kid = kid_of(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| KeyError::new(path, e))?;
    let key = SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        KeyError::new(
            path,
            format!("not an Ed25519 private key in PKCS#8 PEM: {e}"),
        )
    })?;
    Ok((kid, key))
}

/// The public keys a server accepts, by kid, and the revoked token ids. Immutable: a reload
/// builds a new one (share it in an `Arc`; it is `Send + Sync`).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: HashMap<String, VerifyingKey>,
    revoked: HashSet<String>,
}

impl Keyring {
    /// Reads every `*.pub` file in `dir` (SPKI PEM; kid = file stem; other files are ignored)
    /// and, if given, the revocation file (one jti per line; `#` starts a comment; blank lines
    /// are ignored). Errors name the file: an unreadable directory or file, a bad key, no
    /// `.pub` at all, a missing revocation file.
    pub fn load(dir: &Path, revoked: Option<&Path>) -> Result<Keyring, KeyError> {
        let entries = std::fs::read_dir(dir).map_err(|e| KeyError::new(dir, e))?;
        let mut keys = HashMap::new();
        for entry in entries {
            let path = entry.map_err(|e| KeyError::new(dir, e))?.path();
            if path.extension().is_none_or(|e| e != "pub") || path.is_dir() {
                continue;
            }
            let kid = kid_of(&path)?;
            let text = std::fs::read_to_string(&path).map_err(|e| KeyError::new(&path, e))?;
            let key = VerifyingKey::from_public_key_pem(&text).map_err(|e| {
                KeyError::new(&path, format!("not an Ed25519 public key in SPKI PEM: {e}"))
            })?;
            keys.insert(kid, key);
        }
        if keys.is_empty() {
            return Err(KeyError::new(
                dir,
                "no public key (*.pub) in the auth keys directory; make one with `ringwire token keygen --out DIR`",
            ));
        }
        let revoked = match revoked {
            Some(file) => read_revoked(file)?,
            None => HashSet::new(),
        };
        Ok(Keyring { keys, revoked })
    }

    /// A keyring from keys in memory (tests, benchmarks).
    pub fn with_keys(
        keys: impl IntoIterator<Item = (String, VerifyingKey)>,
        revoked: impl IntoIterator<Item = String>,
    ) -> Keyring {
        Keyring {
            keys: keys.into_iter().collect(),
            revoked: revoked.into_iter().collect(),
        }
    }

    /// Whether it holds no key (then every token is [`AuthError::UnknownKey`]).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// How many token ids are revoked.
    pub fn revoked_len(&self) -> usize {
        self.revoked.len()
    }

    /// Checks a presented token at `now` (Unix seconds), allowing `leeway_secs` of clock skew,
    /// in this order: decode, kid known, signature (strict Ed25519), `exp + leeway > now`,
    /// `iat <= now + leeway`, jti not revoked, scopes parse.
    pub fn verify(
        &self,
        token: &[u8],
        now_unix_secs: u64,
        leeway_secs: u64,
    ) -> Result<Verified, AuthError> {
        let u = decode(token)?;
        let key = self.keys.get(&u.kid).ok_or(AuthError::UnknownKey)?;
        key.verify_strict(u.signing_input, &Signature::from_bytes(&u.signature))
            .map_err(|_| AuthError::BadSignature)?;
        let c = u.claims;
        if c.exp.saturating_add(leeway_secs) <= now_unix_secs {
            return Err(AuthError::Expired);
        }
        if c.iat > now_unix_secs.saturating_add(leeway_secs) {
            return Err(AuthError::NotYetValid);
        }
        if self.revoked.contains(&c.jti) {
            return Err(AuthError::Revoked);
        }
        let scopes = Scopes::parse_all(&c.scopes).map_err(|_| AuthError::BadScope)?;
        Ok(Verified {
            sub: c.sub,
            jti: c.jti,
            exp: c.exp,
            scopes,
            kid: u.kid,
        })
    }

    /// Whether a token verified earlier (perhaps by another keyring generation) would still
    /// pass this keyring's key and revocation checks: its key is still here and its jti is not
    /// revoked. Expiry is the caller's to check against its clock.
    pub fn still_valid(&self, verified: &Verified) -> bool {
        self.keys.contains_key(&verified.kid) && !self.revoked.contains(&verified.jti)
    }
}

fn read_revoked(file: &Path) -> Result<HashSet<String>, KeyError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| KeyError::new(file, format!("revocation file: {e}")))?;
    let mut revoked = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.contains(char::is_whitespace) {
            return Err(KeyError::new(
                file,
                format!("line {}: one token id (jti) per line", n + 1),
            ));
        }
        revoked.insert(line.to_string());
    }
    Ok(revoked)
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
