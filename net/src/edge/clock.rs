//! The times one loop turn's requests are judged at: Unix seconds for token expiry and the
//! rate limits' monotonic nanoseconds, computed on the turn's first request and reused by the
//! rest (a pipelined burst is one turn), so a token check and a rate decision read no clock.

use std::{
    cell::Cell,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// How often a core re-reads the wall clock for token times (following its adjustments).
const UNIX_REBASE: Duration = Duration::from_secs(10);

/// The clocks at one loop turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Clock {
    /// The loop's time it was computed for.
    at: Instant,
    /// Unix seconds (token expiry).
    pub unix: u64,
    /// [`crate::limit::ns_at`] (rate limits).
    pub mono_ns: u64,
}

/// One core's [`Clock`], memoized per loop turn.
pub(super) struct TurnClock {
    /// The wall clock (since the Unix epoch) and the instant it was read at, re-read every
    /// [`UNIX_REBASE`]: one wall-clock read per ten seconds instead of one per token check.
    unix: Cell<(Instant, Duration)>,
    memo: Cell<Option<Clock>>,
}

impl Default for TurnClock {
    fn default() -> TurnClock {
        TurnClock {
            unix: Cell::new((Instant::now(), unix_time())),
            memo: Cell::new(None),
        }
    }
}

impl TurnClock {
    /// The clocks at the loop's current time (outside a loop, now).
    pub fn get(&self) -> Clock {
        self.at(ringwire_reactor::time::now())
    }

    fn at(&self, now: Instant) -> Clock {
        if let Some(memo) = self.memo.get().filter(|m| m.at == now) {
            return memo;
        }
        let clock = Clock {
            at: now,
            unix: self.unix_at(now),
            mono_ns: crate::limit::ns_at(now),
        };
        self.memo.set(Some(clock));
        clock
    }

    /// Unix seconds at `now`: the wall clock read at most every [`UNIX_REBASE`], advanced by
    /// the loop's monotonic clock in between. Exact to the loop turn, which matters with
    /// `auth.leeway = 0` and a token issued this second.
    fn unix_at(&self, now: Instant) -> u64 {
        let (at, base) = self.unix.get();
        if now < at || now.duration_since(at) >= UNIX_REBASE {
            // Rebased on a pair read together, so neither clock runs ahead of the other.
            let pair = (Instant::now(), unix_time());
            self.unix.set(pair);
            return pair.1.as_secs();
        }
        (base + now.duration_since(at)).as_secs()
    }
}

/// Time since the Unix epoch, from the wall clock.
fn unix_time() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_turn_one_clock_and_the_next_turn_moves_it() {
        crate::limit::now_ns(); // the epoch of ns_at, before t0
        let c = TurnClock::default();
        let t0 = Instant::now();
        let a = c.at(t0);
        assert_eq!(c.at(t0), a, "the same turn reuses its clock");
        let wall = unix_time().as_secs();
        assert!(
            a.unix.abs_diff(wall) <= 1,
            "{} vs the wall clock {wall}",
            a.unix
        );
        let b = c.at(t0 + Duration::from_millis(2_500));
        assert_eq!(b.mono_ns - a.mono_ns, 2_500_000_000);
        assert!((2..=3).contains(&(b.unix - a.unix)), "{a:?} {b:?}");
    }

    #[test]
    fn the_wall_clock_is_reread_after_the_rebase_period() {
        let c = TurnClock::default();
        let (at, _) = c.unix.get();
        c.at(at + UNIX_REBASE + Duration::from_millis(1));
        assert_ne!(c.unix.get().0, at, "rebased");
    }
}
