//! The life of one io_uring operation, and the rule that makes it safe to drop a future while
//! the kernel still works on its memory.
//!
//! Every operation's memory (buffers, iovecs, socket addresses) is owned by its `data`, kept in
//! heap allocations that do not move with the value. While the operation is in flight the data
//! lives in the [`Op`] future; if the future is dropped first, the data moves into the driver's
//! slab entry (`Lifecycle::Ignored`) and is freed only when the kernel's completion arrives.

use super::{Driver, with_driver};
use io_uring::squeue::Entry;
use std::{
    any::Any,
    collections::VecDeque,
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll, Waker},
};

/// What happens to results of a multishot operation that nobody will consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cleanup {
    /// Completions carry provided buffers: give them back to the ring.
    Buffers,
    /// Completions carry new file descriptors (accept): close them.
    Fds,
}

pub(crate) enum Lifecycle {
    /// In the submission queue or in the kernel; nobody has polled yet.
    Submitted,
    /// In flight, and this task wants to know when it completes.
    Waiting(Waker),
    /// Done: raw result and CQE flags, waiting for the future to collect them.
    Completed(i32, u32),
    /// The future was dropped in flight; `data` keeps the kernel's memory alive until the CQE.
    Ignored(Box<dyn Any>),
    /// A multishot operation with a live owner.
    Multi(Multi),
    /// A multishot operation whose owner went away; completions are cleaned up as they come.
    MultiIgnored(Cleanup),
}

pub(crate) struct Multi {
    pub(super) waker: Option<Waker>,
    results: Results,
    done: bool,
    cleanup: Cleanup,
}

/// Completions waiting for the owner, oldest first. The first one is stored inline: an idle
/// socket's receive entry then needs no heap allocation, and a busy one rarely needs more.
#[derive(Default)]
struct Results {
    first: Option<(i32, u32)>,
    // Boxed on purpose: 8 bytes in every socket's slab entry instead of VecDeque's 32.
    #[allow(clippy::box_collection)]
    rest: Option<Box<VecDeque<(i32, u32)>>>,
}

impl Results {
    fn push(&mut self, r: (i32, u32)) {
        if self.first.is_none() {
            self.first = Some(r);
        } else {
            self.rest.get_or_insert_with(Box::default).push_back(r);
        }
    }

    fn pop(&mut self) -> Option<(i32, u32)> {
        let r = self.first.take()?;
        self.first = self.rest.as_mut().and_then(|q| q.pop_front());
        Some(r)
    }
}

/// An operation's owned data, and how a raw completion becomes the caller's result.
pub(crate) trait Completable: 'static {
    type Output;
    fn complete(self, res: i32, flags: u32) -> Self::Output;
}

/// Converts a raw CQE result into `io::Result`.
pub(crate) fn cqe_result(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}

/// A single-shot operation in flight.
pub(crate) struct Op<T: Completable> {
    index: usize,
    data: Option<T>,
}

// Op never relies on being pinned: the kernel sees only heap memory owned by `data`.
impl<T: Completable> Unpin for Op<T> {}

impl<T: Completable> Op<T> {
    /// Queues `sqe` (submitted with the next enter) and returns the future for its completion.
    ///
    /// # Safety
    /// Every pointer in `sqe` must refer to memory owned by `data` that stays valid and at the
    /// same address while `data` lives, including after `data` is moved (heap or static
    /// memory), or to memory that outlives the operation.
    pub(crate) unsafe fn submit(data: T, sqe: Entry) -> Result<Self, (io::Error, T)> {
        // SAFETY: forwarded from this function's contract; the slab entry created by `push_op`
        // and the data (in this Op, or in that entry once the Op is dropped) live until the CQE.
        match with_driver(|d| unsafe { d.push_op(sqe, Lifecycle::Submitted) }) {
            Ok(index) => Ok(Op {
                index,
                data: Some(data),
            }),
            Err(e) => Err((e, data)),
        }
    }
}

impl<T: Completable> Future for Op<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        match with_driver(|d| d.poll_op(this.index, cx.waker())) {
            Some((res, flags)) => {
                let data = this.data.take().expect("Op polled after completion");
                Poll::Ready(data.complete(res, flags))
            }
            None => Poll::Pending,
        }
    }
}

impl<T: Completable> Drop for Op<T> {
    fn drop(&mut self) {
        if let Some(data) = self.data.take() {
            let garbage = super::try_with_driver(|d| d.abandon_op(self.index, Box::new(data)));
            match garbage {
                Some(done) => drop(done),
                // No runtime on this thread any more: the ring (and so the kernel's use of this
                // memory) may still be alive elsewhere in teardown, so leak rather than free.
                None => tracing::warn!("io_uring op dropped outside its runtime; leaking it"),
            }
        }
    }
}

/// A multishot operation (accept, receive) owned by a listener or stream. Completions queue up
/// in the driver until the owner polls them.
pub(crate) struct MultiOp {
    index: usize,
}

impl MultiOp {
    /// # Safety
    /// As for [`Op::submit`]: any memory `sqe` points to must outlive every completion.
    pub(crate) unsafe fn submit(sqe: Entry, cleanup: Cleanup) -> io::Result<Self> {
        let multi = Multi {
            waker: None,
            results: Results::default(),
            done: false,
            cleanup,
        };
        // SAFETY: forwarded from this function's contract.
        let index = with_driver(|d| unsafe { d.push_op(sqe, Lifecycle::Multi(multi)) })?;
        Ok(MultiOp { index })
    }

    /// The next completion; `Ready(None)` once the kernel ended the operation and every
    /// completion was taken (the owner then submits a new one).
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<(i32, u32)>> {
        with_driver(|d| d.poll_multi(self.index, cx.waker()))
    }
}

impl Drop for MultiOp {
    fn drop(&mut self) {
        if super::try_with_driver(|d| d.abandon_multi(self.index)).is_none() {
            tracing::warn!("io_uring multishot op dropped outside its runtime");
        }
    }
}

impl Driver {
    /// Next result of a multishot entry.
    fn poll_multi(&mut self, index: usize, waker: &Waker) -> Poll<Option<(i32, u32)>> {
        let Some(Lifecycle::Multi(m)) = self.ops.get_mut(index) else {
            unreachable!("multishot op {index} is not live");
        };
        if let Some(r) = m.results.pop() {
            return Poll::Ready(Some(r));
        }
        if m.done {
            return Poll::Ready(None);
        }
        match &mut m.waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        Poll::Pending
    }

    fn poll_op(&mut self, index: usize, waker: &Waker) -> Option<(i32, u32)> {
        let entry = self
            .ops
            .get_mut(index)
            .expect("op polled after it was freed");
        match entry {
            Lifecycle::Completed(res, flags) => {
                let out = (*res, *flags);
                self.ops.remove(index);
                Some(out)
            }
            Lifecycle::Submitted => {
                *entry = Lifecycle::Waiting(waker.clone());
                None
            }
            Lifecycle::Waiting(w) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                None
            }
            _ => unreachable!("single-shot op {index} in a multishot state"),
        }
    }

    /// The future for `index` went away; returns data that may be freed right now.
    fn abandon_op(&mut self, index: usize, data: Box<dyn Any>) -> Option<Box<dyn Any>> {
        match self.ops.get_mut(index) {
            Some(Lifecycle::Completed(..)) => {
                self.ops.remove(index);
                Some(data)
            }
            Some(entry) => {
                *entry = Lifecycle::Ignored(data);
                self.cancel(index);
                None
            }
            None => unreachable!("abandoned op {index} is not in the slab"),
        }
    }

    fn abandon_multi(&mut self, index: usize) {
        let Some(Lifecycle::Multi(m)) = self.ops.get_mut(index) else {
            unreachable!("multishot op {index} is not live");
        };
        let (cleanup, done) = (m.cleanup, m.done);
        let mut results = std::mem::take(&mut m.results);
        while let Some((res, flags)) = results.pop() {
            self.clean(cleanup, res, flags);
        }
        if done {
            self.ops.remove(index);
        } else {
            self.ops[index] = Lifecycle::MultiIgnored(cleanup);
            self.cancel(index);
        }
    }

    /// Routes one completion to its entry. Data of abandoned ops is moved to `garbage` so it is
    /// dropped after the driver's borrow ends.
    pub(super) fn complete(&mut self, index: usize, res: i32, flags: u32) {
        let more = io_uring::cqueue::more(flags);
        let Some(entry) = self.ops.get_mut(index) else {
            unreachable!("completion for unknown op {index}");
        };
        match entry {
            Lifecycle::Submitted => *entry = Lifecycle::Completed(res, flags),
            Lifecycle::Waiting(_) => {
                let Lifecycle::Waiting(w) =
                    std::mem::replace(entry, Lifecycle::Completed(res, flags))
                else {
                    unreachable!()
                };
                w.wake();
            }
            Lifecycle::Multi(m) => {
                m.results.push((res, flags));
                m.done |= !more;
                if let Some(w) = m.waker.take() {
                    w.wake();
                }
            }
            Lifecycle::MultiIgnored(cleanup) => {
                let cleanup = *cleanup;
                self.clean(cleanup, res, flags);
                if !more {
                    self.ops.remove(index);
                }
            }
            Lifecycle::Ignored(_) => {
                if let Some(bid) = io_uring::cqueue::buffer_select(flags) {
                    self.bufs.taken(bid);
                    self.bufs.recycle(bid);
                }
                if !more {
                    if let Lifecycle::Ignored(data) = self.ops.remove(index) {
                        self.garbage.push(data);
                    }
                }
            }
            Lifecycle::Completed(..) => unreachable!("second completion for single-shot op"),
        }
    }

    fn clean(&mut self, cleanup: Cleanup, res: i32, flags: u32) {
        if let Some(bid) = io_uring::cqueue::buffer_select(flags) {
            self.bufs.taken(bid);
            self.bufs.recycle(bid);
        }
        if cleanup == Cleanup::Fds && res >= 0 {
            // SAFETY: a successful accept completion hands us a new descriptor that nobody
            // else knows about; closing it is the only thing left to do with it.
            unsafe { libc::close(res) };
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        Backend, Runtime,
        buf::{IoBuf, IoBufMut},
        net::{TcpListener, TcpStream},
        time::sleep,
        yield_now,
    };
    use std::{cell::Cell, future::Future, rc::Rc, task::Poll, time::Duration};

    /// A buffer that records when it is freed.
    struct Tracked {
        buf: Vec<u8>,
        freed: Rc<Cell<bool>>,
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.freed.set(true);
        }
    }

    // SAFETY: delegates to the Vec, whose heap memory is stable.
    unsafe impl IoBuf for Tracked {
        fn stable_ptr(&self) -> *const u8 {
            self.buf.as_ptr()
        }
        fn bytes_init(&self) -> usize {
            self.buf.len()
        }
    }

    // SAFETY: delegates to the Vec.
    unsafe impl IoBufMut for Tracked {
        fn stable_mut_ptr(&mut self) -> *mut u8 {
            self.buf.as_mut_ptr()
        }
        fn bytes_total(&mut self) -> usize {
            self.buf.capacity()
        }
        unsafe fn set_init(&mut self, n: usize) {
            // SAFETY: forwarded from the caller.
            unsafe { self.buf.set_init(n) }
        }
    }

    #[test]
    fn an_abandoned_read_keeps_its_buffer_until_its_completion_arrives() {
        let rt = match Runtime::builder().backend(Backend::Uring).build() {
            Ok(rt) => rt,
            Err(e) => return eprintln!("SKIPPED: {e}"),
        };
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let _client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let server = l.accept().await.unwrap();
            let freed = Rc::new(Cell::new(false));
            let tracked = Tracked {
                buf: Vec::with_capacity(64),
                freed: freed.clone(),
            };
            let mut read = Box::pin(server.read(tracked));
            let first =
                std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx).is_pending())).await;
            assert!(first, "nothing was sent, so the read must be in flight");
            yield_now().await; // one loop turn: the SQE reaches the kernel
            drop(read);
            assert!(
                !freed.get(),
                "buffer freed while the kernel could still write into it"
            );
            sleep(Duration::from_millis(20)).await; // the cancel's completion comes back
            assert!(freed.get(), "buffer released once its completion arrived");
            let abandoned = crate::sys::uring::with_driver(|d| {
                d.ops
                    .iter()
                    .filter(|(_, e)| matches!(e, super::Lifecycle::Ignored(_)))
                    .count()
            });
            assert_eq!(abandoned, 0, "the abandoned op's slab entry was freed");
        });
    }
}

#[cfg(test)]
mod size_tests {
    /// Every socket with an armed multishot receive keeps one of these in the driver's slab.
    #[test]
    fn a_slab_entry_stays_small() {
        let size = std::mem::size_of::<super::Lifecycle>();
        eprintln!("Lifecycle {size} B");
        assert!(size <= 48, "Lifecycle grew to {size} bytes");
    }
}
