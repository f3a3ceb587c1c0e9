//! Retries with exponential backoff and **full jitter**, as AWS's "Exponential Backoff And
//! Jitter" describes it: the delay before retry `n` (0 for the first retry) is drawn uniformly
//! from `[0, min(max_delay, base * 2^n))`. Spreading the whole interval, rather than adding a
//! little noise to a fixed delay, keeps clients that failed together from retrying together.
//!
//! A pure state machine: no clock is read and no random number drawn here; the caller passes
//! `now` and a `unit` in [0, 1). What may be retried at all (transient errors, idempotent
//! operations) is the caller's decision.

use std::time::{Duration, Instant};

/// How many times, and how long, to retry.
///
/// The defaults (3 tries, 5 ms base, 100 ms cap, 1 s in all) suit millisecond queries: the
/// two retries wait at most 5 ms and 10 ms, enough for a deadlock or serialization failure to
/// clear or for a fresh connection to replace a killed one, and a request never spends more
/// than a second on tries and delays together, well inside the 5 s a client may wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Tries in all, the first included; 1 means no retry (0 is taken as 1). Default 3.
    pub max_attempts: u32,
    /// The ceiling of the first retry's delay; it doubles for each further retry.
    /// Default 5 ms.
    pub base: Duration,
    /// The most one delay may be. Default 100 ms.
    pub max_delay: Duration,
    /// The budget for all tries and delays together, from the first try's start: no retry
    /// starts at or after it. Default 1 s.
    pub max_total: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            base: Duration::from_millis(5),
            max_delay: Duration::from_millis(100),
            max_total: Duration::from_secs(1),
        }
    }
}

/// The retry state of one operation: created when its first try starts.
#[derive(Debug, Clone)]
pub struct Schedule {
    cfg: RetryConfig,
    start: Instant,
    attempts: u32,
    gave_up: bool,
}

impl Schedule {
    /// The schedule of an operation whose first try starts at `start`.
    pub fn new(cfg: &RetryConfig, start: Instant) -> Schedule {
        Schedule {
            cfg: cfg.clone(),
            start,
            attempts: 1,
            gave_up: false,
        }
    }

    /// After a failed try that may be retried: the delay before the next try (which it
    /// counts as started), or `None` to give up because the tries are used up or the next
    /// one would start at or after `start + max_total`. `unit` is a random number in [0, 1)
    /// (clamped into it; NaN counts as 0). Once it said `None`, it always does.
    pub fn next_delay(&mut self, now: Instant, unit: f64) -> Option<Duration> {
        if self.gave_up || self.attempts >= self.cfg.max_attempts {
            self.gave_up = true;
            return None;
        }
        let delay = full_jitter(&self.cfg, self.attempts - 1, unit);
        let in_budget = match (now.checked_add(delay), self.deadline()) {
            (Some(at), Some(deadline)) => at < deadline,
            (None, Some(_)) => false,
            (_, None) => true,
        };
        if !in_budget {
            self.gave_up = true;
            return None;
        }
        self.attempts += 1;
        Some(delay)
    }

    /// Tries started so far: 1 after [`Schedule::new`], one more for each delay given.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Retries given so far (`attempts - 1`), for the retries metric.
    pub fn retries(&self) -> u32 {
        self.attempts - 1
    }

    /// When the budget ends: `start + max_total` (`None` if that is past what `Instant`
    /// can hold, that is, no limit).
    pub fn deadline(&self) -> Option<Instant> {
        self.start.checked_add(self.cfg.max_total)
    }
}

/// The delay before retry `retry` (0 for the first retry): `unit * min(max_delay, base *
/// 2^retry)`, without overflow for any `retry`. `unit` is clamped into [0, 1] (NaN counts as
/// 0), so the delay never exceeds that ceiling.
pub fn full_jitter(cfg: &RetryConfig, retry: u32, unit: f64) -> Duration {
    let ceiling = 1u32
        .checked_shl(retry)
        .and_then(|factor| cfg.base.checked_mul(factor))
        .map_or(cfg.max_delay, |d| d.min(cfg.max_delay));
    let unit = if unit.is_nan() {
        0.0
    } else {
        unit.clamp(0.0, 1.0)
    };
    // In whole nanoseconds, rounded down, and never above the ceiling whatever the float
    // rounding does.
    let nanos = ceiling.as_nanos();
    let scaled = ((nanos as f64 * unit) as u128).min(nanos);
    const NS: u128 = 1_000_000_000;
    let secs = u64::try_from(scaled / NS).unwrap_or(u64::MAX);
    Duration::new(secs, (scaled % NS) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn cfg(attempts: u32, base_ms: u64, max_ms: u64, total_ms: u64) -> RetryConfig {
        RetryConfig {
            max_attempts: attempts,
            base: Duration::from_millis(base_ms),
            max_delay: Duration::from_millis(max_ms),
            max_total: Duration::from_millis(total_ms),
        }
    }

    /// `unit * ceiling` within a nanosecond or two of float rounding, never above it.
    fn near(d: Duration, unit: f64, ceiling: Duration) -> bool {
        let want = ceiling.as_nanos() as f64 * unit;
        d <= ceiling && (d.as_nanos() as f64 - want).abs() <= 2.0
    }

    #[test]
    fn defaults() {
        let c = RetryConfig::default();
        assert_eq!(c.max_attempts, 3);
        assert_eq!(
            (c.base, c.max_delay, c.max_total),
            (5 * MS, 100 * MS, 1000 * MS)
        );
    }

    #[test]
    fn full_jitter_exact_values() {
        let c = RetryConfig::default();
        for retry in [0, 1, 5, 31, 32, 64, u32::MAX] {
            assert_eq!(full_jitter(&c, retry, 0.0), Duration::ZERO);
        }
        assert_eq!(full_jitter(&c, 0, 0.5), Duration::from_micros(2500));
        assert_eq!(full_jitter(&c, 3, 0.5), 20 * MS);
        assert!(near(full_jitter(&c, 0, 0.999), 0.999, 5 * MS));
        assert!(near(full_jitter(&c, 1, 0.999), 0.999, 10 * MS));
        assert!(near(full_jitter(&c, 4, 0.999), 0.999, 80 * MS));
        // From retry 5 on, 5 ms * 32 = 160 ms is capped at 100 ms.
        for retry in [5, 6, 31, 32, 100, u32::MAX] {
            assert!(
                near(full_jitter(&c, retry, 0.999), 0.999, 100 * MS),
                "{retry}"
            );
        }
    }

    #[test]
    fn full_jitter_clamps_unit_and_survives_overflow() {
        let c = RetryConfig::default();
        assert_eq!(full_jitter(&c, 2, -3.0), Duration::ZERO);
        assert_eq!(full_jitter(&c, 2, f64::NAN), Duration::ZERO);
        assert_eq!(full_jitter(&c, 2, 7.0), 20 * MS);
        assert_eq!(full_jitter(&c, 2, f64::INFINITY), 20 * MS);
        let huge = RetryConfig {
            base: Duration::MAX,
            max_delay: Duration::MAX,
            ..c
        };
        assert_eq!(full_jitter(&huge, 40, 1.0), Duration::MAX);
        assert!(full_jitter(&huge, 3, 0.999) <= Duration::MAX);
    }

    #[test]
    fn schedule_stops_after_max_attempts() {
        let t = Instant::now();
        let mut s = Schedule::new(&RetryConfig::default(), t);
        assert_eq!(s.attempts(), 1);
        assert_eq!(s.next_delay(t, 0.999).map(|d| d <= 5 * MS), Some(true));
        assert_eq!(s.next_delay(t, 0.5), Some(5 * MS));
        assert_eq!((s.attempts(), s.retries()), (3, 2));
        assert_eq!(s.next_delay(t, 0.0), None);
        assert_eq!(s.attempts(), 3);
        for n in [0, 1] {
            let mut once = Schedule::new(&cfg(n, 5, 100, 1000), t);
            assert_eq!(once.next_delay(t, 0.0), None, "max_attempts {n}: no retry");
        }
    }

    #[test]
    fn schedule_respects_the_total_budget_and_stays_given_up() {
        let t = Instant::now();
        let mut s = Schedule::new(&cfg(10, 5, 100, 50), t);
        assert_eq!(s.deadline(), Some(t + 50 * MS));
        assert_eq!(
            s.next_delay(t + 40 * MS, 0.5),
            Some(2500 * Duration::from_micros(1))
        );
        // 48 ms + 5 ms (half of 10 ms) would start at 53 ms: over the 50 ms budget.
        assert_eq!(s.next_delay(t + 48 * MS, 0.5), None);
        assert_eq!(
            s.next_delay(t + 48 * MS, 0.0),
            None,
            "given up stays given up"
        );
        let mut at_end = Schedule::new(&cfg(10, 5, 100, 50), t);
        assert_eq!(
            at_end.next_delay(t + 50 * MS, 0.0),
            None,
            "a try at the deadline"
        );
    }

    proptest! {
        #[test]
        fn schedule_stays_within_its_bounds(
            attempts in 0u32..8,
            base_us in 0u64..20_000,
            max_us in 0u64..200_000,
            total_us in 0u64..2_000_000,
            steps in proptest::collection::vec(
                (0u64..100_000, prop_oneof![8 => 0.0f64..1.0, 1 => -2.0f64..3.0]),
                1..12,
            ),
        ) {
            let c = RetryConfig {
                max_attempts: attempts,
                base: Duration::from_micros(base_us),
                max_delay: Duration::from_micros(max_us),
                max_total: Duration::from_micros(total_us),
            };
            let start = Instant::now();
            let deadline = start + c.max_total;
            let mut s = Schedule::new(&c, start);
            let mut now = start;
            let mut given_up = false;
            for (step_us, unit) in steps {
                now += Duration::from_micros(step_us);
                let retry = s.retries();
                match s.next_delay(now, unit) {
                    Some(d) => {
                        prop_assert!(!given_up, "a delay after giving up");
                        let ceiling = (u128::from(base_us) * 1000) << retry.min(64);
                        let ceiling = ceiling.min(u128::from(max_us) * 1000);
                        prop_assert!(d.as_nanos() <= ceiling, "{d:?} over {ceiling} ns");
                        prop_assert!(now + d < deadline, "past the budget");
                        prop_assert_eq!(s.retries(), retry + 1);
                        now += d;
                    }
                    None => {
                        given_up = true;
                        prop_assert_eq!(s.retries(), retry);
                    }
                }
                prop_assert!(s.attempts() <= attempts.max(1), "too many tries");
            }
        }
    }
}
