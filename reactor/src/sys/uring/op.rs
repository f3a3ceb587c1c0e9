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

impl Lifecycle {
    /// Whether the kernel may still post a completion for this entry (and so may still use
    /// its memory).
    pub(super) fn awaits_kernel(&self) -> bool {
        match self {
            Lifecycle::Completed(..) => false,
            Lifecycle::Multi(m) => !m.done,
            _ => true,
        }
    }
}

pub(crate) struct Multi {
    pub(super) waker: Option<Waker>,
    results: Results,
    done: bool,
    cleanup: Cleanup,
    /// The driver cancelled this receive because it holds its share of the buffer ring
    /// (see `complete`): its ECANCELED end is then not reported, and the owner re-arms.
    share_cancelled: bool,
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

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.as_ref().map_or(0, |q| q.len())
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
    key: OpKey,
    data: Option<T>,
    _core: crate::CoreBound,
}

/// Where an op lives: its ring (a process-unique id) and its entry in that ring's slab. An
/// entry is only ever touched through the ring that created it: handles are `!Send`, but a
/// thread may run one runtime after another, and a stream made under one must not reach into
/// the slab of the next (where its index names somebody else's operation).
#[derive(Clone, Copy)]
struct OpKey {
    ring: u32,
    index: u32,
}

impl OpKey {
    fn new(d: &Driver, index: usize) -> Self {
        OpKey {
            ring: d.id,
            index: u32::try_from(index).expect("more than 4 billion io_uring ops in flight"),
        }
    }

    fn index(self) -> usize {
        self.index as usize
    }

    /// Runs `f` on this op's driver; panics if the current runtime is another one.
    fn with<R>(self, f: impl FnOnce(&mut Driver) -> R) -> R {
        with_driver(|d| {
            assert!(
                d.id == self.ring,
                "io_uring operation used under a runtime other than the one that created it"
            );
            f(d)
        })
    }

    /// Runs `f` on this op's driver, or returns `None` if it is not the current runtime's.
    fn try_with<R>(self, f: impl FnOnce(&mut Driver) -> R) -> Option<R> {
        super::try_with_driver(|d| (d.id == self.ring).then(|| f(d))).flatten()
    }
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
        let pushed = with_driver(|d| {
            // SAFETY: forwarded from this function's contract; the slab entry created by
            // `push_op` and the data (in this Op, or in that entry once the Op is dropped) live
            // until the CQE.
            let index = unsafe { d.push_op(sqe, Lifecycle::Submitted) }?;
            Ok(OpKey::new(d, index))
        });
        match pushed {
            Ok(key) => Ok(Op {
                key,
                data: Some(data),
                _core: crate::CoreBound::default(),
            }),
            Err(e) => Err((e, data)),
        }
    }
}

impl<T: Completable> Future for Op<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        let key = this.key;
        match key.with(|d| d.poll_op(key.index(), cx.waker())) {
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
            let key = self.key;
            let garbage = key.try_with(|d| d.abandon_op(key.index(), Box::new(data)));
            match garbage {
                Some(done) => drop(done),
                // Not under its own runtime: that ring (and so the kernel's use of this
                // memory) may still be alive, so leak rather than free.
                None => tracing::warn!("io_uring op dropped outside its runtime; leaking it"),
            }
        }
    }
}

/// A multishot operation (accept, receive) owned by a listener or stream. Completions queue up
/// in the driver until the owner polls them.
pub(crate) struct MultiOp {
    key: OpKey,
    _core: crate::CoreBound,
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
            share_cancelled: false,
        };
        let key = with_driver(|d| -> io::Result<OpKey> {
            // SAFETY: forwarded from this function's contract.
            let index = unsafe { d.push_op(sqe, Lifecycle::Multi(multi)) }?;
            Ok(OpKey::new(d, index))
        })?;
        Ok(MultiOp {
            key,
            _core: crate::CoreBound::default(),
        })
    }

    /// Asks the kernel to end the operation; completions that were already queued, and the
    /// final one (ECANCELED, or the real result if it won the race), still come through
    /// [`MultiOp::poll_next`]. Harmless if the kernel had already ended it.
    pub(crate) fn cancel(&self) {
        let key = self.key;
        key.with(|d| d.cancel(key.index()));
    }

    /// The next completion; `Ready(None)` once the kernel ended the operation and every
    /// completion was taken (the owner then submits a new one).
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<(i32, u32)>> {
        let key = self.key;
        key.with(|d| d.poll_multi(key.index(), cx.waker()))
    }
}

impl Drop for MultiOp {
    fn drop(&mut self) {
        let key = self.key;
        if key.try_with(|d| d.abandon_multi(key.index())).is_none() {
            // Its entry stays in its own ring's slab, and its completions (provided buffers,
            // accepted descriptors) with it, until that runtime is dropped.
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
        if io_uring::cqueue::buffer_select(flags).is_some() {
            self.bufs.delivered();
        }
        let per_receiver = self.bufs.per_receiver();
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
                // The end of a receive the driver cancelled for its share is not an error:
                // it ends like a multishot the kernel stopped, and the owner re-arms once it
                // has consumed what is queued. Any other ECANCELED (a cancel-all, teardown, a
                // cancel by descriptor) reaches the owner and ends its receive.
                let share_end = m.share_cancelled
                    && !more
                    && res == -libc::ECANCELED
                    && io_uring::cqueue::buffer_select(flags).is_none();
                if !share_end {
                    m.results.push((res, flags));
                }
                m.done |= !more;
                if let Some(w) = m.waker.take() {
                    w.wake();
                }
                // A receiver whose owner does not consume may hold only its share of the
                // ring (see `BufRing::per_receiver`); its owner re-arms once it drained.
                if more
                    && m.cleanup == Cleanup::Buffers
                    && !m.share_cancelled
                    && m.results.len() >= per_receiver
                {
                    m.share_cancelled = true;
                    if !self.cancel(index) {
                        // Not queued: the next completion tries again.
                        if let Some(Lifecycle::Multi(m)) = self.ops.get_mut(index) {
                            m.share_cancelled = false;
                        }
                    }
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
                    // SAFETY: this completion handed `bid` over and goes nowhere else.
                    self.bufs.recycle(unsafe { self.bufs.claim(bid) });
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
            // SAFETY: every caller passes a completion that nobody will see again (just reaped
            // for an abandoned op, or popped from an abandoned op's queue), so its slot is
            // claimed once, here.
            self.bufs.recycle(unsafe { self.bufs.claim(bid) });
        }
        if cleanup == Cleanup::Fds && res >= 0 {
            // SAFETY: a successful accept completion hands us a new descriptor that nobody
            // else knows about; closing it is the only thing left to do with it.
            unsafe { libc::close(res) };
        }
    }
}

#[cfg(test)]
#[path = "op_tests.rs"]
mod tests;
