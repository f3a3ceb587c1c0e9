//! `--tls`, `--tls-ca`, `--tls-server-name` of `fanout`: its `ringwire://` sides speak the
//! stream protocol over TLS (rustls with ring, TLS 1.3 and 1.2, ALPN `ringwire-stream/1`),
//! trusting only the CA given, like `ringwire bench-stream --tls`.

use clap::Args;
use std::path::PathBuf;

/// The stream protocol's ALPN name (docs/PROTOCOL.md): it lets a TLS HTTP port serve the
/// stream protocol too.
const ALPN_STREAM: &[u8] = b"ringwire-stream/1";

#[derive(Args, Clone, Default)]
pub struct TlsArgs {
    /// Speak TLS to every ringwire:// target (ALPN ringwire-stream/1). Needs --tls-ca.
    /// nats:// targets stay plain.
    #[arg(long)]
    tls: bool,
    /// CA certificate(s) (PEM) the server's certificate must chain to; the system's roots are
    /// not used.
    #[arg(long, value_name = "FILE", requires = "tls")]
    tls_ca: Option<PathBuf>,
    /// Name the server's certificate must carry, sent as SNI [default: the host of the
    /// ringwire:// target].
    #[arg(long, value_name = "NAME", requires = "tls")]
    tls_server_name: Option<String>,
}

pub use perf_tls_client::{Io, Tls};

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
        perf_tls_client::client(ca, self.tls_server_name.as_deref(), &[ALPN_STREAM]).map(Some)
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
            std::env::temp_dir().join(format!("nats-load-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "no PEM here\n").unwrap();
        a.tls_ca = Some(empty.clone());
        let e = a.load().err().unwrap();
        std::fs::remove_file(&empty).unwrap();
        assert!(e.contains("no PEM certificate"), "{e}");
    }
}
