//! The io_uring backend: one ring per core, one `io_uring_enter` per loop turn.
//!
//! Operations queue SQEs as tasks run; the loop's park submits them all and reaps every
//! completion in the same system call. The ring is set up `SINGLE_ISSUER | DEFER_TASKRUN`, so
//! completion work runs only when we ask for events, and with `TASKRUN_FLAG`, so a busy loop
//! with nothing to submit can see that no completions are waiting without entering the kernel.

mod op;
mod probe;
mod stale;
#[cfg(test)]
mod stale_tests;

pub(crate) use op::{Cleanup, Completable, MultiOp, Op, cqe_result};

use crate::{buf::ring::BufRing, runtime::context};
use io_uring::{IoUring, opcode, squeue::Entry, types};
use op::Lifecycle;
use slab::Slab;
use std::{
    any::Any,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

/// user_data of completions nobody waits for (cancel requests, closes from `Drop`).
const IGNORE: u64 = u64::MAX;
/// user_data of the eventfd read that wakes the ring from other threads.
const WAKE: u64 = u64::MAX - 1;
/// The buffer group id of the per-core provided-buffer ring.
const BGID: u16 = 0;
/// Most io-wq kernel threads per ring, for each of the bounded (regular files) and unbounded
/// (pipes, sockets) kinds. Only splices (file transfer) run there, none of them blocks for
/// long (see `sys::op::sendfile`), and more work simply queues. The kernel's default would be
/// up to `RLIMIT_NPROC` unbounded workers.
const IOWQ_MAX_WORKERS: u32 = 4;
/// `IORING_ENTER_GETEVENTS` from the kernel ABI (`include/uapi/linux/io_uring.h`); the crate
/// keeps its flag type private.
const ENTER_GETEVENTS: u32 = 1;
/// How many times `push` flushes the submission queue to the kernel (reaping completions in
/// between, which is what lets a kernel that answered EBUSY take more) before it gives up.
const PUSH_ATTEMPTS: usize = 8;

/// Ring geometry chosen by the runtime builder.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) entries: u32,
    pub(crate) recv_buffers: u16,
    pub(crate) recv_buffer_size: u32,
    pub(crate) forced_unavailable: Option<String>,
    pub(crate) capacity: usize,
}

/// Counters for the metrics endpoint ("submissions per syscall").
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) enters: u64,
    pub(crate) submitted: u64,
    pub(crate) completions: u64,
}

pub(crate) struct Driver {
    /// Process-unique id of this ring: ops remember it (see `op::OpKey`).
    pub(crate) id: u32,
    ring: IoUring,
    ops: Slab<Lifecycle>,
    pub(crate) bufs: Rc<BufRing>,
    wake_fd: Arc<OwnedFd>,
    wake_buf: Box<u64>,
    wake_armed: bool,
    garbage: Vec<Box<dyn Any>>,
    /// Descriptors whose close could not be queued (see `close_fd`): closed directly once
    /// the submission queue is empty.
    deferred_close: Vec<RawFd>,
    /// Counted in `stale`: SQEs were queued that no `io_uring_enter` has taken yet.
    stale: bool,
    pub(crate) counters: Counters,
}

impl Driver {
    /// Builds the ring and its buffer ring, or says why io_uring cannot be used.
    pub(crate) fn new(cfg: &Config) -> Result<Self, String> {
        let ring = probe::build_ring(cfg.entries, cfg.forced_unavailable.as_deref())?;
        let bufs = BufRing::new(cfg.recv_buffers, cfg.recv_buffer_size, BGID)
            .map_err(|e| format!("cannot map the provided-buffer ring: {e}"))?;
        // SAFETY: the ring memory is owned by `bufs`, which the driver keeps alive (Rc) until
        // after the ring itself is closed in `Drop`.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                bufs.ring_addr(),
                bufs.entries(),
                bufs.bgid(),
                0,
            )
        }
        .map_err(|e| format!("cannot register a provided-buffer ring (needs Linux 5.19): {e}"))?;
        if let Err(e) = ring
            .submitter()
            .register_iowq_max_workers(&mut [IOWQ_MAX_WORKERS; 2])
        {
            tracing::warn!("cannot bound io_uring's worker threads (needs Linux 5.15): {e}");
        }
        let wake_fd = super::unix::eventfd().map_err(|e| format!("eventfd: {e}"))?;
        use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
        static NEXT_ID: AtomicU32 = AtomicU32::new(1);
        // Never exhausted in practice (4 billion rings); refusing then keeps ids unique.
        let id = NEXT_ID
            .fetch_update(Relaxed, Relaxed, |n| n.checked_add(1))
            .map_err(|_| "io_uring ring ids exhausted in this process".to_string())?;
        Ok(Driver {
            id,
            ring,
            ops: Slab::with_capacity(cfg.capacity),
            bufs: Rc::new(bufs),
            wake_fd: Arc::new(wake_fd),
            wake_buf: Box::new(0),
            wake_armed: false,
            garbage: Vec::new(),
            deferred_close: Vec::new(),
            stale: false,
            counters: Counters::default(),
        })
    }

    /// The eventfd other threads write to wake this ring.
    pub(crate) fn wake_fd(&self) -> Arc<OwnedFd> {
        self.wake_fd.clone()
    }

    /// Queues an SQE for `entry`, flushing the queue to the kernel if it is full.
    ///
    /// # Safety
    /// The SQE's pointers must satisfy [`Op::submit`]'s contract.
    unsafe fn push_op(&mut self, sqe: Entry, entry: Lifecycle) -> io::Result<usize> {
        let index = self.ops.insert(entry);
        // SAFETY: forwarded from the caller.
        if let Err(e) = unsafe { self.push(&sqe.user_data(index as u64)) } {
            self.ops.remove(index);
            return Err(e);
        }
        Ok(index)
    }

    /// Queues `sqe`. When the submission queue is full, hands it to the kernel and reaps the
    /// completions that are waiting (a kernel whose completion queue overflowed answers EBUSY
    /// until they are), a bounded number of times; then fails rather than spin.
    ///
    /// # Safety
    /// Pointers in `sqe` must stay valid until its completion (see [`Op::submit`]).
    unsafe fn push(&mut self, sqe: &Entry) -> io::Result<()> {
        for _ in 0..PUSH_ATTEMPTS {
            // SAFETY: forwarded from the caller.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                if !self.stale {
                    self.stale = true;
                    stale::mark();
                }
                return Ok(());
            }
            // The queue is full: hand what we have to the kernel, and take its completions so
            // that it has room to accept more.
            self.enter(0, None)?;
            self.reap();
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "io_uring submission queue stays full: the kernel takes no more submissions",
        ))
    }

    /// Asks the kernel to cancel op `index`; its completion still arrives (as ECANCELED or as
    /// the real result, if it won the race). False if the request could not be queued.
    fn cancel(&mut self, index: usize) -> bool {
        let sqe = opcode::AsyncCancel::new(index as u64)
            .build()
            .user_data(IGNORE);
        // SAFETY: a cancel request carries no pointers.
        if let Err(e) = unsafe { self.push(&sqe) } {
            tracing::warn!("cannot queue io_uring cancel: {e}");
            return false;
        }
        true
    }

    /// Closes `fd` through the ring, so it is ordered after every SQE already queued for it.
    /// If the ring cannot take the close now, the descriptor waits in `deferred_close` until
    /// the submission queue is empty (`close_deferred`): closing it earlier could let its
    /// number be reused while SQEs naming it are still queued, and they would then act on
    /// whatever file got that number.
    pub(crate) fn close_fd(&mut self, fd: RawFd) {
        if !self.orders_closes() {
            // Another ring of this thread still has SQEs queued (its `block_on` could not
            // flush them), and they may name `fd`: our CLOSE would not be ordered after them.
            stale::park(fd);
            return;
        }
        let sqe = opcode::Close::new(types::Fd(fd)).build().user_data(IGNORE);
        // SAFETY: a close request carries no pointers.
        if let Err(e) = unsafe { self.push(&sqe) } {
            tracing::warn!("cannot queue an io_uring close ({e}); closing after the next submit");
            self.deferred_close.push(fd);
            self.close_deferred();
        }
    }

    /// Whether a CLOSE queued on this ring now is ordered after every SQE of this thread that
    /// can name its descriptor: false while another ring of this thread still has SQEs
    /// queued (its `block_on` could not flush them; see `stale`).
    pub(crate) fn orders_closes(&self) -> bool {
        stale::stale_rings() == Some(usize::from(self.stale))
    }

    /// Closes the descriptors of `deferred_close` directly, if no SQE is left in the
    /// submission queue.
    fn close_deferred(&mut self) {
        if self.deferred_close.is_empty() || !self.ring.submission().is_empty() {
            return;
        }
        for fd in std::mem::take(&mut self.deferred_close) {
            // SAFETY: `fd` was owned by a UringFd (which never leaves this thread) and handed
            // over to `close_fd` or `stale::park`; nobody else closes it. This ring's
            // submission queue is empty, and a descriptor from `stale::park` reaches this
            // list only once no other ring of this thread has SQEs queued (`settle`), so every
            // SQE that can name `fd` has been taken by the kernel: the same point at which the
            // ring's own CLOSE would have run.
            unsafe { libc::close(fd) };
        }
    }

    /// Hands every queued SQE to the kernel now (the runtime does this when `block_on`
    /// returns, so no SQE waits in the queue while no loop runs).
    pub(crate) fn flush(&mut self) {
        if !self.ring.submission().is_empty() {
            if let Err(e) = self.enter(0, None) {
                tracing::warn!("cannot submit queued io_uring work: {e}");
            }
            self.reap();
        }
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        if self.wake_armed {
            return Ok(());
        }
        let ptr: *mut u64 = &mut *self.wake_buf;
        let sqe = opcode::Read::new(types::Fd(self.wake_fd.as_raw_fd()), ptr.cast(), 8)
            .build()
            .user_data(WAKE);
        // SAFETY: `wake_buf` is a Box owned by the driver; `Drop` waits for this read's
        // completion (or leaks the box) before freeing it.
        unsafe { self.push(&sqe) }?;
        self.wake_armed = true;
        Ok(())
    }

    /// Submits everything queued and reaps completions, waiting up to `timeout` (`None`:
    /// forever) if nothing has completed yet. Returns how long it slept in the kernel.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<Duration> {
        self.arm_wake()?;
        let mut slept = Duration::ZERO;
        let busy = timeout.is_some_and(|t| t.is_zero()) || !self.ring.completion().is_empty();
        if busy {
            // Enter only if there is something to submit or completion work is waiting: a
            // busy loop with neither costs no system call at all.
            let sq = self.ring.submission();
            let pending = !sq.is_empty() || sq.taskrun() || sq.cq_overflow();
            drop(sq);
            if pending {
                self.enter(0, None)?;
            }
        } else {
            let start = Instant::now();
            self.enter(1, timeout)?;
            slept = start.elapsed();
        }
        self.reap();
        Ok(slept)
    }

    fn enter(&mut self, want: usize, timeout: Option<Duration>) -> io::Result<()> {
        self.counters.enters += 1;
        let res = match timeout {
            Some(t) if want > 0 => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(want, &args)
            }
            _ => {
                // GETEVENTS runs the deferred completion work even when nothing is submitted or
                // awaited.
                let to_submit = self.ring.submission().len() as u32;
                let flags = ENTER_GETEVENTS;
                // SAFETY: plain io_uring_enter with no argument structure; every queued SQE
                // already satisfies Op::submit's contract.
                unsafe {
                    self.ring.submitter().enter::<libc::sigset_t>(
                        to_submit,
                        want as u32,
                        flags,
                        None,
                    )
                }
            }
        };
        self.settle();
        self.close_deferred();
        match res {
            Ok(n) => {
                self.counters.submitted += n as u64;
                Ok(())
            }
            Err(e) => match e.raw_os_error() {
                // Timed out, interrupted by a signal, or completions must be reaped first.
                Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN) => Ok(()),
                _ => Err(e),
            },
        }
    }

    /// Once the kernel has taken every queued SQE, stops counting this ring in `stale`; the
    /// descriptors parked there come back when no ring of this thread is counted any more,
    /// and `close_deferred` closes them.
    fn settle(&mut self) {
        if self.stale && self.ring.submission().is_empty() {
            self.stale = false;
            self.deferred_close.extend(stale::unmark());
        }
    }

    fn reap(&mut self) {
        loop {
            let mut cq = self.ring.completion();
            if cq.is_empty() {
                return;
            }
            let batch: Vec<(u64, i32, u32)> = cq
                .by_ref()
                .map(|c| (c.user_data(), c.result(), c.flags()))
                .collect();
            drop(cq);
            for (user_data, res, flags) in batch {
                self.counters.completions += 1;
                match user_data {
                    IGNORE => {}
                    WAKE => self.wake_armed = false,
                    index => self.complete(index as usize, res, flags),
                }
            }
        }
    }

    /// Data of abandoned ops whose completion arrived; dropped by the caller outside the
    /// driver's borrow.
    pub(crate) fn take_garbage(&mut self) -> Vec<Box<dyn Any>> {
        std::mem::take(&mut self.garbage)
    }

    /// Wakers of every op still waiting: teardown drops them to release the tasks they hold.
    pub(crate) fn take_wakers(&mut self) -> Vec<std::task::Waker> {
        let mut out = Vec::new();
        for (_, entry) in self.ops.iter_mut() {
            match entry {
                Lifecycle::Waiting(_) => {
                    if let Lifecycle::Waiting(w) = std::mem::replace(entry, Lifecycle::Submitted) {
                        out.push(w);
                    }
                }
                Lifecycle::Multi(m) => out.extend(m.waker.take()),
                _ => {}
            }
        }
        out
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Memory the kernel may still write into must not be freed under it: cancel everything
        // and wait for the completions, and leak whatever does not come back in time.
        let sqe = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(IGNORE);
        // SAFETY: a cancel request carries no pointers.
        let _ = unsafe { self.push(&sqe) };
        let deadline = Instant::now() + Duration::from_secs(2);
        let in_flight = |d: &Self| d.wake_armed || d.ops.iter().any(|(_, e)| e.awaits_kernel());
        while in_flight(self) && Instant::now() < deadline {
            if self.enter(1, Some(Duration::from_millis(10))).is_err() {
                break;
            }
            self.reap();
            self.garbage.clear();
        }
        if in_flight(self) {
            tracing::error!(
                "{} io_uring ops still in flight at shutdown; leaking their memory",
                self.ops.len()
            );
            std::mem::forget(std::mem::take(&mut self.ops));
            std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
        }
        for fd in std::mem::take(&mut self.deferred_close) {
            // SAFETY: we own `fd` (see `close_fd`), and no io_uring_enter follows on this ring
            // (it is closed right after this), so no SQE still queued can ever act on it.
            unsafe { libc::close(fd) };
        }
        if self.stale {
            // This ring closes right after: whatever is still queued in it never runs.
            for fd in stale::unmark() {
                // SAFETY: `fd` was parked by a UringFd that owned it (`stale::park`), and
                // `unmark` returns it only now that no ring of this thread is counted as
                // having SQEs queued: none can name it any more.
                unsafe { libc::close(fd) };
            }
        }
        let _ = self.ring.submitter().unregister_buf_ring(BGID);
    }
}

/// Runs `f` on the current runtime's io_uring driver.
pub(crate) fn with_driver<R>(f: impl FnOnce(&mut Driver) -> R) -> R {
    try_with_driver(f).expect("io_uring operation outside an io_uring runtime")
}

/// Like [`with_driver`], but `None` when no io_uring runtime runs on this thread.
pub(crate) fn try_with_driver<R>(f: impl FnOnce(&mut Driver) -> R) -> Option<R> {
    context::try_with(|cx| match &mut *cx.driver.borrow_mut() {
        crate::driver::Driver::Uring(d) => Some(f(d)),
        _ => None,
    })
    .flatten()
}

/// An owned descriptor of a socket driven by io_uring; closed through the ring on drop.
#[derive(Debug)]
pub(crate) struct UringFd {
    fd: RawFd,
    // Closed through this thread's ring on drop: never moved to another thread.
    _core: crate::CoreBound,
}

impl UringFd {
    pub(crate) fn new(fd: OwnedFd) -> Self {
        use std::os::fd::IntoRawFd;
        UringFd {
            fd: fd.into_raw_fd(),
            _core: crate::CoreBound::default(),
        }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd
    }

    /// Gives up ownership without closing.
    pub(crate) fn into_owned(self) -> OwnedFd {
        let fd = self.fd;
        std::mem::forget(self);
        // SAFETY: we owned `fd` and just gave up our claim on it without closing it.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }
}

impl Drop for UringFd {
    fn drop(&mut self) {
        let fd = self.fd;
        if try_with_driver(|d| d.close_fd(fd)).is_some() {
            return;
        }
        if stale::stale_rings() == Some(0) {
            // SAFETY: we own `fd`, and any SQE naming it was queued on this thread (a UringFd
            // is `!Send`). Every ring counts itself in `stale` from its first queued SQE
            // until the kernel has taken them all, so a count of zero means no ring of this
            // thread holds an SQE that could name `fd` when its number is reused.
            unsafe { libc::close(fd) };
        } else {
            // A ring's `block_on` returned without flushing (EBUSY, or a panic): close `fd`
            // only once that ring's queue has been taken (or the ring dropped).
            stale::park(fd);
        }
    }
}

impl std::os::fd::AsFd for UringFd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: `fd` is open for as long as `self` lives: only `Drop` and `into_owned`
        // (which consumes `self`) give it up.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) }
    }
}
