//! The PostgreSQL backend's numbers, per worker core: written by that core with plain atomic
//! stores and adds (no lock on the request path), read by the control core for `/metrics`,
//! `/health/ready` and the dashboard.

use super::breaker::BreakerState;
use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicU8, AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

/// Upper bounds of the latency buckets, in microseconds (then +Inf).
pub const BOUNDS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000,
];

/// A latency histogram of fixed buckets, lock-free.
#[derive(Default)]
pub(crate) struct Buckets {
    counts: [AtomicU64; BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Buckets {
    pub(crate) fn record(&self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        let i = BOUNDS_US.partition_point(|b| *b < us);
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    fn snapshot(&self) -> Histogram {
        Histogram {
            counts: self.counts.iter().map(|c| c.load(Relaxed)).collect(),
            sum_us: self.sum_us.load(Relaxed),
        }
    }
}

/// A copy of a latency histogram: counts per bucket of [`BOUNDS_US`] (not cumulative), the
/// last one past every bound, and the sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Observations per bucket.
    pub counts: Vec<u64>,
    /// Sum of the observations, in microseconds.
    pub sum_us: u64,
}

impl Histogram {
    /// Adds `other` into this one.
    pub fn merge(&mut self, other: &Histogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum_us += other.sum_us;
    }

    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// One core's live numbers.
#[derive(Default)]
pub(crate) struct CoreStats {
    pub(crate) idle: AtomicU64,
    pub(crate) in_use: AtomicU64,
    pub(crate) connecting: AtomicU64,
    pub(crate) waiting: AtomicU64,
    pub(crate) max: AtomicU64,
    pub(crate) opened: AtomicU64,
    pub(crate) closed: AtomicU64,
    pub(crate) acquire: Buckets,
    pub(crate) queries: [Buckets; super::exec::LABELS.len()],
    pub(crate) retries: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) breaker: AtomicU8,
    pub(crate) transitions: [AtomicU64; 3],
    /// Failures by SQLSTATE class: only failures take this lock.
    pub(crate) errors: Mutex<BTreeMap<String, u64>>,
    /// The last failure's message, for readiness.
    pub(crate) last_error: Mutex<String>,
}

impl CoreStats {
    pub(crate) fn error(&self, class: &str, message: &str) {
        let mut e = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        *e.entry(class.to_string()).or_default() += 1;
        drop(e);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = message.to_string();
    }

    pub(crate) fn snapshot(&self, core: usize) -> PgCoreSnapshot {
        PgCoreSnapshot {
            core,
            idle: self.idle.load(Relaxed),
            in_use: self.in_use.load(Relaxed),
            connecting: self.connecting.load(Relaxed),
            waiting: self.waiting.load(Relaxed),
            max: self.max.load(Relaxed),
            opened: self.opened.load(Relaxed),
            closed: self.closed.load(Relaxed),
            acquire: self.acquire.snapshot(),
            queries: super::exec::LABELS
                .iter()
                .zip(&self.queries)
                .map(|(l, b)| (*l, b.snapshot()))
                .collect(),
            retries: self.retries.load(Relaxed),
            refused: self.refused.load(Relaxed),
            breaker: match self.breaker.load(Relaxed) {
                1 => BreakerState::Open,
                2 => BreakerState::HalfOpen,
                _ => BreakerState::Closed,
            },
            transitions: [0, 1, 2].map(|i| self.transitions[i].load(Relaxed)),
            errors: self
                .errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// One core's numbers, copied.
#[derive(Debug, Clone)]
pub struct PgCoreSnapshot {
    /// The worker core.
    pub core: usize,
    /// Pooled connections idle.
    pub idle: u64,
    /// Pooled connections lent to a request.
    pub in_use: u64,
    /// Connections being opened.
    pub connecting: u64,
    /// Requests waiting for a connection.
    pub waiting: u64,
    /// The pool's bound (`db.pool.max`).
    pub max: u64,
    /// Connections opened so far.
    pub opened: u64,
    /// Connections closed so far (broken, expired or idle).
    pub closed: u64,
    /// Time to get a connection from the pool.
    pub acquire: Histogram,
    /// Statement latency by operation.
    pub queries: Vec<(&'static str, Histogram)>,
    /// Retries made.
    pub retries: u64,
    /// Requests refused at once: the breaker was open or the waiters were at their bound.
    pub refused: u64,
    /// The circuit breaker's state.
    pub breaker: BreakerState,
    /// Times the breaker entered closed, open, half-open.
    pub transitions: [u64; 3],
    /// Failures by SQLSTATE class ("08", "40", "57", ...), "io" or "timeout".
    pub errors: BTreeMap<String, u64>,
    /// The last failure's message.
    pub last_error: String,
}
