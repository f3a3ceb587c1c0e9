//! `--tls`, `--tls-ca`, `--tls-server-name`: every connection to Redis speaks TLS (its
//! `--tls-port`; rustls with ring, TLS 1.3 and 1.2), trusting only the CA given, like
//! `redis-benchmark --tls --cacert FILE`.

use clap::Args;
use std::{io, path::PathBuf, sync::Arc};
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

#[derive(Args, Clone, Default)]
pub struct TlsArgs {
    /// Speak TLS to Redis (its --tls-port). Needs --tls-ca.
    #[arg(long)]
    tls: bool,
    /// CA certificate(s) (PEM) the server's certificate must chain to; the system's roots are
    /// not used.
    #[arg(long, value_name = "FILE", requires = "tls")]
    tls_ca: Option<PathBuf>,
    /// Name the server's certificate must carry, sent as SNI [default: the host of --addr].
    #[arg(long, value_name = "NAME", requires = "tls")]
    tls_server_name: Option<String>,
}

/// How to reach Redis over TLS: the checked flags and the rustls configuration.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    server_name: Option<ServerName<'static>>,
}

impl TlsArgs {
    /// `None` without `--tls`; errors name the flag or the file.
    pub fn load(&self) -> Result<Option<Tls>, String> {
        if !self.tls {
            return Ok(None);
        }
        let Some(ca) = &self.tls_ca else {
            return Err(
                "--tls needs --tls-ca FILE: the CA certificate (PEM) that signed the \
                        server's certificate (the system's roots are not used)"
                    .into(),
            );
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca)
            .map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?
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
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let server_name = match &self.tls_server_name {
            Some(n) => Some(
                ServerName::try_from(n.clone())
                    .map_err(|e| format!("--tls-server-name {n:?}: {e}"))?,
            ),
            None => None,
        };
        Ok(Some(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        }))
    }
}

impl Tls {
    /// The TLS handshake on `tcp`, checking the certificate against `--tls-server-name` or
    /// else `host` (the host of --addr).
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

/// A connection to Redis, plain or TLS.
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
    use super::TlsArgs;
    use std::path::PathBuf;

    #[test]
    fn plain_without_tls() {
        assert!(TlsArgs::default().load().unwrap().is_none());
    }

    #[test]
    fn errors_name_the_flag_and_the_file() {
        let mut a = TlsArgs {
            tls: true,
            ..TlsArgs::default()
        };
        assert!(a.load().err().unwrap().contains("--tls-ca"));
        a.tls_ca = Some(PathBuf::from("/nonexistent/ca.pem"));
        assert!(a.load().err().unwrap().contains("/nonexistent/ca.pem"));
        let empty =
            std::env::temp_dir().join(format!("redis-fanout-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "no PEM here\n").unwrap();
        a.tls_ca = Some(empty.clone());
        let e = a.load().err().unwrap();
        std::fs::remove_file(&empty).unwrap();
        assert!(e.contains("no PEM certificate"), "{e}");
    }
}
