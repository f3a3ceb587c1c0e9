//! A client-side TLS connection on the reactor: rustls's record layer over a [`TcpStream`],
//! for ringwire's own clients (the stream client library and the tools on it).
//!
//! rustls does all of TLS (handshake, records, alerts); this file only moves bytes between it
//! and the socket with the same owned-buffer calls the plain client uses. Unlike the server's
//! [`super::TlsState`], a client reads and writes from two tasks at once (its reader and its
//! writer), so:
//!
//! - no `RefCell` borrow is ever held across an await: each step borrows the rustls
//!   connection, encrypts or decrypts, and lets go before touching the socket;
//! - every ciphertext byte goes out through [`ClientTls::write_all`] (the writer task), in the
//!   order rustls produced it. Records rustls wants to send while *reading* (the answer to a
//!   key update, an alert) wait in `pending`, wake the writer ([`ClientTls::poll_pending`])
//!   and go out ahead of the next application data.

use super::records::{drain_tls, feed, handshake};
use super::stream::{HandshakeError, Negotiated};
use bytes::BytesMut;
use ringwire_reactor::net::TcpStream;
use rustls::{ClientConfig, ClientConnection, pki_types::ServerName};
use std::{
    cell::{Cell, RefCell},
    io::{self, Write},
    net::Shutdown,
    sync::Arc,
    task::{Context, Poll, Waker},
};

/// Plaintext encrypted per socket write at most, so a large batch never needs its whole
/// ciphertext in memory at once.
const WRITE_CHUNK: usize = 256 * 1024;

/// The TLS side of a client connection whose handshake is complete; the socket stays with the
/// caller, which passes it to each call.
pub struct ClientTls {
    conn: RefCell<ClientConnection>,
    /// Ciphertext rustls produced while reading, written before the next application data.
    pending: RefCell<Vec<u8>>,
    /// The writer waiting for `pending` to fill.
    writer: Cell<Option<Waker>>,
    /// Plaintext that arrived with the handshake's last flight, handed out first.
    early: RefCell<Vec<u8>>,
    /// The server sent close_notify or closed the socket.
    closed: Cell<bool>,
    negotiated: Negotiated,
}

impl ClientTls {
    /// Runs the client side of the handshake on `tcp` with `config`, verifying the server's
    /// certificate against `server_name` (a DNS name, sent as SNI, or an IP address). The
    /// caller bounds it in time.
    pub async fn connect(
        tcp: &TcpStream,
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    ) -> Result<ClientTls, HandshakeError> {
        let mut conn = ClientConnection::new(config, server_name).map_err(HandshakeError::Tls)?;
        let mut early = BytesMut::new();
        let peer_closed = handshake(tcp, &mut conn, &mut early, &mut Default::default()).await?;
        let negotiated = Negotiated::of(&conn, None);
        Ok(ClientTls {
            conn: RefCell::new(conn),
            pending: RefCell::new(Vec::new()),
            writer: Cell::new(None),
            early: RefCell::new(early.to_vec()),
            closed: Cell::new(peer_closed),
            negotiated,
        })
    }

    /// What the handshake negotiated.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// Receives from `tcp` and appends the plaintext to `out`: `Ok(true)` once something was
    /// appended, `Ok(false)` once the server has closed (close_notify or end of stream).
    pub fn poll_read(
        &self,
        tcp: &TcpStream,
        cx: &mut Context<'_>,
        out: &mut BytesMut,
    ) -> Poll<io::Result<bool>> {
        {
            let mut early = self.early.borrow_mut();
            if !early.is_empty() {
                out.extend_from_slice(&early);
                early.clear();
                return Poll::Ready(Ok(true));
            }
        }
        loop {
            if self.closed.get() {
                return Poll::Ready(Ok(false));
            }
            let bytes = match tcp.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(None)) => {
                    self.closed.set(true);
                    return Poll::Ready(Ok(false));
                }
                Poll::Ready(Ok(Some(bytes))) => bytes,
            };
            let before = out.len();
            let result = {
                let mut conn = self.conn.borrow_mut();
                let result = feed(&mut conn, &bytes, out);
                if conn.wants_write() {
                    drain_tls(&mut conn, &mut self.pending.borrow_mut());
                    if let Some(w) = self.writer.take() {
                        w.wake();
                    }
                }
                result
            };
            match result {
                Ok(closed) => {
                    self.closed.set(closed);
                    if out.len() > before {
                        return Poll::Ready(Ok(true));
                    }
                }
                Err(e) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
                }
            }
        }
    }

    /// Ready once records produced while reading wait to be written (with
    /// [`write_all`](Self::write_all) of nothing, or ahead of the next data).
    pub fn poll_pending(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.pending.borrow().is_empty() {
            self.writer.set(Some(cx.waker().clone()));
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// Encrypts `plain` and writes it, after anything pending, to `tcp`: one socket write per
    /// 256 KiB of plaintext at most. An empty `plain` writes only what is pending.
    pub async fn write_all(&self, tcp: &TcpStream, plain: &[u8]) -> io::Result<()> {
        let mut at = 0;
        loop {
            let out = {
                let mut conn = self.conn.borrow_mut();
                let mut out = std::mem::take(&mut *self.pending.borrow_mut());
                let end = plain.len().min(at + WRITE_CHUNK);
                while at < end {
                    let n = conn.writer().write(&plain[at..end])?;
                    at += n;
                    // rustls's buffer was full (n short of the rest): take what it sealed.
                    drain_tls(&mut conn, &mut out);
                    if n == 0 {
                        break; // write what there is, then go on
                    }
                }
                drain_tls(&mut conn, &mut out);
                out
            };
            if !out.is_empty() {
                let (res, _) = tcp.write_all(out).await;
                res?;
            }
            if at >= plain.len() {
                return Ok(());
            }
        }
    }

    /// Sends close_notify (after anything pending) and shuts the socket's sending side down.
    pub async fn shutdown(&self, tcp: &TcpStream) -> io::Result<()> {
        let out = {
            let mut conn = self.conn.borrow_mut();
            conn.send_close_notify();
            let mut out = std::mem::take(&mut *self.pending.borrow_mut());
            drain_tls(&mut conn, &mut out);
            out
        };
        if !out.is_empty() {
            let (res, _) = tcp.write_all(out).await;
            res?;
        }
        tcp.shutdown(Shutdown::Write).await
    }
}

#[cfg(test)]
#[path = "client_stream_tests.rs"]
mod tests;
