//! Overload shedding: a core whose event loop runs late, or a process past its memory
//! threshold, refuses new work cheaply (new connections closed at once, new requests `503`)
//! so the work it has already taken can finish.
//!
//! Queueing delay is measured two ways. The reactor reports how long its previous loop turn
//! ran before parking ([`ringwire_reactor::last_turn`]): every event served in this turn
//! waited at least that long, so a turn that ran past the threshold (a task that blocked the
//! thread, a huge batch) makes the core shed at once, for the very requests that waited. And
//! a probe task on each core asks to be woken every [`PROBE_PERIOD`] and measures how late it
//! runs: that catches a backlog spread over many short turns, since every task on the core
//! waits in the same ready queue. Past the threshold the core sheds for [`HOLD`] (and as
//! long as the lateness stays), which keeps the state from flapping on every probe.

use std::{
    cell::Cell,
    sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    time::{Duration, Instant},
};

/// How often the probe runs.
pub const PROBE_PERIOD: Duration = Duration::from_millis(10);
/// How long a core keeps shedding after its loop was late.
pub const HOLD: Duration = Duration::from_secs(1);
/// Memory is read every this many probes (core 0 only).
const MEMORY_EVERY: u32 = 10;

/// The shedding settings and the process-wide memory state.
#[derive(Debug)]
pub struct Shedder {
    queue_delay: Duration,
    memory: u64,
    memory_over: AtomicBool,
    /// The latest probe lateness of any core, in microseconds (a gauge).
    worst_lag_us: AtomicU64,
}

impl Shedder {
    pub(crate) fn new(queue_delay: Duration, memory: u64) -> Shedder {
        Shedder {
            queue_delay,
            memory,
            memory_over: AtomicBool::new(false),
            worst_lag_us: AtomicU64::new(0),
        }
    }

    /// Whether any probe is needed.
    pub fn enabled(&self) -> bool {
        !self.queue_delay.is_zero() || self.memory > 0
    }

    /// Whether the process is past its memory threshold.
    pub fn memory_over(&self) -> bool {
        self.memory_over.load(Relaxed)
    }

    /// The largest event-loop lateness the probes saw in their latest round, in µs.
    pub fn lag_us(&self) -> u64 {
        self.worst_lag_us.load(Relaxed)
    }
}

/// One core's shedding state.
#[derive(Debug, Default)]
pub(crate) struct CoreLoad {
    until: Cell<Option<Instant>>,
    probes: Cell<u32>,
}

impl CoreLoad {
    /// Whether the core sheds new work at `now`. Besides the probe, the loop's previous turn
    /// counts: a turn that ran longer than the threshold (a task that blocked, a huge batch)
    /// made every event served in this turn wait that long, and the probe would only see it
    /// after them.
    pub(crate) fn shedding(&self, shedder: &Shedder, now: Instant) -> bool {
        if !shedder.queue_delay.is_zero() {
            let turn = ringwire_reactor::last_turn();
            if turn >= shedder.queue_delay {
                self.late(shedder, turn, now, "loop turn");
            }
        }
        self.until.get().is_some_and(|t| now < t) || shedder.memory_over()
    }

    /// The loop ran `lag` late: shed from `now` for [`HOLD`].
    fn late(&self, shedder: &Shedder, lag: Duration, now: Instant, seen_by: &'static str) {
        shedder
            .worst_lag_us
            .fetch_max(lag.as_micros() as u64, Relaxed);
        if self.until.get().is_none_or(|t| t <= now) {
            tracing::warn!(
                lag_ms = lag.as_millis() as u64,
                seen_by,
                "event loop late: shedding new connections and requests"
            );
        }
        self.until.set(Some(now + HOLD));
    }

    /// Records one probe that wanted to run at `planned` and ran at `ran`.
    pub(crate) fn probe(&self, shedder: &Shedder, core: usize, planned: Instant, ran: Instant) {
        let lag = ran.saturating_duration_since(planned);
        shedder.worst_lag_us.store(lag.as_micros() as u64, Relaxed);
        if !shedder.queue_delay.is_zero() && lag >= shedder.queue_delay {
            self.late(shedder, lag, ran, "probe");
        }
        let n = self.probes.get().wrapping_add(1);
        self.probes.set(n);
        if core == 0 && shedder.memory > 0 && n % MEMORY_EVERY == 0 {
            let over = rss_bytes().is_some_and(|rss| rss >= shedder.memory);
            if shedder.memory_over.swap(over, Relaxed) != over {
                tracing::warn!(over, "memory threshold crossed (shed.memory)");
            }
        }
    }
}

/// The process's resident memory, from `/proc/self/status` (Linux).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_probe_sheds_for_the_hold_then_stops() {
        let s = Shedder::new(Duration::from_millis(100), 0);
        let load = CoreLoad::default();
        let t0 = Instant::now();
        load.probe(&s, 1, t0, t0 + Duration::from_millis(5));
        assert!(!load.shedding(&s, t0 + Duration::from_millis(5)));
        let late = t0 + Duration::from_millis(300);
        load.probe(&s, 1, t0, late);
        assert!(load.shedding(&s, late));
        assert!(load.shedding(&s, late + HOLD - Duration::from_millis(1)));
        assert!(!load.shedding(&s, late + HOLD));
    }

    #[test]
    fn a_zero_threshold_never_sheds() {
        let s = Shedder::new(Duration::ZERO, 0);
        assert!(!s.enabled());
        let load = CoreLoad::default();
        let t0 = Instant::now();
        load.probe(&s, 0, t0, t0 + Duration::from_secs(10));
        assert!(!load.shedding(&s, t0 + Duration::from_secs(10)));
    }

    #[test]
    fn memory_past_the_threshold_sheds_on_every_core() {
        let s = Shedder::new(Duration::ZERO, 1); // one byte: always over
        let load = CoreLoad::default();
        let t0 = Instant::now();
        for _ in 0..MEMORY_EVERY {
            load.probe(&s, 0, t0, t0);
        }
        assert!(rss_bytes().is_some());
        assert!(s.memory_over());
        assert!(CoreLoad::default().shedding(&s, t0));
    }
}
