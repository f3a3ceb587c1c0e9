//! Platform and backend code: the only place besides buffer code where `unsafe` lives.
//!
//! `uring/` and `poll/` are the two drivers; `op/` holds one file per operation, each knowing
//! how both backends carry it out.

#[cfg(target_os = "linux")]
pub mod ktls;
pub(crate) mod op;
pub(crate) mod poll;
#[cfg(unix)]
pub(crate) mod unix;
#[cfg(target_os = "linux")]
pub(crate) mod uring;

/// A socket or descriptor driven by whichever backend the current runtime uses.
pub(crate) enum Io<S: mio::event::Source> {
    /// Owned raw descriptor; operations go through the ring.
    #[cfg(target_os = "linux")]
    Uring(uring::UringFd),
    /// Registered with the readiness driver.
    Poll(poll::Registered<S>),
}

impl Io<mio::net::TcpStream> {
    /// Puts a connected std socket under the current runtime's backend.
    pub(crate) fn from_std_stream(s: std::net::TcpStream) -> std::io::Result<Self> {
        match current_kind() {
            #[cfg(target_os = "linux")]
            crate::BackendKind::Uring => {
                // io_uring fails fast with EAGAIN on O_NONBLOCK descriptors instead of waiting.
                s.set_nonblocking(false)?;
                Ok(Io::Uring(uring::UringFd::new(s.into())))
            }
            _ => {
                s.set_nonblocking(true)?;
                Ok(Io::Poll(poll::Registered::new(
                    mio::net::TcpStream::from_std(s),
                )?))
            }
        }
    }
}

impl Io<mio::net::TcpListener> {
    /// Puts a bound, listening std socket under the current runtime's backend.
    pub(crate) fn from_std_listener(l: std::net::TcpListener) -> std::io::Result<Self> {
        match current_kind() {
            #[cfg(target_os = "linux")]
            crate::BackendKind::Uring => {
                l.set_nonblocking(false)?;
                Ok(Io::Uring(uring::UringFd::new(l.into())))
            }
            _ => {
                l.set_nonblocking(true)?;
                Ok(Io::Poll(poll::Registered::new(
                    mio::net::TcpListener::from_std(l),
                )?))
            }
        }
    }
}

#[cfg(unix)]
impl<S: mio::event::Source + std::os::fd::AsFd> Io<S> {
    /// The socket, for options and addresses.
    pub(crate) fn sock(&self) -> socket2::SockRef<'_> {
        match self {
            #[cfg(target_os = "linux")]
            Io::Uring(fd) => socket2::SockRef::from(fd),
            Io::Poll(reg) => socket2::SockRef::from(reg.get_ref()),
        }
    }
}

#[cfg(windows)]
impl<S: mio::event::Source + std::os::windows::io::AsSocket> Io<S> {
    /// The socket, for options and addresses.
    pub(crate) fn sock(&self) -> socket2::SockRef<'_> {
        match self {
            Io::Poll(reg) => socket2::SockRef::from(reg.get_ref()),
        }
    }
}

fn current_kind() -> crate::BackendKind {
    crate::runtime::context::with(|cx| cx.selection.kind)
}

#[cfg(target_os = "linux")]
impl Io<poll::FdSource> {
    /// Wraps a non-socket descriptor (signalfd) whose blocking mode already suits the current
    /// backend: blocking for io_uring, non-blocking for readiness.
    pub(crate) fn from_fd(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        match current_kind() {
            #[cfg(target_os = "linux")]
            crate::BackendKind::Uring => Ok(Io::Uring(uring::UringFd::new(fd))),
            _ => Ok(Io::Poll(poll::Registered::new(poll::FdSource(fd))?)),
        }
    }
}
