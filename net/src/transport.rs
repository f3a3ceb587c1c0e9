//! A connection's byte transport: the socket, with TLS over it once a handshake has run. The
//! connection loops talk to this, not to the socket, so HTTP and the stream protocol run
//! unchanged over TLS. The socket stays where it is when TLS starts: a plain connection costs
//! one pointer more than its socket.

use crate::{conn::deadline::until, tls::TlsState};
use ringwire_reactor::{
    BackendKind,
    buf::{BufResult, IoBuf, RecvBuf},
    net::TcpStream,
    time,
};
use std::{
    io,
    net::{Shutdown, SocketAddr},
    rc::Rc,
    task::{Context, Poll},
    time::Duration,
};

/// How long [`Transport::finish`] may take to write TLS's last words.
pub const FINISH_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection's transport.
pub struct Transport {
    tcp: TcpStream,
    /// Set once the TLS handshake is done; boxed, as plain connections are the small case.
    tls: Option<Box<TlsState>>,
}

impl From<TcpStream> for Transport {
    fn from(tcp: TcpStream) -> Self {
        Transport { tcp, tls: None }
    }
}

impl Transport {
    /// The socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The TLS side, once the handshake is done.
    pub fn tls(&self) -> Option<&TlsState> {
        self.tls.as_deref()
    }

    /// From now on, bytes go through `tls` (a completed handshake on this socket).
    pub(crate) fn set_tls(&mut self, tls: TlsState) {
        self.tls = Some(Box::new(tls));
    }

    /// The protocol TLS's ALPN chose, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tls()?.negotiated().alpn.as_deref()
    }

    /// The identity of the client's TLS certificate (verified against `tls.client_ca`).
    pub fn client_identity(&self) -> Option<Rc<str>> {
        self.tls()?.negotiated().identity.clone()
    }

    /// Received (decrypted) bytes; `Ok(None)` at the end of the stream.
    pub async fn recv(&self) -> io::Result<Option<RecvBuf>> {
        match &self.tls {
            None => self.tcp.recv().await,
            Some(tls) => std::future::poll_fn(|cx| tls.poll_recv(&self.tcp, cx)).await,
        }
    }

    /// [`Transport::recv`] as a poll.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<io::Result<Option<RecvBuf>>> {
        match &self.tls {
            None => self.tcp.poll_recv(cx),
            Some(tls) => tls.poll_recv(&self.tcp, cx),
        }
    }

    /// Writes all of `buf`.
    pub async fn write_all<B: IoBuf + AsRef<[u8]>>(&self, buf: B) -> BufResult<(), B> {
        match &self.tls {
            None => self.tcp.write_all(buf).await,
            Some(tls) => tls.write_all(&self.tcp, buf).await,
        }
    }

    /// Writes all of `bufs`, in order.
    pub async fn writev_all<B: IoBuf + AsRef<[u8]>>(&self, bufs: Vec<B>) -> BufResult<(), Vec<B>> {
        match &self.tls {
            None => self.tcp.writev_all(bufs).await,
            Some(tls) => tls.writev_all(&self.tcp, bufs).await,
        }
    }

    /// Sends `len` bytes of `file` from `offset` (zero-copy on a plain socket).
    pub async fn sendfile(
        &self,
        file: &Rc<std::fs::File>,
        offset: u64,
        len: u64,
    ) -> io::Result<u64> {
        match &self.tls {
            None => self.tcp.sendfile(file, offset, len).await,
            Some(tls) => tls.sendfile(&self.tcp, file, offset, len).await,
        }
    }

    /// Shuts down one or both directions (after TLS's close_notify).
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match &self.tls {
            None => self.tcp.shutdown(how).await,
            Some(tls) => tls.shutdown(&self.tcp, how).await,
        }
    }

    /// Ends a TLS session before the socket closes: what rustls still has to say (the alert
    /// after a bad record) and close_notify, bounded by [`FINISH_TIMEOUT`] so a client that
    /// reads nothing cannot hold the connection. Nothing on a plain socket.
    pub async fn finish(&self) {
        let Some(tls) = &self.tls else { return };
        let deadline = time::now() + FINISH_TIMEOUT;
        let mut timer = time::sleep_until(deadline);
        let _ = until(
            &mut timer,
            deadline,
            tls.shutdown(&self.tcp, Shutdown::Write),
        )
        .await;
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }

    /// The I/O backend under the socket.
    pub fn backend(&self) -> BackendKind {
        self.tcp.backend()
    }
}
