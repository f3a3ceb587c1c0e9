//! The per-core runtime: a run queue, a driver, timers, and the loop that turns them.

pub(crate) mod context;
mod shared;
mod stats;
mod task;

pub use shared::Handle;
pub use stats::LoopStats;
pub use task::{JoinError, JoinHandle, spawn_local, yield_now};

use crate::{
    Backend, BackendKind, Error, Selection,
    buf::BufPool,
    driver::{Driver, DriverConfig},
    time::Timers,
};
use context::Context;
use shared::Shared;
use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    future::Future,
    pin::pin,
    rc::Rc,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Poll, Wake, Waker},
    time::{Duration, Instant},
};

/// Configures and builds a [`Runtime`].
#[derive(Debug, Clone)]
pub struct Builder {
    backend: Backend,
    entries: u32,
    recv_buffers: u16,
    recv_buffer_size: u32,
    pool_max_free: usize,
    budget: usize,
    forced_unavailable: Option<String>,
    capacity: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            backend: Backend::Auto,
            entries: 1024,
            recv_buffers: 512,
            recv_buffer_size: 4096,
            pool_max_free: 256,
            budget: 128,
            forced_unavailable: None,
            capacity: 1024,
        }
    }
}

impl Builder {
    /// Which backend to use (default [`Backend::Auto`]).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// io_uring submission queue size (default 1024; the completion queue is 4x). Saturates:
    /// values below 8 mean 8, and the kernel clamps values above its maximum (32768).
    pub fn ring_entries(mut self, entries: u32) -> Self {
        self.entries = entries.max(8);
        self
    }

    /// Receive buffers: how many (io_uring's provided-buffer ring, default 512; rounded up to
    /// a power of two) and how large (default 4096 bytes, also the pooled buffer size on
    /// epoll). [`build`](Builder::build) rejects a count of 0 or above
    /// [`MAX_RECV_BUFFERS`](Builder::MAX_RECV_BUFFERS) (the kernel's ring holds at most
    /// 32768) and a size above [`MAX_RECV_BUFFER_SIZE`](Builder::MAX_RECV_BUFFER_SIZE);
    /// sizes below 64 bytes mean 64.
    pub fn recv_buffers(mut self, count: u16, size: u32) -> Self {
        self.recv_buffers = count;
        self.recv_buffer_size = size.max(64);
        self
    }

    /// The most provided receive buffers per core: the kernel's buffer-ring limit (its ring
    /// index is 16 bits, and the ring size must be a power of two).
    pub const MAX_RECV_BUFFERS: u16 = 1 << 15;

    /// The largest receive buffer: 16 MiB. A receive's result must fit the completion's 32-bit
    /// field with room to spare, and the whole ring (count x size) is mapped up front.
    pub const MAX_RECV_BUFFER_SIZE: u32 = 1 << 24;

    /// Checks the values that end up in fixed-width kernel fields.
    fn validate(&self) -> Result<(), Error> {
        if self.recv_buffers == 0 || self.recv_buffers > Self::MAX_RECV_BUFFERS {
            return Err(Error::Config(format!(
                "recv_buffers = {}: the provided-buffer ring holds 1 to {} buffers",
                self.recv_buffers,
                Self::MAX_RECV_BUFFERS
            )));
        }
        if self.recv_buffer_size > Self::MAX_RECV_BUFFER_SIZE {
            return Err(Error::Config(format!(
                "recv_buffer_size = {} bytes: at most {} bytes (16 MiB)",
                self.recv_buffer_size,
                Self::MAX_RECV_BUFFER_SIZE
            )));
        }
        Ok(())
    }

    /// Sockets and tasks the runtime expects at most (default 1024). Its per-socket tables are
    /// allocated at this size up front: a table that grows leaves its old copy in the
    /// allocator, still resident, so growing under load costs memory that never comes back.
    /// Only entries in use are touched, so a generous value costs address space, not memory.
    pub fn expected_sockets(mut self, n: usize) -> Self {
        self.capacity = n.clamp(16, 1 << 24);
        self
    }

    /// How many tasks run before the loop checks for I/O again (default 128).
    pub fn budget(mut self, tasks: usize) -> Self {
        self.budget = tasks.max(1);
        self
    }

    /// Makes the io_uring probe fail with `reason`, as if the kernel refused it. For tests of
    /// the fallback, and for operators who must keep io_uring off one deployment (the
    /// `RINGWIRE_URING_UNAVAILABLE` environment variable does the same).
    pub fn simulate_uring_unavailable(mut self, reason: impl Into<String>) -> Self {
        self.forced_unavailable = Some(reason.into());
        self
    }

    /// Builds the runtime on the calling thread.
    ///
    /// # Errors
    /// [`Error::Config`] for a setting out of range (see [`recv_buffers`](Builder::recv_buffers)),
    /// [`Error::UringUnavailable`] when [`Backend::Uring`] cannot be had, [`Error::Io`] when
    /// the readiness backend cannot be set up.
    pub fn build(self) -> Result<Runtime, Error> {
        self.validate()?;
        let cfg = DriverConfig {
            entries: self.entries,
            // In range (validated): 1..=32768 rounds up to a power of two within u16.
            recv_buffers: self.recv_buffers.next_power_of_two(),
            recv_buffer_size: self.recv_buffer_size,
            forced_unavailable: self.forced_unavailable,
            capacity: self.capacity,
        };
        let (driver, selection) = Driver::new(self.backend, &cfg)?;
        let shared = Arc::new(Shared::new(driver.unparker()));
        let now = Instant::now();
        let counters = stats::Counters::default();
        counters.started.set(Some(now));
        let cx = Rc::new(Context {
            driver: RefCell::new(driver),
            queue: RefCell::new(VecDeque::with_capacity(256)),
            tasks: RefCell::new(slab::Slab::with_capacity(self.capacity)),
            timers: RefCell::new(Timers::default()),
            clock: Cell::new(now),
            shared,
            pool: Rc::new(BufPool::new(
                self.recv_buffer_size as usize,
                self.pool_max_free,
            )),
            selection,
            counters,
        });
        Ok(Runtime {
            cx,
            budget: self.budget,
        })
    }
}

/// A single-threaded runtime. Build one per core; it is `!Send`.
pub struct Runtime {
    cx: Rc<Context>,
    budget: usize,
}

impl Runtime {
    /// A builder with the defaults.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A runtime with the default settings and [`Backend::Auto`].
    pub fn new() -> Result<Runtime, Error> {
        Builder::default().build()
    }

    /// The backend this runtime got, and why.
    pub fn backend(&self) -> &Selection {
        &self.cx.selection
    }

    /// A `Send` handle to run closures on this runtime from other threads.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.cx.shared.clone(),
        }
    }

    /// Runs `future` to completion on this thread, driving every task spawned meanwhile.
    ///
    /// On Linux, SIGPIPE is blocked on this thread meanwhile (and any left pending is taken
    /// before it is unblocked): a transfer to a peer that has gone fails with EPIPE instead
    /// of killing a process that keeps SIGPIPE's default disposition.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _enter = context::enter(self.cx.clone());
        #[cfg(target_os = "linux")]
        let _sigpipe = crate::sys::unix::SigpipeBlocked::new();
        let _flush = FlushOnExit(&self.cx);
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            shared: self.cx.shared.clone(),
        });
        let waker = Waker::from(main.clone());
        let mut task_cx = std::task::Context::from_waker(&waker);
        let mut future = pin!(future);
        let cx = &*self.cx;
        loop {
            if main.woken.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(out) = future.as_mut().poll(&mut task_cx) {
                    return out;
                }
            }
            let ran = self.run_tasks(cx);
            stats::bump(&cx.counters.tasks_polled, ran as u64);
            cx.shared.clear_notified();
            while let Some(r) = cx.shared.try_recv_task() {
                cx.queue.borrow_mut().push_back(r);
            }
            while let Some(job) = cx.shared.try_recv_job() {
                task::run_job(job);
            }
            let busy = !cx.queue.borrow().is_empty() || main.woken.load(Ordering::Acquire);
            let timeout = if busy {
                Some(Duration::ZERO)
            } else {
                cx.timers
                    .borrow()
                    .next_deadline()
                    .map(|d| d.saturating_duration_since(cx.clock.get()))
            };
            self.park(cx, timeout);
        }
    }

    /// Runs the tasks queued when the batch starts (at most `budget`). Tasks woken during the
    /// batch, a yielding task included, wait for the next turn, after the main future and the
    /// driver have had theirs.
    fn run_tasks(&self, cx: &Context) -> usize {
        let n = cx.queue.borrow().len().min(self.budget);
        for _ in 0..n {
            let Some(runnable) = cx.queue.borrow_mut().pop_front() else {
                return n;
            };
            runnable.run();
        }
        n
    }

    fn park(&self, cx: &Context, timeout: Option<Duration>) {
        stats::bump(&cx.counters.iterations, 1);
        let turn_started = cx.clock.get();
        let (res, garbage) = {
            let mut driver = cx.driver.borrow_mut();
            let res = driver.park(timeout);
            (res, driver.take_garbage())
        };
        drop(garbage);
        let mut slept = Duration::ZERO;
        match res {
            Ok(parked) => {
                slept = parked;
                stats::bump(&cx.counters.parked_ns, parked.as_nanos() as u64);
            }
            Err(e) => {
                // A driver error here means the ring or epoll instance itself is broken; retrying
                // in a tight loop would only burn the core.
                tracing::error!("I/O driver failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let now = Instant::now();
        // The turn that just ended ran this long before parking: what the events this turn
        // serves waited, at least (no extra clock read: the driver measured its own sleep).
        // The first turn also ran the set-up before the loop started (a store opened, a pool
        // connected): not a queueing delay.
        let busy = if cx.counters.iterations.get() == 1 {
            Duration::ZERO
        } else {
            now.saturating_duration_since(turn_started)
                .saturating_sub(slept)
        };
        cx.counters
            .last_turn_ns
            .set(u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX));
        cx.clock.set(now);
        let expired = cx.timers.borrow_mut().expire(now);
        for w in expired {
            w.wake();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Tear down on this thread, in order: every task's future is dropped first (their
        // in-flight operations move their buffers into the driver), then the driver waits for
        // the kernel to hand those buffers back.
        let _enter = context::enter(self.cx.clone());
        let cx = &*self.cx;
        cx.shared.close();
        loop {
            let mut dropped = 0;
            loop {
                let next = cx.queue.borrow_mut().pop_front();
                let Some(r) = next else { break };
                drop(r);
                dropped += 1;
            }
            while let Some(r) = cx.shared.try_recv_task() {
                drop(r);
                dropped += 1;
            }
            while cx.shared.try_recv_job().is_some() {}
            let mut wakers = cx.driver.borrow_mut().take_wakers();
            wakers.extend(cx.timers.borrow_mut().take_wakers());
            // Waking a live task schedules it here, and the next round drops it unpolled.
            let live: Vec<Waker> = cx.tasks.borrow_mut().drain().collect();
            for w in &live {
                w.wake_by_ref();
            }
            wakers.extend(live);
            let woke = wakers.len();
            drop(wakers);
            if dropped == 0 && woke == 0 && cx.queue.borrow().is_empty() {
                break;
            }
        }
    }
}

/// Submits the SQEs still queued when `block_on` returns (or unwinds), so that descriptors
/// dropped outside a runtime can be closed directly. Soundness does not rest on it: a ring
/// whose queue is not taken (the flush fails, or is skipped) stays counted as holding SQEs,
/// and such descriptors wait until it is flushed or dropped (`sys::uring::stale`).
struct FlushOnExit<'a>(&'a Context);

impl Drop for FlushOnExit<'_> {
    fn drop(&mut self) {
        // A panic inside the driver leaves it borrowed: nothing can be submitted then.
        if let Ok(mut driver) = self.0.driver.try_borrow_mut() {
            driver.flush();
        }
    }
}

struct MainWaker {
    woken: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if context::current_id() != self.shared.id {
            self.shared.notify();
        }
    }
}

/// A handle to the runtime running on this thread.
///
/// # Panics
/// Outside a runtime.
pub fn handle() -> Handle {
    context::with(|cx| Handle {
        shared: cx.shared.clone(),
    })
}

/// The backend of the runtime running on this thread, if any.
pub fn current_backend() -> Option<BackendKind> {
    context::try_with(|cx| cx.selection.kind)
}

/// How long the current core's previous loop turn ran tasks before it parked: events handled
/// in this turn (a request, a new connection) waited at least that long. Zero outside a
/// runtime. What overload shedding reads on every request.
pub fn last_turn() -> Duration {
    context::try_with(|cx| Duration::from_nanos(cx.counters.last_turn_ns.get())).unwrap_or_default()
}

/// A snapshot of this core's event-loop counters.
///
/// # Panics
/// Outside a runtime.
pub fn loop_stats() -> LoopStats {
    context::with(|cx| {
        let d = cx.driver.borrow().counters();
        let c = &cx.counters;
        let uptime = c
            .started
            .get()
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        LoopStats {
            backend: cx.selection.kind,
            iterations: c.iterations.get(),
            tasks_polled: c.tasks_polled.get(),
            parked_seconds: c.parked_ns.get() as f64 / 1e9,
            uptime_seconds: uptime,
            syscalls: d.syscalls,
            submitted: d.submitted,
            completions: d.completions,
            task_panics: stats::panics(),
            recv_buffers_in_use: cx.driver.borrow().ring_buffers_out()
                + cx.pool.outstanding() as u64,
        }
    })
}
