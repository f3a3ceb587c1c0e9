use super::{TcpStream, stream::sock_addr};
use crate::sys::{
    Io,
    op::{self, accept::AcceptState},
};
use std::{fmt, io, net::SocketAddr};

/// A listening TCP socket. On io_uring one multishot accept stays armed for it.
///
/// Like [`TcpStream`], it belongs to the core that created it (`!Send`, `!Sync`); to listen on
/// several cores, give each core its own socket (`SO_REUSEPORT`) built with [`from_std`]:
///
/// ```compile_fail
/// use ringwire_reactor::{Handle, net::TcpListener};
/// fn to_another_core(other: &Handle, listener: TcpListener) {
///     other.spawn(move || drop(listener));
/// }
/// ```
///
/// ```compile_fail
/// use ringwire_reactor::net::TcpListener;
/// fn assert_send<T: Send>(_: &T) {}
/// fn in_flight(listener: &TcpListener) {
///     assert_send(&listener.accept());
/// }
/// ```
///
/// [`from_std`]: TcpListener::from_std
pub struct TcpListener {
    // Declared first so that on drop its multishot accept is cancelled before the close.
    accept: AcceptState,
    io: Io<mio::net::TcpListener>,
    _core: crate::CoreBound,
}

impl TcpListener {
    /// Binds `addr` with the platform defaults (`SO_REUSEADDR` on Unix, backlog 128). For
    /// per-core `SO_REUSEPORT` listeners build the socket yourself and use [`from_std`].
    ///
    /// [`from_std`]: TcpListener::from_std
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        Self::from_std(std::net::TcpListener::bind(addr)?)
    }

    /// Takes over a bound, listening std socket.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            accept: AcceptState::default(),
            io: Io::from_std_listener(listener)?,
            _core: crate::CoreBound::default(),
        })
    }

    /// The next connection. Errors such as `EMFILE` or `ECONNABORTED` concern one attempt;
    /// the listener stays usable.
    pub async fn accept(&self) -> io::Result<TcpStream> {
        op::accept::accept(&self.io, &self.accept)
            .await
            .map(TcpStream::from_io)
    }

    /// Stops accepting ahead of the caller: the connections io_uring's armed accept had
    /// already taken from the queue (none on the readiness backend). Call it when a listener
    /// stops for good while another process keeps accepting on the same socket, and serve
    /// what it returns: dropping the listener would close them unanswered.
    pub async fn quiesce(&self) -> Vec<TcpStream> {
        op::accept::quiesce(&self.io, &self.accept)
            .await
            .into_iter()
            .map(TcpStream::from_io)
            .collect()
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(self.io.sock().local_addr()?)
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local_addr().ok())
            .finish()
    }
}
