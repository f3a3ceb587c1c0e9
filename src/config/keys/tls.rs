//! Keys of TLS (`tls.*`): the certificate, which listeners use it, client certificates and
//! the handshake's time limit (docs/SECURITY.md, "TLS").

use super::{Key, Kind, opt_text, positive};
use crate::config::values;
use std::{path::PathBuf, time::Duration};

/// `tls.*`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    /// PEM certificate chain (leaf first).
    pub cert: Option<PathBuf>,
    /// PEM private key of the leaf.
    pub key: Option<PathBuf>,
    /// PEM CA whose client certificates are accepted (optional for clients).
    pub client_ca: Option<PathBuf>,
    /// The HTTP listener speaks TLS.
    pub http: bool,
    /// The stream protocol's own listener speaks TLS.
    pub stream: bool,
    /// Time a client has to complete its handshake.
    pub handshake_timeout: Duration,
    /// Hand the record layer to the kernel after the handshake where it offers kTLS.
    pub ktls: bool,
}

impl TlsConfig {
    /// The certificate files, when TLS is configured.
    pub fn settings(&self) -> Option<ringwire_net::tls::TlsSettings> {
        Some(ringwire_net::tls::TlsSettings {
            cert: self.cert.clone()?,
            key: self.key.clone()?,
            client_ca: self.client_ca.clone(),
        })
    }

    /// A cross-key problem, named by its key (`client_scopes`: `tls.client_scopes` is set).
    pub fn check(&self, client_scopes: bool) -> Result<(), (&'static str, String)> {
        if client_scopes && self.client_ca.is_none() {
            return Err((
                "tls.client_scopes",
                "client-certificate scopes need tls.client_ca (the CA that verifies them)".into(),
            ));
        }
        match (&self.cert, &self.key) {
            (Some(_), None) => Err((
                "tls.key",
                "tls.cert is set: give its private key too".into(),
            )),
            (None, Some(_)) => Err((
                "tls.cert",
                "tls.key is set: give its certificate too".into(),
            )),
            (None, None) if self.client_ca.is_some() => Err((
                "tls.client_ca",
                "client certificates need TLS: set tls.cert and tls.key".into(),
            )),
            _ => Ok(()),
        }
    }
}

pub static KEYS: &[Key] = &[
    Key {
        name: "tls.cert",
        flag: "tls-cert",
        kind: Kind::Text,
        default: "",
        help: "PEM certificate chain (the leaf first) for the listeners in tls.listeners; with tls.key, they speak TLS 1.3 and 1.2 only (never plain and TLS on one port). Reloaded on SIGHUP: new connections get the new certificate, open ones keep theirs; a file that does not load keeps the old one.",
        set: |s, v| {
            s.tls.cert = opt_text(v).map(PathBuf::from);
            Ok(())
        },
        get: |s| path(&s.tls.cert),
    },
    Key {
        name: "tls.key",
        flag: "tls-key",
        kind: Kind::Text,
        default: "",
        help: "PEM private key (PKCS#8, PKCS#1 or SEC1; RSA, ECDSA or Ed25519) of tls.cert's leaf. Reloaded with it.",
        set: |s, v| {
            s.tls.key = opt_text(v).map(PathBuf::from);
            Ok(())
        },
        get: |s| path(&s.tls.key),
    },
    Key {
        name: "tls.client_ca",
        flag: "tls-client-ca",
        kind: Kind::Text,
        default: "",
        help: "PEM CA file: clients may present a certificate it signed (optional; a client without one is still served and needs a token where one is required). Read at start only.",
        set: |s, v| {
            s.tls.client_ca = opt_text(v).map(PathBuf::from);
            Ok(())
        },
        get: |s| path(&s.tls.client_ca),
    },
    Key {
        name: "tls.client_scopes",
        flag: "tls-client-scopes",
        kind: Kind::Text,
        default: "",
        help: "File of client-certificate identities and their scopes, one per line: `IDENTITY SCOPE...` (# comments). A client whose certificate (verified against tls.client_ca) names a listed identity (subject CN, else its first DNS name) may do what those scopes allow without a token; a token, when presented, decides instead. Reloaded on SIGHUP with the auth keys.",
        set: |s, v| {
            s.edge.client_scopes = opt_text(v).map(PathBuf::from);
            Ok(())
        },
        get: |s| path(&s.edge.client_scopes),
    },
    Key {
        name: "tls.listeners",
        flag: "tls-listeners",
        kind: Kind::Text,
        default: "http,stream",
        help: "Which listeners speak TLS once tls.cert is set: `http` (its port also serves the stream protocol to clients whose ALPN asks for ringwire-stream/1), `stream` (the stream protocol's own port), both, or `none`.",
        set: |s, v| {
            let (mut http, mut stream) = (false, false);
            for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match part {
                    "http" => http = true,
                    "stream" => stream = true,
                    "none" => {}
                    other => {
                        return Err(format!(
                            "unknown listener `{other}` (expected http, stream or none)"
                        ));
                    }
                }
            }
            s.tls.http = http;
            s.tls.stream = stream;
            Ok(())
        },
        get: |s| {
            match (s.tls.http, s.tls.stream) {
                (true, true) => "http,stream",
                (true, false) => "http",
                (false, true) => "stream",
                (false, false) => "none",
            }
            .to_string()
        },
    },
    Key {
        name: "tls.handshake_timeout",
        flag: "tls-handshake-timeout",
        kind: Kind::Text,
        default: "10s",
        help: "Time a client has from connecting to completing its TLS handshake; a slower one is closed (counted in ringwire_tls_handshakes_total{result=\"timeout\"}).",
        set: |s, v| {
            s.tls.handshake_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.tls.handshake_timeout),
    },
    Key {
        name: "tls.ktls",
        flag: "tls-ktls",
        kind: Kind::Bool,
        default: "true",
        help: "After each handshake, hand the connection's TLS records to the kernel (kTLS) where it offers the `tls` ULP (/proc/sys/net/ipv4/tcp_available_ulp), so writes and sendfile are the socket's own and files stay zero-copy; otherwise rustls encrypts in user space and the log says why, once per core. false: always user space. Read at start only.",
        set: |s, v| {
            s.tls.ktls = values::boolean(v)?;
            Ok(())
        },
        get: |s| s.tls.ktls.to_string(),
    },
];

fn path(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}
