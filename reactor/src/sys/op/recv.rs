//! Receive into a buffer the reactor picks, so an idle connection holds none.
//!
//! io_uring: one multishot receive per socket stays armed; each completion carries a slot of
//! the core's provided-buffer ring. When the ring runs dry the kernel ends the multishot with
//! ENOBUFS, and that receive falls back to a single-shot read into a pooled heap buffer, so a
//! connection always makes progress. A socket whose task does not consume what arrives may
//! have only `BufRing::per_receiver` filled buffers waiting: then the driver cancels its
//! multishot, and the next receive, once those are consumed, arms a new one.
//!
//! Readiness backend: on a readable event, read into a pooled buffer, which goes straight back
//! to the pool if the read would block.
//!
//! The operation is poll-based (`poll_recv`): waiting for bytes needs no future state at all,
//! which keeps an idle connection's task small.

use crate::{
    buf::RecvBuf,
    runtime::context,
    sys::{
        Io,
        poll::{Direction, RawIo},
    },
};
use mio::event::Source;
use std::{
    io,
    task::{Context, Poll, ready},
};

/// Per-socket receive state (the armed multishot, and the fallback read, on io_uring). Cells,
/// not RefCells: every connection carries one, so its size counts.
#[derive(Default)]
pub(crate) struct RecvState {
    #[cfg(target_os = "linux")]
    multi: std::cell::Cell<Option<crate::sys::uring::MultiOp>>,
    #[cfg(target_os = "linux")]
    fallback: std::cell::Cell<Option<Box<FallbackRead>>>,
}

#[cfg(target_os = "linux")]
type FallbackRead = crate::sys::uring::Op<super::read::ReadData<Vec<u8>>>;

/// The next bytes from the peer; `Ready(Ok(None))` at end of stream.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))] // `state` is io_uring's
pub(crate) fn poll_recv<S: Source + RawIo>(
    io: &Io<S>,
    state: &RecvState,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Option<RecvBuf>>> {
    match io {
        #[cfg(target_os = "linux")]
        Io::Uring(fd) => poll_recv_uring(fd.raw(), state, cx),
        Io::Poll(reg) => loop {
            ready!(reg.poll_ready(Direction::Read, cx));
            let pool = context::with(|cx| cx.pool.clone());
            let mut buf = pool.take();
            // SAFETY: the pool buffer's capacity is writable and outlives the call.
            match unsafe { reg.get_ref().read_raw(buf.as_mut_ptr(), buf.capacity()) } {
                Ok(0) => {
                    pool.put(buf);
                    return Poll::Ready(Ok(None));
                }
                Ok(n) => {
                    // A short read emptied the socket: with edge-triggered epoll and kqueue,
                    // bytes that arrive later raise a new event, so the next receive can wait
                    // for it instead of spending a read on EAGAIN (one syscall per request
                    // saved; a close already reported is kept). Windows' emulation is not
                    // edge-triggered this way.
                    if cfg!(not(windows)) && n < buf.capacity() {
                        reg.drained();
                    }
                    // SAFETY: read(2) initialised `n` bytes (n <= capacity).
                    unsafe { buf.set_len(n) };
                    return Poll::Ready(Ok(Some(RecvBuf::from_pool(buf, pool))));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    pool.put(buf);
                    reg.clear(Direction::Read);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => pool.put(buf),
                Err(e) => {
                    pool.put(buf);
                    return Poll::Ready(Err(e));
                }
            }
        },
    }
}

#[cfg(target_os = "linux")]
fn poll_recv_uring(
    fd: std::os::fd::RawFd,
    state: &RecvState,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Option<RecvBuf>>> {
    use crate::sys::uring::{Cleanup, MultiOp, with_driver};
    use io_uring::{cqueue, opcode, types};
    use std::{future::Future, pin::Pin};

    loop {
        if let Some(mut op) = state.fallback.take() {
            let (res, buf) = match Pin::new(&mut *op).poll(cx) {
                Poll::Ready(done) => done,
                Poll::Pending => {
                    state.fallback.set(Some(op));
                    return Poll::Pending;
                }
            };
            let pool = context::with(|cx| cx.pool.clone());
            return Poll::Ready(match res {
                Ok(n) if n > 0 => Ok(Some(RecvBuf::from_pool(buf, pool))),
                other => {
                    pool.put(buf);
                    other.map(|_| None)
                }
            });
        }
        let multi = match state.multi.take() {
            Some(m) => m,
            None => {
                let bgid = with_driver(|d| d.bufs.bgid());
                let sqe = opcode::RecvMulti::new(types::Fd(fd), bgid).build();
                // SAFETY: a buffer-select receive carries no pointers of ours; the kernel
                // writes only into ring slots, which the driver's ring keeps alive.
                unsafe { MultiOp::submit(sqe, Cleanup::Buffers) }?
            }
        };
        let next = multi.poll_next(cx);
        state.multi.set(Some(multi));
        let next = ready!(next);
        let Some((res, flags)) = next else {
            // The kernel ended the multishot (or the driver cancelled it because this socket
            // had its share of the ring's buffers waiting, `BufRing::per_receiver`, and kept
            // that ECANCELED to itself) and every completion was consumed: re-arm. Meanwhile
            // the bytes stayed in the socket, under TCP flow control. Any ECANCELED that does
            // reach us came from another cancellation and ends the receive below.
            state.multi.set(None);
            continue;
        };
        if let Some(bid) = cqueue::buffer_select(flags) {
            let bufs = with_driver(|d| d.bufs.clone());
            // SAFETY: `bid` is from the flags of a completion of this socket's buffer-select
            // receive, which picks from the driver's ring (`bgid` above), and each completion
            // leaves the multishot's queue once (popped above), so it is claimed once.
            let id = unsafe { bufs.claim(bid) };
            if res > 0 {
                return Poll::Ready(Ok(Some(RecvBuf::from_ring(bufs, id, res as u32))));
            }
            bufs.recycle(id);
        }
        match res {
            0 => return Poll::Ready(Ok(None)),
            r if r == -libc::ENOBUFS => {
                // Every ring slot is in use: receive this one into a pooled heap buffer.
                let pool = context::with(|cx| cx.pool.clone());
                match super::read::submit_uring(fd, pool.take()) {
                    Ok(op) => state.fallback.set(Some(Box::new(op))),
                    Err((e, buf)) => {
                        pool.put(buf);
                        return Poll::Ready(Err(e));
                    }
                }
            }
            r if r < 0 => return Poll::Ready(Err(io::Error::from_raw_os_error(-r))),
            _ => unreachable!("a positive receive without a buffer"),
        }
    }
}

/// What [`quiesce`] took from an armed receive.
#[derive(Default)]
pub(crate) struct Quiesced {
    /// Bytes the kernel had already received for this socket, in order.
    pub(crate) bufs: Vec<RecvBuf>,
    /// The peer's end of stream came with them.
    pub(crate) eof: bool,
}

/// Stops receiving ahead of the caller: io_uring's armed multishot receive is cancelled (and
/// a fallback read finished), and whatever the kernel had already placed in buffers for this
/// socket is returned, in order. Afterwards no receive is in flight, so every later byte
/// stays in the socket's queue until the next receive: what a protocol switch such as kTLS
/// needs. The readiness backend never reads ahead: nothing to do.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
pub(crate) async fn quiesce<S: Source + RawIo>(
    io: &Io<S>,
    state: &RecvState,
) -> io::Result<Quiesced> {
    match io {
        #[cfg(target_os = "linux")]
        Io::Uring(_) => quiesce_uring(state).await,
        Io::Poll(_) => Ok(Quiesced::default()),
    }
}

#[cfg(target_os = "linux")]
async fn quiesce_uring(state: &RecvState) -> io::Result<Quiesced> {
    use io_uring::cqueue;
    let mut out = Quiesced::default();
    // An ENOBUFS fallback read ends a multishot whose completions were all taken before it,
    // so it comes first in the byte order.
    if let Some(op) = state.fallback.take() {
        let (res, buf) = op.await;
        let pool = context::with(|cx| cx.pool.clone());
        match res {
            Ok(n) if n > 0 => out.bufs.push(RecvBuf::from_pool(buf, pool)),
            Ok(_) => {
                pool.put(buf);
                out.eof = true;
            }
            Err(e) => {
                pool.put(buf);
                return Err(e);
            }
        }
    }
    let Some(multi) = state.multi.take() else {
        return Ok(out);
    };
    multi.cancel();
    while let Some((res, flags)) = std::future::poll_fn(|cx| multi.poll_next(cx)).await {
        if let Some(bid) = cqueue::buffer_select(flags) {
            let bufs = crate::sys::uring::with_driver(|d| d.bufs.clone());
            // SAFETY: as in `poll_recv_uring`: `bid` comes from a completion of this socket's
            // buffer-select receive, popped once from its queue, so it is claimed once.
            let id = unsafe { bufs.claim(bid) };
            if res > 0 {
                out.bufs.push(RecvBuf::from_ring(bufs, id, res as u32));
                continue;
            }
            bufs.recycle(id);
        }
        match res {
            0 => out.eof = true,
            // The cancellation itself, or a ring that ran dry: the bytes stayed in the socket.
            r if r == -libc::ECANCELED || r == -libc::ENOBUFS => {}
            r if r < 0 => return Err(io::Error::from_raw_os_error(-r)),
            _ => unreachable!("a positive receive without a buffer"),
        }
    }
    Ok(out)
}
