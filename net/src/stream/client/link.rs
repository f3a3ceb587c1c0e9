//! The connection's byte link: the plain socket, or TLS over it ([`ClientTls`]). The reader
//! and writer tasks talk to this, so the protocol code is the same either way and the plain
//! path is the socket calls it always was.

use super::error::ClientError;
use crate::tls::{ALPN_STREAM, CertError, ClientTls, HandshakeError, client_config};
use bytes::BytesMut;
use ringwire_reactor::{buf::BufResult, net::TcpStream};
use rustls::{ClientConfig, pki_types::ServerName};
use std::{
    future::poll_fn,
    io,
    net::{Shutdown, SocketAddr},
    path::Path,
    sync::Arc,
    task::{Context, Poll},
};

/// TLS for a connection: the client configuration (trusted CA, ALPN, client certificate) and
/// the name the server's certificate must carry.
///
/// Offer ALPN `ringwire-stream/1` ([`crate::tls::ALPN_STREAM`]) to reach the stream protocol
/// directly on a TLS stream port or a TLS HTTP port; with [`Options::upgrade`], offer
/// `http/1.1` instead and the upgrade runs inside TLS.
///
/// [`Options::upgrade`]: super::Options::upgrade
#[derive(Clone)]
pub struct TlsOptions {
    /// From [`crate::tls::client_config`] or [`crate::tls::client_config_with_identity`];
    /// share one between connections so that sessions resume.
    pub config: Arc<ClientConfig>,
    /// The server's DNS name (sent as SNI) or IP address, as its certificate names it.
    pub server_name: String,
}

impl TlsOptions {
    /// Trusts the CAs in the PEM file `ca`, offers ALPN `ringwire-stream/1`, and expects a
    /// certificate for `server_name`.
    pub fn new(ca: &Path, server_name: impl Into<String>) -> Result<TlsOptions, CertError> {
        Ok(TlsOptions {
            config: client_config(ca, &[ALPN_STREAM])?,
            server_name: server_name.into(),
        })
    }
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let alpn: Vec<_> = self
            .config
            .alpn_protocols
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        f.debug_struct("TlsOptions")
            .field("server_name", &self.server_name)
            .field("alpn", &alpn)
            .finish()
    }
}

/// A connected socket, plain or with TLS over it.
pub(crate) enum Link {
    Plain(TcpStream),
    Tls(TcpStream, Box<ClientTls>),
}

impl Link {
    /// Runs the TLS handshake on `tcp` as `tls` says; errors say what to check.
    pub(crate) async fn tls(
        tcp: TcpStream,
        addr: SocketAddr,
        tls: &TlsOptions,
        upgrade: bool,
    ) -> io::Result<Link> {
        let name = ServerName::try_from(tls.server_name.clone()).map_err(|e| {
            refused(
                io::ErrorKind::InvalidInput,
                format!(
                    "{:?} is not a TLS server name ({e}): give a DNS name or an IP address",
                    tls.server_name
                ),
            )
        })?;
        let session = ClientTls::connect(&tcp, tls.config.clone(), name)
            .await
            .map_err(|e| handshake_error(e, addr, &tls.server_name))?;
        let alpn = session.negotiated().alpn.clone();
        match alpn.as_deref() {
            Some(p) if p == ALPN_STREAM && upgrade => {
                return Err(refused(
                    io::ErrorKind::InvalidInput,
                    "the server chose ALPN ringwire-stream/1, but the upgrade was asked for: \
                     offer http/1.1 to upgrade, or drop the upgrade"
                        .into(),
                ));
            }
            Some(p) if p != ALPN_STREAM && !upgrade => {
                return Err(refused(
                    io::ErrorKind::ConnectionRefused,
                    format!(
                        "the server at {addr} chose ALPN {:?}, not ringwire-stream/1 (offer \
                         ringwire-stream/1, or use the upgrade)",
                        String::from_utf8_lossy(p)
                    ),
                ));
            }
            _ => {}
        }
        Ok(Link::Tls(tcp, Box::new(session)))
    }

    /// Receives into `rx` (plaintext): `Ok(false)` at the end of the stream.
    pub(crate) async fn read(&self, rx: &mut BytesMut) -> io::Result<bool> {
        match self {
            Link::Plain(tcp) => match tcp.recv().await? {
                // Copied out at once so the reactor's buffer goes back to its pool (or the
                // kernel's ring) before the frames are even decoded.
                Some(buf) => {
                    rx.extend_from_slice(&buf);
                    Ok(true)
                }
                None => Ok(false),
            },
            Link::Tls(tcp, tls) => poll_fn(|cx| tls.poll_read(tcp, cx, rx))
                .await
                .map_err(alert_error),
        }
    }

    /// Writes all of `buf` (encrypted first over TLS).
    pub(crate) async fn write_all(&self, buf: Vec<u8>) -> BufResult<(), Vec<u8>> {
        match self {
            Link::Plain(tcp) => tcp.write_all(buf).await,
            Link::Tls(tcp, tls) => (tls.write_all(tcp, &buf).await, buf),
        }
    }

    /// Ready when TLS has records of its own to send (see [`Link::flush`]).
    pub(crate) fn poll_control(&self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            Link::Plain(_) => Poll::Pending,
            Link::Tls(_, tls) => tls.poll_pending(cx),
        }
    }

    /// Writes the records TLS produced while reading (a key-update answer, an alert).
    pub(crate) async fn flush(&self) -> io::Result<()> {
        match self {
            Link::Plain(_) => Ok(()),
            Link::Tls(tcp, tls) => tls.write_all(tcp, &[]).await,
        }
    }

    /// The end of this side: close_notify over TLS, then the socket's sending side.
    pub(crate) async fn shutdown(&self) -> io::Result<()> {
        match self {
            Link::Plain(tcp) => tcp.shutdown(Shutdown::Write).await,
            Link::Tls(tcp, tls) => tls.shutdown(tcp).await,
        }
    }
}

fn refused(kind: io::ErrorKind, message: String) -> io::Error {
    io::Error::new(kind, ClientError::new(None, message))
}

/// An alert from the server after the handshake in words that say what to check: in TLS 1.3
/// the server judges the client's certificate only after the client's side of the handshake
/// is done.
fn alert_error(e: io::Error) -> io::Error {
    use rustls::AlertDescription as A;
    let Some(rustls::Error::AlertReceived(alert)) =
        e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
    else {
        return e;
    };
    let hint = match alert {
        A::BadCertificate
        | A::UnknownCA
        | A::CertificateRequired
        | A::CertificateUnknown
        | A::CertificateExpired
        | A::CertificateRevoked
        | A::UnsupportedCertificate
        | A::AccessDenied => {
            " (it refused this client's certificate or wants one: is --tls-cert signed by the \
             CA the server trusts for clients, and valid now?)"
        }
        _ => "",
    };
    refused(
        io::ErrorKind::ConnectionAborted,
        format!("TLS: the server sent the alert {alert:?}{hint}"),
    )
}

/// A failed handshake in words that say what to check.
fn handshake_error(e: HandshakeError, addr: SocketAddr, name: &str) -> io::Error {
    let not_tls = "does the server speak TLS on that port? without TLS, connect without --tls";
    match e {
        HandshakeError::Tls(rustls::Error::InvalidCertificate(why)) => refused(
            io::ErrorKind::InvalidData,
            format!(
                "TLS: the server's certificate was refused: {why} (is it signed by the CA in \
                 --tls-ca, valid now, and issued for {name:?}? --tls-server-name sets the name \
                 checked)"
            ),
        ),
        HandshakeError::Tls(e @ rustls::Error::AlertReceived(_)) => refused(
            io::ErrorKind::ConnectionRefused,
            format!(
                "TLS: the server at {addr} refused the handshake: {e} (does it want a client \
                 certificate, or another ALPN protocol?)"
            ),
        ),
        HandshakeError::Tls(e) => refused(
            io::ErrorKind::InvalidData,
            format!("TLS handshake with {addr} failed: {e} ({not_tls})"),
        ),
        HandshakeError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => refused(
            io::ErrorKind::UnexpectedEof,
            format!("TLS handshake with {addr}: {e} ({not_tls})"),
        ),
        HandshakeError::Io(e) => refused(e.kind(), format!("TLS handshake with {addr}: {e}")),
    }
}
