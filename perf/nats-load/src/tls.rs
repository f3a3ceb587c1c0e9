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
        let (ca, name) = (self.tls_ca.as_deref(), self.tls_server_name.as_deref());
        perf_tls_client::from_flags(self.tls, ca, name, &[ALPN_STREAM])
    }
}
