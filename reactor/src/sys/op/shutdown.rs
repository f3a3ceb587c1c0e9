//! Shut down one or both directions of a socket.

use crate::sys::Io;
use std::{io, net::Shutdown};

#[cfg(target_os = "linux")]
struct ShutdownData;

#[cfg(target_os = "linux")]
impl crate::sys::uring::Completable for ShutdownData {
    type Output = io::Result<()>;

    fn complete(self, res: i32, _flags: u32) -> Self::Output {
        crate::sys::uring::cqe_result(res).map(drop)
    }
}

/// `shutdown(2)`: on io_uring it is queued behind the socket's pending writes' SQEs.
pub(crate) async fn shutdown(io: &Io<mio::net::TcpStream>, how: Shutdown) -> io::Result<()> {
    match io {
        #[cfg(target_os = "linux")]
        Io::Uring(fd) => {
            use io_uring::{opcode, types};
            let how = match how {
                Shutdown::Read => libc::SHUT_RD,
                Shutdown::Write => libc::SHUT_WR,
                Shutdown::Both => libc::SHUT_RDWR,
            };
            let sqe = opcode::Shutdown::new(types::Fd(fd.raw()), how).build();
            // SAFETY: a shutdown carries no pointers.
            match unsafe { crate::sys::uring::Op::submit(ShutdownData, sqe) } {
                Ok(op) => op.await,
                Err((e, _)) => Err(e),
            }
        }
        Io::Poll(reg) => reg.get_ref().shutdown(how),
    }
}
