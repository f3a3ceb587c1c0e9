//! Receive into a buffer the reactor picks, so an idle connection holds none.
//!
//! io_uring: one multishot receive per socket stays armed; each completion carries a slot of
//! the core's provided-buffer ring. When the ring runs dry the kernel ends the multishot with
//! ENOBUFS, and that receive falls back to a single-shot read into a pooled heap buffer, so a
//! connection always makes progress. Readiness backend: on a readable event, read into a
//! pooled buffer, which goes straight back to the pool if the read would block.

use crate::{
    buf::RecvBuf,
    runtime::context,
    sys::{
        Io,
        poll::{Direction, RawIo},
    },
};
use mio::event::Source;
use std::io;

/// Per-socket receive state (the armed multishot, on io_uring).
#[derive(Default)]
pub(crate) struct RecvState {
    #[cfg(target_os = "linux")]
    multi: std::cell::RefCell<Option<crate::sys::uring::MultiOp>>,
}

/// The next bytes from the peer; `Ok(None)` at end of stream.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))] // `state` is io_uring's
pub(crate) async fn recv<S: Source + RawIo>(
    io: &Io<S>,
    state: &RecvState,
) -> io::Result<Option<RecvBuf>> {
    match io {
        #[cfg(target_os = "linux")]
        Io::Uring(fd) => recv_uring(io, fd.raw(), state).await,
        Io::Poll(reg) => {
            let pool = context::with(|cx| cx.pool.clone());
            let res = reg
                .io(Direction::Read, |s| {
                    let mut buf = pool.take();
                    // SAFETY: the pool buffer's capacity is writable and outlives the call.
                    match unsafe { s.read_raw(buf.as_mut_ptr(), buf.capacity()) } {
                        Ok(n) => {
                            // SAFETY: read(2) initialised `n` bytes (n <= capacity).
                            unsafe { buf.set_len(n) };
                            Ok(buf)
                        }
                        Err(e) => {
                            pool.put(buf);
                            Err(e)
                        }
                    }
                })
                .await;
            match res {
                Ok(buf) if buf.is_empty() => {
                    pool.put(buf);
                    Ok(None)
                }
                Ok(buf) => Ok(Some(RecvBuf::from_pool(buf, pool))),
                Err(e) => Err(e),
            }
        }
    }
}

#[cfg(target_os = "linux")]
async fn recv_uring<S: Source + RawIo>(
    io: &Io<S>,
    fd: std::os::fd::RawFd,
    state: &RecvState,
) -> io::Result<Option<RecvBuf>> {
    use crate::sys::uring::{Cleanup, MultiOp, with_driver};
    use io_uring::{cqueue, opcode, types};
    use std::future::poll_fn;

    loop {
        if state.multi.borrow().is_none() {
            let bgid = with_driver(|d| d.bufs.bgid());
            let sqe = opcode::RecvMulti::new(types::Fd(fd), bgid).build();
            // SAFETY: a buffer-select receive carries no pointers of ours; the kernel writes
            // only into ring slots, which the driver's ring keeps alive.
            let op = unsafe { MultiOp::submit(sqe, Cleanup::Buffers) }?;
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
        let Some((res, flags)) = next else {
            // The kernel ended the multishot and every completion was consumed: re-arm.
            *state.multi.borrow_mut() = None;
            continue;
        };
        if let Some(bid) = cqueue::buffer_select(flags) {
            let bufs = with_driver(|d| d.bufs.clone());
            bufs.taken(bid);
            if res > 0 {
                return Ok(Some(RecvBuf::from_ring(bufs, bid, res as u32)));
            }
            bufs.recycle(bid);
        }
        return match res {
            0 => Ok(None),
            r if r == -libc::ENOBUFS => {
                // Every ring slot is in use: receive this one into a pooled heap buffer.
                let pool = context::with(|cx| cx.pool.clone());
                let (res, buf) = super::read::read(io, pool.take()).await;
                match res {
                    Ok(0) => {
                        pool.put(buf);
                        Ok(None)
                    }
                    Ok(_) => Ok(Some(RecvBuf::from_pool(buf, pool))),
                    Err(e) => {
                        pool.put(buf);
                        Err(e)
                    }
                }
            }
            r if r < 0 => Err(io::Error::from_raw_os_error(-r)),
            _ => unreachable!("a positive receive without a buffer"),
        };
    }
}
