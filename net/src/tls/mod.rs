//! TLS for both protocols, with rustls and its ring provider (rustls does all of TLS: this
//! module never touches cryptography or records).
//!
//! - [`load_certified_key`], [`load_roots`]: certificate chains, private keys and CA files from PEM, with errors that name
//!   the file ([`CertError`]).
//! - [`TlsServer`]: the process-wide server configurations (one per [`Alpn`] offer), with a
//!   reloadable certificate, shared ticket key and session cache, optional client
//!   certificates ([`peer_identity`]).
//! - [`client_config`]: configurations for ringwire's own clients, trusting only a CA file.
//! - [`ClientTls`]: a client connection's record layer on the reactor (the stream client's).
//! - [`ktls_support`]: whether the kernel offers kTLS, or why not; [`KernelTls`]: a
//!   connection whose records the kernel runs after [`to_kernel`] switched it (Linux).
//! - [`TlsState`]: a server connection's record layer on the reactor, [`Acceptor`]: a
//!   listener's handshakes under a deadline, counted in [`TlsSnapshot`].

mod accept;
mod certs;
mod client;
mod client_stream;
pub mod fuzzing;
#[cfg(target_os = "linux")]
mod kernel;
mod ktls;
mod records;
mod server;
mod stats;
mod stream;
mod x509;

pub use accept::{Acceptor, HANDSHAKE_TIMEOUT, KTLS_ATTEMPT_ENV, KTLS_PAUSE_ENV};
pub(crate) use stats::TlsCounters;
pub use stats::{HandshakeResult, TlsMode, TlsSnapshot};
pub use stream::{HandshakeError, Negotiated, TlsState};

pub use certs::{CertError, load_certified_key, load_roots};
pub use client::{client_config, client_config_with_identity};
pub use client_stream::ClientTls;
#[cfg(target_os = "linux")]
pub use kernel::{KernelTls, Switch, to_kernel};
pub use ktls::{TCP_AVAILABLE_ULP, ktls_support, ktls_support_at};
pub use server::{Alpn, SESSION_CACHE_ENTRIES, TlsServer, TlsSettings, peer_identity};

/// The ALPN protocol id of HTTP/1.1.
pub const ALPN_HTTP: &[u8] = b"http/1.1";
/// The ALPN protocol id of ringwire's stream protocol.
pub const ALPN_STREAM: &[u8] = b"ringwire-stream/1";

#[cfg(test)]
pub(crate) mod test_pki;
