//! Accept connections: a multishot accept on io_uring (one SQE for any number of
//! connections), accept4 on readiness elsewhere.

use crate::sys::{Io, poll::Direction};
use std::io;

/// Per-listener accept state (the armed multishot, on io_uring).
#[derive(Default)]
pub(crate) struct AcceptState {
    #[cfg(target_os = "linux")]
    multi: std::cell::RefCell<Option<crate::sys::uring::MultiOp>>,
}

/// The next connection, as a socket driven by the same backend as the listener.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))] // `state` is io_uring's
pub(crate) async fn accept(
    io: &Io<mio::net::TcpListener>,
    state: &AcceptState,
) -> io::Result<Io<mio::net::TcpStream>> {
    match io {
        #[cfg(target_os = "linux")]
        Io::Uring(fd) => {
            use crate::sys::uring::{Cleanup, MultiOp, UringFd};
            use io_uring::{opcode, types};
            use std::{future::poll_fn, os::fd::FromRawFd};
            loop {
                if state.multi.borrow().is_none() {
                    let sqe = opcode::AcceptMulti::new(types::Fd(fd.raw()))
                        .flags(libc::SOCK_CLOEXEC)
                        .build();
                    // SAFETY: a multishot accept passes no address buffer: no pointers at all.
                    let op = unsafe { MultiOp::submit(sqe, Cleanup::Fds) }?;
                    *state.multi.borrow_mut() = Some(op);
                }
                let next = poll_fn(|cx| {
                    state
                        .multi
                        .borrow()
                        .as_ref()
                        .expect("armed above")
                        .poll_next(cx)
                })
                .await;
                match next {
                    None => *state.multi.borrow_mut() = None,
                    Some((res, _)) if res >= 0 => {
                        // SAFETY: a successful accept completion is a new descriptor we own.
                        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(res) };
                        return Ok(Io::Uring(UringFd::new(owned)));
                    }
                    Some((res, _)) => return Err(io::Error::from_raw_os_error(-res)),
                }
            }
        }
        Io::Poll(reg) => {
            let (stream, _) = reg.io(Direction::Read, |l| l.accept()).await?;
            Ok(Io::Poll(crate::sys::poll::Registered::new(stream)?))
        }
    }
}

/// Stops accepting ahead: io_uring's armed multishot accept is cancelled and the connections
/// it had already accepted are returned, in order, so that none is closed unserved. On the
/// readiness backend nothing is accepted ahead: connections stay in the listen queue (for a
/// successor process that shares the socket, say).
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
pub(crate) async fn quiesce(
    io: &Io<mio::net::TcpListener>,
    state: &AcceptState,
) -> Vec<Io<mio::net::TcpStream>> {
    match io {
        #[cfg(target_os = "linux")]
        Io::Uring(_) => quiesce_uring(state).await,
        Io::Poll(_) => Vec::new(),
    }
}

#[cfg(target_os = "linux")]
async fn quiesce_uring(state: &AcceptState) -> Vec<Io<mio::net::TcpStream>> {
    use crate::sys::uring::UringFd;
    use std::{future::poll_fn, os::fd::FromRawFd};
    let mut out = Vec::new();
    let Some(multi) = state.multi.borrow_mut().take() else {
        return out;
    };
    multi.cancel();
    while let Some((res, _)) = poll_fn(|cx| multi.poll_next(cx)).await {
        if res >= 0 {
            // SAFETY: a successful accept completion is a new descriptor we own.
            let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(res) };
            out.push(Io::Uring(UringFd::new(owned)));
        }
    }
    out
}
