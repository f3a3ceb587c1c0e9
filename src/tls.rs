//! TLS at start and on SIGHUP: the certificate loaded once for the process, the acceptors
//! each worker's listeners use, and the reload.

use crate::config::keys::TlsConfig;
use ringwire_net::tls::{Acceptor, Alpn, TlsServer};
use std::sync::Arc;

/// The process's TLS, if configured.
#[derive(Clone, Default)]
pub struct Tls {
    server: Option<Arc<TlsServer>>,
    http: Option<Acceptor>,
    stream: Option<Acceptor>,
}

/// Loads the certificate of `config` (nothing without `tls.cert`); the error names the file.
pub fn start(config: &TlsConfig, stream_enabled: bool) -> Result<Tls, String> {
    let Some(settings) = config.settings() else {
        return Ok(Tls::default());
    };
    let server = Arc::new(TlsServer::new(&settings).map_err(|e| format!("tls: {e}"))?);
    let acceptor =
        |alpn| Acceptor::new(server.config(alpn), config.handshake_timeout).with_ktls(config.ktls);
    let tls = Tls {
        http: config.http.then(|| {
            acceptor(if stream_enabled {
                Alpn::Http
            } else {
                Alpn::HttpOnly
            })
        }),
        stream: config.stream.then(|| acceptor(Alpn::Stream)),
        server: Some(server.clone()),
    };
    let on: Vec<&str> = [(config.http, "http"), (config.stream, "stream")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
    tracing::info!(
        "TLS on {} with {} (valid until {}){}",
        if on.is_empty() {
            "no listener".to_string()
        } else {
            on.join(" and ")
        },
        settings.cert.display(),
        server.certificate_not_after().unwrap_or_else(|| "?".into()),
        settings
            .client_ca
            .as_ref()
            .map(|ca| format!(", client certificates from {}", ca.display()))
            .unwrap_or_default(),
    );
    Ok(tls)
}

impl Tls {
    /// Whether a certificate is configured.
    pub fn is_on(&self) -> bool {
        self.server.is_some()
    }

    /// The acceptors of the HTTP listener and of the stream listener.
    pub fn acceptors(&self) -> (Option<Acceptor>, Option<Acceptor>) {
        (self.http.clone(), self.stream.clone())
    }

    /// SIGHUP: loads the certificate files again; a failure keeps the old certificate.
    pub fn reload(&self) {
        let Some(server) = &self.server else { return };
        match server.reload() {
            Ok(()) => tracing::info!(
                "SIGHUP: TLS certificate reloaded (valid until {})",
                server.certificate_not_after().unwrap_or_else(|| "?".into())
            ),
            Err(e) => {
                tracing::error!("SIGHUP: TLS certificate not reloaded, the old one stays: {e}")
            }
        }
    }
}
