//! `--tls`, `--tls-ca`, `--tls-server-name`: every connection to Redis speaks TLS (its
//! `--tls-port`; rustls with ring, TLS 1.3 and 1.2), trusting only the CA given, like
//! `redis-benchmark --tls --cacert FILE`.

use clap::Args;
use std::path::PathBuf;

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

pub use perf_tls_client::{Io, Tls};

impl TlsArgs {
    /// `None` without `--tls`; errors name the flag or the file.
    pub fn load(&self) -> Result<Option<Tls>, String> {
        let (ca, name) = (self.tls_ca.as_deref(), self.tls_server_name.as_deref());
        perf_tls_client::from_flags(self.tls, ca, name, &[])
    }
}
