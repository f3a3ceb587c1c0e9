//! Connect a new TCP socket.

use crate::{
    runtime::context,
    sys::{Io, poll::Direction},
};
use std::{io, net::SocketAddr};

#[cfg(target_os = "linux")]
struct ConnectData {
    // Owns the socket until the kernel is done, so its number cannot be reused meanwhile.
    socket: socket2::Socket,
    // Boxed: the kernel reads the address from this heap memory.
    _addr: Box<socket2::SockAddr>,
}

#[cfg(target_os = "linux")]
impl crate::sys::uring::Completable for ConnectData {
    type Output = io::Result<socket2::Socket>;

    fn complete(self, res: i32, _flags: u32) -> Self::Output {
        crate::sys::uring::cqe_result(res).map(|_| self.socket)
    }
}

/// Opens a TCP connection to `addr` on the current runtime's backend.
pub(crate) async fn connect(addr: SocketAddr) -> io::Result<Io<mio::net::TcpStream>> {
    let kind = context::with(|cx| cx.selection.kind);
    match kind {
        #[cfg(target_os = "linux")]
        crate::BackendKind::Uring => {
            use io_uring::{opcode, types};
            use socket2::{Domain, Socket, Type};
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), None)?;
            let sa = Box::new(socket2::SockAddr::from(addr));
            let sqe = opcode::Connect::new(
                types::Fd(std::os::fd::AsRawFd::as_raw_fd(&socket)),
                sa.as_ptr().cast(),
                sa.len(),
            )
            .build();
            let data = ConnectData { socket, _addr: sa };
            // SAFETY: the address is boxed heap memory owned by ConnectData.
            let op = unsafe { crate::sys::uring::Op::submit(data, sqe) }.map_err(|(e, _)| e)?;
            let socket = op.await?;
            Ok(Io::Uring(crate::sys::uring::UringFd::new(socket.into())))
        }
        _ => {
            let stream = mio::net::TcpStream::connect(addr)?;
            let reg = crate::sys::poll::Registered::new(stream)?;
            loop {
                reg.ready(Direction::Write).await;
                if let Some(e) = reg.get_ref().take_error()? {
                    return Err(e);
                }
                match reg.get_ref().peer_addr() {
                    Ok(_) => return Ok(Io::Poll(reg)),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        reg.clear(Direction::Write)
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
}
