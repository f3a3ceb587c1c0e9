//! A connection's byte transport: the socket, with TLS over it once a handshake has run
//! (rustls's record layer, or the kernel's after a switch to kTLS). The connection loops talk
//! to this, not to the socket, so HTTP and the stream protocol run unchanged over TLS. The
//! socket stays where it is when TLS starts: a plain connection costs one pointer more than
//! its socket.

#[cfg(target_os = "linux")]
use crate::tls::KernelTls;
use crate::{
    conn::deadline::until,
    tls::{Negotiated, TlsState},
};
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
    tls: Option<Box<Secure>>,
}

/// Who runs a TLS connection's record layer. Always boxed (one allocation per TLS
/// connection): a kTLS connection's box is as large as rustls's state, which it replaced.
#[allow(clippy::large_enum_variant)]
enum Secure {
    /// rustls, in user space.
    User(TlsState),
    /// The kernel (kTLS): reads and writes are the socket's own.
    #[cfg(target_os = "linux")]
    Kernel(KernelTls),
}

/// `$body` with `$t` bound to the TLS layer of `$secure`, whichever it is.
macro_rules! each_layer {
    ($secure:expr, $t:ident => $body:expr) => {
        match $secure {
            Secure::User($t) => $body,
            #[cfg(target_os = "linux")]
            Secure::Kernel($t) => $body,
        }
    };
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

    /// Whether the connection speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The user-space TLS side (rustls), once the handshake is done and unless the kernel
    /// took the record layer over.
    pub fn tls(&self) -> Option<&TlsState> {
        match self.tls.as_deref()? {
            Secure::User(tls) => Some(tls),
            #[cfg(target_os = "linux")]
            Secure::Kernel(_) => None,
        }
    }

    /// Whether the kernel runs this connection's TLS records (kTLS).
    pub fn is_kernel_tls(&self) -> bool {
        #[cfg(target_os = "linux")]
        return matches!(self.tls.as_deref(), Some(Secure::Kernel(_)));
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// What the TLS handshake negotiated.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        Some(each_layer!(self.tls.as_deref()?, t => t.negotiated()))
    }

    /// From now on, bytes go through `tls` (a completed handshake on this socket).
    pub(crate) fn set_tls(&mut self, tls: TlsState) {
        self.tls = Some(Box::new(Secure::User(tls)));
    }

    /// From now on, the kernel runs the record layer.
    #[cfg(target_os = "linux")]
    pub(crate) fn set_kernel_tls(&mut self, tls: KernelTls) {
        self.tls = Some(Box::new(Secure::Kernel(tls)));
    }

    /// The protocol TLS's ALPN chose, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.negotiated()?.alpn.as_deref()
    }

    /// The identity of the client's TLS certificate (verified against `tls.client_ca`).
    pub fn client_identity(&self) -> Option<Rc<str>> {
        self.negotiated()?.identity.clone()
    }

    /// Received (decrypted) bytes; `Ok(None)` at the end of the stream.
    pub async fn recv(&self) -> io::Result<Option<RecvBuf>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`Transport::recv`] as a poll.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<io::Result<Option<RecvBuf>>> {
        match self.tls.as_deref() {
            None => self.tcp.poll_recv(cx),
            Some(secure) => each_layer!(secure, t => t.poll_recv(&self.tcp, cx)),
        }
    }

    /// Writes all of `buf`.
    pub async fn write_all<B: IoBuf + AsRef<[u8]>>(&self, buf: B) -> BufResult<(), B> {
        match self.tls.as_deref() {
            None => self.tcp.write_all(buf).await,
            Some(secure) => each_layer!(secure, t => t.write_all(&self.tcp, buf).await),
        }
    }

    /// Writes all of `bufs`, in order.
    pub async fn writev_all<B: IoBuf + AsRef<[u8]>>(&self, bufs: Vec<B>) -> BufResult<(), Vec<B>> {
        match self.tls.as_deref() {
            None => self.tcp.writev_all(bufs).await,
            Some(secure) => each_layer!(secure, t => t.writev_all(&self.tcp, bufs).await),
        }
    }

    /// Sends `len` bytes of `file` from `offset` (zero-copy on a plain socket and with kTLS).
    pub async fn sendfile(
        &self,
        file: &Rc<std::fs::File>,
        offset: u64,
        len: u64,
    ) -> io::Result<u64> {
        match self.tls.as_deref() {
            None => self.tcp.sendfile(file, offset, len).await,
            Some(secure) => {
                each_layer!(secure, t => t.sendfile(&self.tcp, file, offset, len).await)
            }
        }
    }

    /// Shuts down one or both directions (after TLS's close_notify).
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self.tls.as_deref() {
            None => self.tcp.shutdown(how).await,
            Some(secure) => each_layer!(secure, t => t.shutdown(&self.tcp, how).await),
        }
    }

    /// Ends a TLS session before the socket closes: what rustls still has to say (the alert
    /// after a bad record) and close_notify, bounded by [`FINISH_TIMEOUT`] so a client that
    /// reads nothing cannot hold the connection. Nothing on a plain socket.
    pub async fn finish(&self) {
        if self.tls.is_none() {
            return;
        }
        let deadline = time::now() + FINISH_TIMEOUT;
        let mut timer = time::sleep_until(deadline);
        let _ = until(&mut timer, deadline, self.shutdown(Shutdown::Write)).await;
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
