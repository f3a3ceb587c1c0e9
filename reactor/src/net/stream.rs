use crate::{
    BackendKind,
    buf::{BufResult, IoBuf, IoBufMut, RecvBuf},
    sys::{
        Io,
        op::{self, recv::RecvState},
    },
};
use std::{
    fmt, io,
    net::{Shutdown, SocketAddr},
    rc::Rc,
};

/// A TCP connection driven by the current core's backend.
///
/// All I/O takes `&self`, so one task may read while another writes; run at most one
/// receive (`recv`/`read`) at a time. Dropping the stream cancels its pending operations and
/// closes it (through the ring, on io_uring, ordered after anything already queued).
///
/// A stream belongs to the core that created it: its operations live in that core's driver,
/// and the kernel may still be writing into buffers that driver holds. It is neither `Send`
/// nor `Sync`, so it cannot be handed to another core, and neither can its operations:
///
/// ```compile_fail
/// use ringwire_reactor::{Handle, net::TcpStream};
/// fn to_another_core(other: &Handle, stream: TcpStream) {
///     other.spawn(move || drop(stream));
/// }
/// ```
///
/// ```compile_fail
/// use ringwire_reactor::net::TcpStream;
/// fn assert_send<T: Send>(_: &T) {}
/// fn in_flight(stream: &TcpStream) {
///     let write = stream.write_all(vec![1u8; 16]);
///     assert_send(&write);
/// }
/// ```
///
/// ```compile_fail
/// use ringwire_reactor::net::TcpStream;
/// fn assert_send<T: Send>(_: &T) {}
/// fn connecting(addr: std::net::SocketAddr) {
///     assert_send(&TcpStream::connect(addr));
/// }
/// ```
///
/// ```compile_fail
/// use ringwire_reactor::net::TcpStream;
/// fn shared(stream: &'static TcpStream) {
///     std::thread::spawn(move || drop(stream.set_nodelay(true)));
/// }
/// ```
pub struct TcpStream {
    // Declared first so that on drop its multishot receive is cancelled before the close.
    recv: RecvState,
    io: Io<mio::net::TcpStream>,
    _core: crate::CoreBound,
}

impl TcpStream {
    pub(crate) fn from_io(io: Io<mio::net::TcpStream>) -> Self {
        TcpStream {
            recv: RecvState::default(),
            io,
            _core: crate::CoreBound::default(),
        }
    }

    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        op::connect::connect(addr).await.map(Self::from_io)
    }

    /// Takes over a connected std socket.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Io::from_std_stream(stream).map(Self::from_io)
    }

    /// The backend this socket is driven by.
    pub fn backend(&self) -> BackendKind {
        match self.io {
            #[cfg(target_os = "linux")]
            Io::Uring(_) => BackendKind::Uring,
            Io::Poll(_) => BackendKind::Poll,
        }
    }

    /// Receives the next bytes into a buffer the reactor picks (a provided-buffer ring slot on
    /// io_uring, a pooled buffer on epoll). `Ok(None)` means the peer closed its side.
    pub async fn recv(&self) -> io::Result<Option<RecvBuf>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Poll form of [`TcpStream::recv`], for hand-written futures: waiting this way keeps no
    /// state at all in the caller.
    pub fn poll_recv(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<Option<RecvBuf>>> {
        op::recv::poll_recv(&self.io, &self.recv, cx)
    }

    /// Stops receiving ahead: what an armed receive already took from the socket (io_uring
    /// keeps one armed), in order, and whether the peer's end of stream was among it. Until
    /// the next [`TcpStream::recv`], later bytes stay in the socket's queue: a protocol
    /// switch (kTLS) can then act on exactly the bytes not yet read.
    pub async fn quiesce_recv(&self) -> io::Result<(Vec<RecvBuf>, bool)> {
        let q = op::recv::quiesce(&self.io, &self.recv).await?;
        Ok((q.bufs, q.eof))
    }

    /// kTLS: attaches the kernel's `tls` ULP ([`crate::ktls::enable_ulp`]).
    #[cfg(target_os = "linux")]
    pub fn ktls_enable_ulp(&self) -> io::Result<()> {
        crate::ktls::enable_ulp(self.raw_fd())
    }

    /// kTLS: hands one direction's keys to the kernel ([`crate::ktls::set_crypto`]).
    #[cfg(target_os = "linux")]
    pub fn ktls_set_crypto(
        &self,
        direction: crate::ktls::Direction,
        info: &crate::ktls::CryptoInfo,
    ) -> io::Result<()> {
        crate::ktls::set_crypto(self.raw_fd(), direction, info)
    }

    /// kTLS: one record and its content type, without waiting ([`crate::ktls::recv_record`]).
    #[cfg(target_os = "linux")]
    pub fn ktls_recv_record(&self, buf: &mut [u8]) -> io::Result<(usize, u8)> {
        crate::ktls::recv_record(self.raw_fd(), buf)
    }

    /// kTLS: sends one record of a content type, without waiting
    /// ([`crate::ktls::send_record`]).
    #[cfg(target_os = "linux")]
    pub fn ktls_send_record(&self, record_type: u8, payload: &[u8]) -> io::Result<usize> {
        crate::ktls::send_record(self.raw_fd(), record_type, payload)
    }

    #[cfg(target_os = "linux")]
    fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.io.sock().as_raw_fd()
    }

    /// Reads once into `buf`'s spare capacity; `Ok(0)` is end of stream.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        op::read::read(&self.io, buf).await
    }

    /// Writes once from `buf`, possibly only part of it.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        op::write::write(&self.io, buf).await
    }

    /// Writes all of `buf`.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        op::write::write_all(&self.io, buf).await
    }

    /// Writes all of `bufs`, in order, with vectored writes.
    pub async fn writev_all<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<(), Vec<B>> {
        op::writev::writev_all(&self.io, bufs).await
    }

    /// Sends `len` bytes of `file` from `offset` without copying them through user space.
    pub async fn sendfile(
        &self,
        file: &Rc<std::fs::File>,
        offset: u64,
        len: u64,
    ) -> io::Result<u64> {
        op::sendfile::sendfile(&self.io, file, offset, len).await
    }

    /// Shuts down one or both directions.
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        op::shutdown::shutdown(&self.io, how).await
    }

    /// Closes the socket and reports an error from the close itself.
    pub async fn close(self) -> io::Result<()> {
        let TcpStream { recv, io, .. } = self;
        drop(recv);
        op::close::close(io).await
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.io.sock().set_tcp_nodelay(on)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(self.io.sock().peer_addr()?)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(self.io.sock().local_addr()?)
    }
}

pub(crate) fn sock_addr(a: socket2::SockAddr) -> io::Result<SocketAddr> {
    a.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket address"))
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("backend", &self.backend())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}
