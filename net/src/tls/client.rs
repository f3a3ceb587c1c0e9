//! The client side, for ringwire's own clients (the stream client library, `ringwire client`,
//! `bench-stream`, `perf/` tools): the server is trusted only through the CA file given
//! (`--tls-ca FILE`); the system's roots are never loaded.

use super::certs::{CertError, load_certified_key, load_roots};
use rustls::{
    ClientConfig, SignatureScheme, client::ResolvesClientCert, crypto::CryptoProvider,
    sign::CertifiedKey,
};
use std::{path::Path, sync::Arc};

/// A client configuration trusting only the CAs in `ca` (PEM), offering `alpn` in order,
/// TLS 1.3 and 1.2, with the ring provider. Sessions resume (tickets or ids) within this
/// configuration: share the returned `Arc` between connections.
pub fn client_config(ca: &Path, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, CertError> {
    build(ca, alpn, None)
}

/// [`client_config`] that also presents the certificate `cert` with its key `key` (PEM) when
/// the server asks for one (client-certificate authentication).
pub fn client_config_with_identity(
    ca: &Path,
    alpn: &[&[u8]],
    cert: &Path,
    key: &Path,
) -> Result<Arc<ClientConfig>, CertError> {
    build(ca, alpn, Some(load_certified_key(cert, key)?))
}

fn build(
    ca: &Path,
    alpn: &[&[u8]],
    identity: Option<Arc<CertifiedKey>>,
) -> Result<Arc<ClientConfig>, CertError> {
    let roots = load_roots(ca)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| CertError::Setup {
            path: None,
            reason: e.to_string(),
        })?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(key) => builder.with_client_cert_resolver(Arc::new(Identity(key))),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // kTLS on the client side needs the traffic secrets too.
    config.enable_secret_extraction = true;
    Ok(Arc::new(config))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Always offers the one client certificate.
#[derive(Debug)]
struct Identity(Arc<CertifiedKey>);

impl ResolvesClientCert for Identity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        // rustls requires the key to sign with one of the server's schemes.
        self.0.key.choose_scheme(sigschemes).map(|_| self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
