//! Event-loop counters, kept with plain writes on the owning thread.

use crate::BackendKind;
use std::cell::Cell;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) iterations: Cell<u64>,
    pub(crate) tasks_polled: Cell<u64>,
    pub(crate) parked_ns: Cell<u64>,
    /// How long the previous loop turn ran before parking, in ns.
    pub(crate) last_turn_ns: Cell<u64>,
    pub(crate) started: Cell<Option<std::time::Instant>>,
}

thread_local! {
    static PANICS: Cell<u64> = const { Cell::new(0) };
}

pub(crate) fn record_panic() {
    PANICS.with(|p| p.set(p.get() + 1));
}

pub(crate) fn panics() -> u64 {
    PANICS.with(Cell::get)
}

pub(crate) fn bump(c: &Cell<u64>, n: u64) {
    c.set(c.get().wrapping_add(n));
}

/// A snapshot of one core's event loop, for the metrics endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoopStats {
    /// The backend this core runs on.
    pub backend: BackendKind,
    /// Loop turns since the runtime started.
    pub iterations: u64,
    /// Task polls since the runtime started.
    pub tasks_polled: u64,
    /// Time spent parked in the kernel waiting for events, in seconds.
    pub parked_seconds: f64,
    /// Time since the runtime started, in seconds.
    pub uptime_seconds: f64,
    /// System calls made by the driver (`io_uring_enter` or `epoll_wait`).
    pub syscalls: u64,
    /// SQEs handed to the kernel (io_uring only; 0 on epoll).
    pub submitted: u64,
    /// Completions (io_uring) or readiness events (epoll) processed.
    pub completions: u64,
    /// Panics caught on this core: in tasks, and in closures sent with `Handle::spawn`.
    pub task_panics: u64,
    /// Receive buffers held by the application right now: provided-ring slots (io_uring) plus
    /// pooled heap buffers. Zero when every connection is idle.
    pub recv_buffers_in_use: u64,
}

impl LoopStats {
    /// Fraction of wall time the loop was not parked: 0 idle, 1 saturated.
    pub fn busy_ratio(&self) -> f64 {
        if self.uptime_seconds <= 0.0 {
            return 0.0;
        }
        (1.0 - self.parked_seconds / self.uptime_seconds).clamp(0.0, 1.0)
    }

    /// SQEs per `io_uring_enter`: how well submissions are batched (0 on epoll).
    pub fn submissions_per_syscall(&self) -> f64 {
        if self.syscalls == 0 {
            0.0
        } else {
            self.submitted as f64 / self.syscalls as f64
        }
    }
}
