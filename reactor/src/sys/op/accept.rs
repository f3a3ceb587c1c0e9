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
