//! A server-side TLS connection on the reactor: rustls's record layer over a [`TcpStream`].
//!
//! rustls does all of TLS (handshake, records, alerts); this file only moves bytes between it
//! and the socket, with the same owned-buffer calls the plain connection loops use. Reads and
//! writes come from one connection task at a time (the loops never read and write at once),
//! and no `RefCell` borrow is held across an await.
//!
//! - Receiving decrypts everything that arrived and hands the plaintext out as one
//!   [`RecvBuf`]; records that carry no application data (tickets, key updates) are consumed
//!   and the receive goes on.
//! - Writing encrypts the whole buffer into one ciphertext buffer and writes it with one call,
//!   so a pipelined burst stays one write.
//! - Files are read from the page cache into memory, encrypted and written in pieces
//!   (user-space TLS cannot `sendfile`; kTLS is what makes that zero-copy again).
//! - Anything rustls has to say while reading (an alert before an error, a key-update answer)
//!   waits in `pending` and goes out before the next write or at shutdown.

use super::records::{RecordCursor, drain_tls, feed, handshake, take_early};
use ringwire_reactor::{
    buf::{BufResult, IoBuf, RecvBuf},
    net::TcpStream,
};
use rustls::{HandshakeKind, ProtocolVersion, ServerConfig, ServerConnection};
use std::{
    cell::{Cell, RefCell},
    io::{self, Write},
    net::Shutdown,
    os::unix::fs::FileExt,
    rc::Rc,
    sync::Arc,
    task::{Context, Poll},
};

/// Bytes of a file read, encrypted and written at a time: four full TLS records.
const FILE_CHUNK: usize = 64 * 1024;
/// A ciphertext buffer up to this size is kept for the connection's next write; a larger one
/// (a big body) is freed, so an idle connection holds little.
const SPARE_MAX: usize = 16 * 1024;
/// Plaintext encrypted per socket write at most, so a large body never needs its whole
/// ciphertext in memory at once (rustls's own 64 KiB limit on unsent records is the same).
const WRITE_CHUNK: usize = 64 * 1024;

/// A handshake that did not complete.
#[derive(Debug)]
pub enum HandshakeError {
    /// The client broke the protocol (rustls's reason; the client was sent an alert).
    Tls(rustls::Error),
    /// The socket failed or the client closed it.
    Io(io::Error),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            HandshakeError::Io(e) => write!(f, "TLS handshake: {e}"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// What a completed handshake negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The ALPN protocol, if the client offered one that matched.
    pub alpn: Option<Vec<u8>>,
    /// TLS 1.3 or 1.2.
    pub version: Option<ProtocolVersion>,
    /// Whether the session was resumed (a ticket or a session id).
    pub resumed: bool,
    /// The client certificate's identity (subject CN, else its first DNS name), when the
    /// client presented one that the configured client CA verified.
    pub identity: Option<Rc<str>>,
}

impl Negotiated {
    /// What `conn`'s completed handshake agreed on; `identity`: the peer's verified identity.
    pub(super) fn of<D>(conn: &rustls::ConnectionCommon<D>, identity: Option<Rc<str>>) -> Self {
        Negotiated {
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            version: conn.protocol_version(),
            resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
            identity,
        }
    }
}

/// The TLS side of a connection whose handshake is complete; the socket stays with the
/// [`crate::transport::Transport`] that owns both, so switching a plain connection to TLS
/// moves nothing.
pub struct TlsState {
    conn: RefCell<ServerConnection>,
    /// Ciphertext rustls produced while reading, written before the next application data.
    pending: RefCell<Vec<u8>>,
    /// The last write's ciphertext buffer, emptied, for the next write (kept while small).
    spare: RefCell<Vec<u8>>,
    /// Plaintext decrypted during the handshake's last flight, handed out first.
    early: RefCell<Vec<u8>>,
    /// The peer sent close_notify or closed the socket.
    closed: Cell<bool>,
    /// A write of ciphertext did not complete (dropped at a deadline, or failed): records
    /// may be cut on the wire, so nothing more is written.
    broken: Cell<bool>,
    negotiated: Negotiated,
    /// Where the records received so far stand (for a switch to kTLS right after the
    /// handshake; not kept up to date afterwards).
    cursor: RecordCursor,
}

/// A [`TlsState`] taken apart (see [`TlsState::into_parts`]).
pub(super) struct Parts {
    pub(super) conn: ServerConnection,
    pub(super) pending: Vec<u8>,
    pub(super) early: Vec<u8>,
    pub(super) closed: bool,
    pub(super) broken: bool,
    pub(super) negotiated: Negotiated,
    pub(super) cursor: RecordCursor,
}

impl TlsState {
    /// Runs the server side of the handshake on `tcp`. The caller bounds it in time (a client
    /// that stalls mid-handshake must not hold the connection).
    pub async fn accept(
        tcp: &TcpStream,
        config: Arc<ServerConfig>,
    ) -> Result<TlsState, HandshakeError> {
        let mut conn = ServerConnection::new(config).map_err(HandshakeError::Tls)?;
        let mut early = Vec::new();
        let mut cursor = RecordCursor::default();
        let peer_closed = handshake(tcp, &mut conn, &mut early, &mut cursor).await?;
        let negotiated = Negotiated::of(&conn, super::peer_identity(&conn).map(Rc::from));
        Ok(TlsState {
            conn: RefCell::new(conn),
            pending: RefCell::new(Vec::new()),
            spare: RefCell::new(Vec::new()),
            early: RefCell::new(early),
            closed: Cell::new(peer_closed),
            broken: Cell::new(false),
            negotiated,
            cursor,
        })
    }

    /// The parts a switch to kTLS takes over: the connection, what it still has to send, the
    /// plaintext not yet handed out, whether the peer closed, what was negotiated, and where
    /// the received records stand (valid only right after the handshake).
    pub(super) fn into_parts(self) -> Parts {
        Parts {
            conn: self.conn.into_inner(),
            pending: self.pending.into_inner(),
            early: self.early.into_inner(),
            closed: self.closed.get(),
            broken: self.broken.get(),
            negotiated: self.negotiated,
            cursor: self.cursor,
        }
    }

    /// Back from [`Parts`], for a connection that stays in user space.
    pub(super) fn from_parts(p: Parts) -> TlsState {
        TlsState {
            conn: RefCell::new(p.conn),
            pending: RefCell::new(p.pending),
            spare: RefCell::new(Vec::new()),
            early: RefCell::new(p.early),
            closed: Cell::new(p.closed),
            broken: Cell::new(p.broken),
            negotiated: p.negotiated,
            cursor: p.cursor,
        }
    }

    /// What the handshake negotiated.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// Runs `f` on the rustls connection (for the peer's certificate, say).
    pub fn with_connection<R>(&self, f: impl FnOnce(&ServerConnection) -> R) -> R {
        f(&self.conn.borrow())
    }

    /// Decrypted bytes from `tcp`, `Ok(None)` once the peer has closed (close_notify or end
    /// of stream).
    pub fn poll_recv(
        &self,
        tcp: &TcpStream,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<RecvBuf>>> {
        if let Some(early) = take_early(&self.early) {
            return Poll::Ready(Ok(Some(early)));
        }
        loop {
            if self.closed.get() {
                return Poll::Ready(Ok(None));
            }
            let bytes = match tcp.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(None)) => {
                    self.closed.set(true);
                    return Poll::Ready(Ok(None));
                }
                Poll::Ready(Ok(Some(bytes))) => bytes,
            };
            let mut plain = Vec::new();
            let mut conn = self.conn.borrow_mut();
            let result = feed(&mut conn, &bytes, &mut plain);
            if conn.wants_write() {
                drain_tls(&mut conn, &mut self.pending.borrow_mut());
            }
            match result {
                Ok(closed) => {
                    if closed {
                        self.closed.set(true);
                    }
                    if !plain.is_empty() {
                        return Poll::Ready(Ok(Some(RecvBuf::from(plain))));
                    }
                }
                Err(e) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
                }
            }
        }
    }

    /// Encrypts and writes all of `buf` to `tcp`.
    pub async fn write_all<B: IoBuf + AsRef<[u8]>>(
        &self,
        tcp: &TcpStream,
        buf: B,
    ) -> BufResult<(), B> {
        let res = self.write_plain(tcp, &[buf.as_ref()]).await;
        (res, buf)
    }

    /// Encrypts and writes all of `bufs`, in order, with one socket write per piece of at most
    /// [`WRITE_CHUNK`] plaintext bytes.
    pub async fn writev_all<B: IoBuf + AsRef<[u8]>>(
        &self,
        tcp: &TcpStream,
        bufs: Vec<B>,
    ) -> BufResult<(), Vec<B>> {
        let slices: Vec<&[u8]> = bufs.iter().map(AsRef::as_ref).collect();
        let res = self.write_plain(tcp, &slices).await;
        drop(slices);
        (res, bufs)
    }

    /// Sends `len` bytes of `file` from `offset`: read from the page cache, encrypted, written.
    pub async fn sendfile(
        &self,
        tcp: &TcpStream,
        file: &Rc<std::fs::File>,
        offset: u64,
        len: u64,
    ) -> io::Result<u64> {
        let mut chunk = vec![0u8; FILE_CHUNK.min(usize::try_from(len).unwrap_or(FILE_CHUNK))];
        let mut done = 0u64;
        while done < len {
            let want = chunk
                .len()
                .min(usize::try_from(len - done).unwrap_or(usize::MAX));
            let n = file.read_at(&mut chunk[..want], offset + done)?;
            if n == 0 {
                // The file shrank under us: an error, as the plain socket's sendfile says.
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended before the length being sent",
                ));
            }
            self.write_plain(tcp, &[&chunk[..n]]).await?;
            done += n as u64;
        }
        Ok(done)
    }

    /// Sends close_notify (and anything pending), then shuts the socket's `how` side down.
    /// After a broken write only the socket is shut: more records would follow a cut one.
    pub async fn shutdown(&self, tcp: &TcpStream, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) && !self.broken.get() {
            let out = {
                let mut conn = self.conn.borrow_mut();
                conn.send_close_notify();
                let mut out = std::mem::take(&mut *self.pending.borrow_mut());
                drain_tls(&mut conn, &mut out);
                out
            };
            if !out.is_empty() {
                self.send(tcp, out).await?;
            }
        }
        tcp.shutdown(how).await
    }

    /// Writes ciphertext; if the write fails or its future is dropped before it completes,
    /// the stream is marked broken and refuses further writes.
    async fn send(&self, tcp: &TcpStream, out: Vec<u8>) -> io::Result<Vec<u8>> {
        if self.broken.get() {
            return Err(broken());
        }
        self.broken.set(true);
        let (res, out) = tcp.write_all(out).await;
        res?;
        self.broken.set(false);
        Ok(out)
    }

    async fn write_plain(&self, tcp: &TcpStream, slices: &[&[u8]]) -> io::Result<()> {
        if self.broken.get() {
            return Err(broken());
        }
        let mut at = (0usize, 0usize); // (slice, offset in it)
        loop {
            let out = {
                let mut conn = self.conn.borrow_mut();
                let mut budget = WRITE_CHUNK;
                while at.0 < slices.len() && budget > 0 {
                    let rest = &slices[at.0][at.1..];
                    let take = rest.len().min(budget);
                    // An error (the connection failed reading) leaves `pending` in place
                    // for the closing `shutdown`: the alert still goes out.
                    let n = conn.writer().write(&rest[..take])?;
                    budget -= n;
                    at.1 += n;
                    if at.1 == slices[at.0].len() {
                        at = (at.0 + 1, 0);
                    } else if n < take {
                        break; // rustls's buffer is full: write what it sealed first
                    }
                }
                // What rustls said while reading goes first, then the new records.
                let mut out = std::mem::take(&mut *self.spare.borrow_mut());
                out.append(&mut self.pending.borrow_mut());
                drain_tls(&mut conn, &mut out);
                out
            };
            if !out.is_empty() {
                let mut out = self.send(tcp, out).await?;
                if out.capacity() <= SPARE_MAX {
                    out.clear();
                    *self.spare.borrow_mut() = out;
                }
            }
            if at.0 >= slices.len() {
                return Ok(());
            }
        }
    }
}

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "an earlier TLS write did not complete: the stream is cut",
    )
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
