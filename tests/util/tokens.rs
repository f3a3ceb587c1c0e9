//! Keys and tokens for the edge tests: key pairs made with net's own keygen into temp dirs, a
//! key directory to point `--auth-keys` at, tokens with chosen claims (expired, not yet
//! valid, signed by a key the server does not hold), and HTTP calls that present them.

use super::{Response, Server, read_response};
use ringwire_net::auth::{Claims, SigningKey, generate_keypair, load_signing_key, new_jti, sign};
use std::{
    io::{BufReader, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One Ed25519 key pair, its private half in a temp dir of its own.
pub struct Key {
    pub kid: String,
    key: SigningKey,
    /// The public key file (`<kid>.pub`), to copy into a server's key dir.
    pub public: PathBuf,
    _dir: tempfile::TempDir,
}

impl Key {
    pub fn new() -> Key {
        let dir = tempfile::tempdir().unwrap();
        let (kid, key_path, public) = generate_keypair(dir.path()).unwrap();
        let (loaded_kid, key) = load_signing_key(&key_path).unwrap();
        assert_eq!(kid, loaded_kid);
        Key {
            kid,
            key,
            public,
            _dir: dir,
        }
    }

    /// A token for `scopes`, issued now, valid for an hour.
    pub fn token(&self, scopes: &[&str]) -> String {
        self.token_at(scopes, now(), now() + 3600)
    }

    /// A token with these `iat` and `exp` (Unix seconds).
    pub fn token_at(&self, scopes: &[&str], iat: u64, exp: u64) -> String {
        self.sign(Claims {
            sub: "edge-test".into(),
            iat,
            exp,
            jti: new_jti(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Signs `claims` under this key's kid.
    pub fn sign(&self, claims: Claims) -> String {
        sign(&claims, &self.key, &self.kid)
    }

    /// Signs `claims` with this key but names `kid` in the header (a forged kid).
    pub fn sign_as(&self, claims: Claims, kid: &str) -> String {
        sign(&claims, &self.key, kid)
    }
}

/// The jti of a token (its claims decoded without checking anything).
pub fn jti_of(token: &str) -> String {
    ringwire_net::auth::decode(token.as_bytes())
        .expect("a well-formed token")
        .claims
        .jti
        .clone()
}

/// A directory of public keys for `--auth-keys`.
pub struct KeyDir {
    pub dir: tempfile::TempDir,
}

impl KeyDir {
    /// A dir holding the public halves of `keys`.
    pub fn with(keys: &[&Key]) -> KeyDir {
        let d = KeyDir {
            dir: tempfile::tempdir().unwrap(),
        };
        for k in keys {
            d.add(k);
        }
        d
    }

    pub fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    pub fn add(&self, key: &Key) {
        std::fs::copy(&key.public, self.file(key)).unwrap();
    }

    pub fn remove(&self, key: &Key) {
        std::fs::remove_file(self.file(key)).unwrap();
    }

    fn file(&self, key: &Key) -> PathBuf {
        self.dir.path().join(format!("{}.pub", key.kid))
    }
}

/// Writes `jtis` (one a line, after a comment) to `path`.
pub fn write_revoked(path: &Path, jtis: &[&str]) {
    let mut text = String::from("# revoked tokens\n\n");
    for j in jtis {
        text.push_str(j);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// One HTTP/1.1 request to `addr` with `Connection: close` and, if given, `Authorization:
/// Bearer <token>`.
pub fn call_at(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> Response {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(t) = token {
        r.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if !body.is_empty() || method == "PUT" || method == "POST" {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&bytes).unwrap();
    read_response(&mut BufReader::new(s), method == "HEAD")
        .unwrap_or_else(|| panic!("{method} {path}: no response"))
}

/// A request on the server's HTTP port.
pub fn call(s: &Server, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> Response {
    call_at(s.addr, method, path, token, body)
}

/// A request on the server's admin listener.
pub fn admin_call(s: &Server, method: &str, path: &str, token: Option<&str>) -> Response {
    call_at(s.admin.expect("admin on"), method, path, token, b"")
}

/// The status of `GET /kv/<key>` with `token` (the auth answer or the store's).
pub fn get_status(s: &Server, key: &str, token: &str) -> u16 {
    call(s, "GET", &format!("/kv/{key}"), Some(token), b"").status
}

/// Polls `f` until it is true, for at most 10 s (a reload is asynchronous).
pub fn eventually(what: &str, s: &Server, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "{what}: not within 10 s\n{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `ringwire_edge_denied_total{reason="<reason>"}` from the admin `/metrics`.
pub fn denied(s: &Server, reason: &str) -> f64 {
    let (status, text) = s.admin_get("/metrics");
    assert_eq!(status, 200, "{text}");
    let prefix = format!("ringwire_edge_denied_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// The code in an error answer's text body (`<code>: <message> (request <id>)`).
pub fn error_code(r: &Response) -> String {
    let body = String::from_utf8_lossy(&r.body);
    body.split(':')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// An error answer's body without its request id (which differs on every answer).
pub fn error_text(r: &Response) -> String {
    let body = String::from_utf8_lossy(&r.body).into_owned();
    match body.rfind(" (request ") {
        Some(at) => body[..at].to_string(),
        None => body,
    }
}
