//! The server side: one [`TlsServer`] per process, shared by all worker cores in an `Arc`.
//!
//! It holds two `rustls::ServerConfig`s built once, one per [`Alpn`] offer, which share
//! everything that must be process-wide:
//! - the certificate resolver, so [`TlsServer::reload`] switches both at once: new handshakes
//!   get the new certificate, connections already established keep theirs;
//! - the TLS 1.3 ticket key (`rustls::crypto::ring::Ticketer`, rotated by rustls every 6 hours
//!   and keeping the previous key to decrypt), so a ticket issued on one core resumes on any;
//! - the TLS 1.2 session-id cache.
//!
//! Versions are TLS 1.3 and 1.2 with the ring provider's default suites (all AEAD with ECDHE,
//! or TLS 1.3); no 0-RTT (`max_early_data_size = 0`: early data is replayable).

use super::{
    ALPN_HTTP, ALPN_STREAM,
    certs::{self, CertError, load_certified_key, load_roots},
    x509,
};
use rustls::{
    ServerConfig, ServerConnection,
    server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache, WebPkiClientVerifier},
    sign::CertifiedKey,
};
use std::{
    path::PathBuf,
    sync::{Arc, PoisonError, RwLock},
};

/// TLS 1.2 sessions remembered for session-id resumption, process-wide.
pub const SESSION_CACHE_ENTRIES: usize = 4096;

/// Where the server's TLS material comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// The certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// The certificate's private key, PEM.
    pub key: PathBuf,
    /// CA certificates (PEM) that sign client certificates. With it, a client *may* present a
    /// certificate (it is verified, and [`peer_identity`] names it); without one a client
    /// is never asked for one.
    pub client_ca: Option<PathBuf>,
}

/// Which application protocols a listener offers in ALPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alpn {
    /// The HTTP listener: `http/1.1`, and `ringwire-stream/1` so one TLS port can carry both.
    Http,
    /// The HTTP listener of a server with the stream protocol off: `http/1.1` only (a client
    /// asking for the stream protocol is refused in the handshake, not after it).
    HttpOnly,
    /// The stream protocol's listener: `ringwire-stream/1` only.
    Stream,
}

/// The process's TLS server configuration; `Send + Sync`, shared by all cores.
#[derive(Debug)]
pub struct TlsServer {
    settings: TlsSettings,
    resolver: Arc<Resolver>,
    http: Arc<ServerConfig>,
    stream: Arc<ServerConfig>,
    http_only: Arc<ServerConfig>,
}

impl TlsServer {
    /// Loads the certificate, key and client CA and builds the configurations.
    pub fn new(settings: &TlsSettings) -> Result<TlsServer, CertError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let resolver = Arc::new(Resolver {
            current: RwLock::new(load_certified_key(&settings.cert, &settings.key)?),
        });
        let verifier = match &settings.client_ca {
            Some(ca) => WebPkiClientVerifier::builder_with_provider(
                Arc::new(load_roots(ca)?),
                provider.clone(),
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| CertError::Setup {
                path: Some(ca.clone()),
                reason: format!("unusable as a client CA: {e}"),
            })?,
            None => WebPkiClientVerifier::no_client_auth(),
        };
        let setup = |e: rustls::Error| CertError::Setup {
            path: None,
            reason: e.to_string(),
        };
        let ticketer = rustls::crypto::ring::Ticketer::new().map_err(setup)?;
        let cache = ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
        let build = |alpn: &[&[u8]]| -> Result<Arc<ServerConfig>, CertError> {
            let mut config = ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(setup)?
                .with_client_cert_verifier(verifier.clone())
                .with_cert_resolver(resolver.clone());
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            config.ticketer = ticketer.clone();
            config.session_storage = cache.clone();
            config.max_early_data_size = 0;
            // The traffic secrets are what kTLS hands to the kernel after the handshake
            // (`dangerous_extract_secrets`); rustls refuses to extract them without this.
            config.enable_secret_extraction = true;
            Ok(Arc::new(config))
        };
        Ok(TlsServer {
            settings: settings.clone(),
            http: build(&[ALPN_HTTP, ALPN_STREAM])?,
            stream: build(&[ALPN_STREAM])?,
            http_only: build(&[ALPN_HTTP])?,
            resolver,
        })
    }

    /// The configuration for a listener offering `alpn`.
    pub fn config(&self, alpn: Alpn) -> Arc<ServerConfig> {
        match alpn {
            Alpn::Http => self.http.clone(),
            Alpn::Stream => self.stream.clone(),
            Alpn::HttpOnly => self.http_only.clone(),
        }
    }

    /// Loads the certificate and key files again and, if they are good, makes them the
    /// certificate of every new handshake. On an error the current certificate stays and the
    /// error names the file. The client CA is read once at start and is not reloaded.
    pub fn reload(&self) -> Result<(), CertError> {
        let key = load_certified_key(&self.settings.cert, &self.settings.key)?;
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = key;
        Ok(())
    }

    /// The certificate new handshakes get.
    pub fn current_certificate(&self) -> Arc<CertifiedKey> {
        self.resolver.current()
    }

    /// The current leaf certificate's `notAfter`, RFC 3339 (for logs and metrics).
    pub fn certificate_not_after(&self) -> Option<String> {
        certs::not_after(self.resolver.current().end_entity_cert().ok()?)
    }

    /// The files this server was built from.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }
}

/// Who a verified client certificate names: its subject's common name, else its first DNS
/// name. `None` when the client presented no certificate (only possible with a client CA,
/// and then rustls has verified any certificate presented before the handshake completes).
pub fn peer_identity(conn: &ServerConnection) -> Option<String> {
    let leaf = conn.peer_certificates()?.first()?;
    x509::parse(leaf).ok()?.identity()
}

/// The reloadable certificate, behind both configurations.
#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl Resolver {
    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
