//! The TLS client side of the perf load generators (`nats-load`, `redis-fanout`): a rustls
//! configuration (ring, TLS 1.3 and 1.2) trusting only the CA file given, the handshake, and a
//! connection that is plain or TLS. Each tool keeps its own `--tls` flags and their help.

use std::{io, path::Path, sync::Arc};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{
    TlsConnector,
    client::TlsStream,
    rustls::{
        ClientConfig, RootCertStore,
        pki_types::{CertificateDer, ServerName, pem::PemObject},
    },
};

/// How to reach a server over TLS: the rustls configuration and the name to check.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    server_name: Option<ServerName<'static>>,
}

/// The client the `--tls`, `--tls-ca FILE`, `--tls-server-name NAME` flags ask for: `None`
/// without `--tls`; `--tls` needs `--tls-ca`. Errors name the flag or the file.
pub fn from_flags(
    tls: bool,
    ca: Option<&Path>,
    server_name: Option<&str>,
    alpn: &[&[u8]],
) -> Result<Option<Tls>, String> {
    if !tls {
        return Ok(None);
    }
    let Some(ca) = ca else {
        return Err(
            "--tls needs --tls-ca FILE: the CA certificate (PEM) that signed the \
                    server's certificate (the system's roots are not used)"
                .into(),
        );
    };
    client(ca, server_name, alpn).map(Some)
}

/// A client trusting only the certificates in `ca` (PEM), offering `alpn`, checking
/// `server_name` (else the host each connection is made to). Errors name the flag or file.
pub fn client(ca: &Path, server_name: Option<&str>, alpn: &[&[u8]]) -> Result<Tls, String> {
    let mut roots = RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca).map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?
    {
        let cert = cert.map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "--tls-ca {}: no PEM certificate in it",
            ca.display()
        ));
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    let server_name = match server_name {
        Some(n) => Some(
            ServerName::try_from(n.to_string())
                .map_err(|e| format!("--tls-server-name {n:?}: {e}"))?,
        ),
        None => None,
    };
    Ok(Tls {
        connector: TlsConnector::from(Arc::new(config)),
        server_name,
    })
}

impl Tls {
    /// The TLS handshake on `tcp`, checking the certificate against `--tls-server-name` or
    /// else `host` (the host connected to).
    pub async fn connect(&self, tcp: TcpStream, host: &str) -> io::Result<TlsStream<TcpStream>> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => ServerName::try_from(host.to_string()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{host:?} is no TLS server name ({e}): give --tls-server-name"),
                )
            })?,
        };
        let shown = name.to_str().into_owned();
        self.connector.connect(name, tcp).await.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("TLS handshake (server name {shown}): {e}"),
            )
        })
    }
}

/// A connection, plain or TLS.
pub enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::from_flags;
    use std::path::Path;

    #[test]
    fn plain_without_tls() {
        assert!(from_flags(false, None, None, &[]).unwrap().is_none());
    }

    #[test]
    fn errors_name_the_flag_and_the_file() {
        let e = |ca: Option<&Path>| from_flags(true, ca, None, &[]).err().unwrap();
        assert!(e(None).contains("--tls-ca"));
        assert!(e(Some(Path::new("/nonexistent/ca.pem"))).contains("/nonexistent/ca.pem"));
        let empty = std::env::temp_dir().join(format!("perf-tls-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "no PEM here\n").unwrap();
        let got = e(Some(&empty));
        std::fs::remove_file(&empty).unwrap();
        assert!(got.contains("no PEM certificate"), "{got}");
    }
}
