//! The rate and the GCRA decision: pure functions of a key's state and a clock reading.
//!
//! GCRA (the generic cell rate algorithm, as the `governor` crate implements it) keeps one
//! number per key: the theoretical arrival time (TAT) of the next request if the client sent
//! exactly at the rate. With emission interval `T = period / count` and tolerance
//! `τ = T × (burst − 1)`, a request at `now` is admitted when `now ≥ TAT − τ`, and then
//! `TAT = max(TAT, now) + T`. A fresh key (no TAT) behaves as `TAT = now`, so it admits exactly
//! `burst` requests at once and then one every `T`. A denied request leaves the state
//! unchanged and learns the exact first instant it would be admitted: `TAT − τ`.

use std::{fmt, str::FromStr, time::Duration};

/// The unit of a [`Rate`]: the period its count is spread over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Per second (`s`).
    Second,
    /// Per minute (`m`).
    Minute,
    /// Per hour (`h`).
    Hour,
    /// Per day (`d`).
    Day,
}

impl Unit {
    /// The period in nanoseconds.
    pub const fn period_ns(self) -> u64 {
        const S: u64 = 1_000_000_000;
        match self {
            Unit::Second => S,
            Unit::Minute => 60 * S,
            Unit::Hour => 3_600 * S,
            Unit::Day => 86_400 * S,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Unit::Second => "s",
            Unit::Minute => "m",
            Unit::Hour => "h",
            Unit::Day => "d",
        }
    }
}

/// A sustained rate: `count` requests per `unit`, e.g. `100/s`. Text form `<count>/<s|m|h|d>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    count: u32,
    unit: Unit,
}

/// Why a rate's text did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateError(String);

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RateError {}

impl Rate {
    /// `count` requests per `unit`; `None` when `count` is 0.
    pub const fn new(count: u32, unit: Unit) -> Option<Rate> {
        if count == 0 {
            None
        } else {
            Some(Rate { count, unit })
        }
    }

    /// Requests per unit.
    pub const fn count(self) -> u32 {
        self.count
    }

    /// The unit.
    pub const fn unit(self) -> Unit {
        self.unit
    }

    /// The emission interval `T` in nanoseconds, rounded up so the admitted rate is never
    /// above the configured one (at least 1 ns).
    pub const fn emission_ns(self) -> u64 {
        let p = self.unit.period_ns();
        let c = self.count as u64;
        p.div_ceil(c)
    }
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(s: &str) -> Result<Rate, RateError> {
        let bad = |why: &str| {
            RateError(format!(
                "rate `{s}`: {why} (expected e.g. `100/s`, `10/m`, `5/h`, `1000/d`)"
            ))
        };
        let (count, unit) = s.trim().split_once('/').ok_or_else(|| bad("missing `/`"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| bad("the count is not a whole number"))?;
        let unit = match unit.trim() {
            "s" => Unit::Second,
            "m" => Unit::Minute,
            "h" => Unit::Hour,
            "d" => Unit::Day,
            _ => return Err(bad("the unit must be one of s, m, h, d")),
        };
        Rate::new(count, unit).ok_or_else(|| bad("the count must be at least 1"))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.unit.suffix())
    }
}

/// The answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Admit it.
    Allow,
    /// Refuse it; a request is admitted again `retry_after` from the clock reading decided on.
    Deny {
        /// Exact wait (nanosecond precision) until the first instant a request is admitted.
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether the request is admitted.
    pub const fn is_allow(self) -> bool {
        matches!(self, Decision::Allow)
    }

    /// The wait in whole seconds, rounded up (HTTP `Retry-After`); 0 for [`Decision::Allow`].
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Decision::Allow => 0,
            Decision::Deny { retry_after } => {
                retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)
            }
        }
    }

    /// The wait in whole milliseconds, rounded up, saturating at `u32::MAX` (the stream
    /// protocols' retry-after field); 0 for [`Decision::Allow`].
    pub fn retry_after_ms(self) -> u32 {
        match self {
            Decision::Allow => 0,
            Decision::Deny { retry_after } => {
                let ms = retry_after.as_nanos().div_ceil(1_000_000);
                u32::try_from(ms).unwrap_or(u32::MAX)
            }
        }
    }
}

/// Decides one request at `now_ns` against a key's TAT (`None` = never seen), updating the TAT
/// when the request is admitted. Pure: the clock is the caller's. `burst` 0 is treated as 1.
///
/// Clock readings may arrive slightly out of order (several threads read the clock before
/// taking a lock); the bound "at most `rate × window + burst`" still holds because the TAT only
/// moves forward.
pub fn decide(tat: &mut Option<u64>, now_ns: u64, rate: Rate, burst: u32) -> Decision {
    let t = rate.emission_ns();
    let tau = t.saturating_mul(u64::from(burst.max(1) - 1));
    let current = tat.unwrap_or(now_ns);
    let earliest = current.saturating_sub(tau);
    if now_ns < earliest {
        return Decision::Deny {
            retry_after: Duration::from_nanos(earliest - now_ns),
        };
    }
    *tat = Some(current.max(now_ns).saturating_add(t));
    Decision::Allow
}

/// Whether a key with this TAT is at rest at `now_ns`: its state is then the same as a key
/// never seen, so it may be forgotten without changing any later decision.
pub const fn at_rest(tat: u64, now_ns: u64) -> bool {
    tat <= now_ns
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rate_strategy() -> impl Strategy<Value = Rate> {
        (
            1u32..2_000,
            prop_oneof![Just(Unit::Second), Just(Unit::Minute), Just(Unit::Hour)],
        )
            .prop_map(|(c, u)| Rate::new(c, u).unwrap())
    }

    /// Sorted arrival times: gaps from 0 to ~3 emission intervals, in bursts and pauses.
    fn arrivals(rate: Rate, n: usize) -> impl Strategy<Value = Vec<u64>> {
        let t = rate.emission_ns();
        prop::collection::vec(
            prop_oneof![Just(0u64), 0..t, 0..t.saturating_mul(3), Just(t)],
            1..n,
        )
        .prop_map(|gaps| {
            let mut now = 1_000_000u64;
            gaps.into_iter()
                .map(|g| {
                    now += g;
                    now
                })
                .collect()
        })
    }

    #[test]
    fn rate_parses_and_round_trips() {
        for s in ["100/s", "10/m", "5/h", "1000/d", "1/s"] {
            let r: Rate = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
        }
        assert_eq!(" 7 / m ".parse::<Rate>().unwrap().to_string(), "7/m");
        for bad in ["0/s", "100", "x/s", "10/w", "-1/s", "10/sec", "/s", ""] {
            let e = bad.parse::<Rate>().unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
        assert_eq!(
            Rate::new(3, Unit::Second).unwrap().emission_ns(),
            333_333_334
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        let d = |ns| Decision::Deny {
            retry_after: Duration::from_nanos(ns),
        };
        assert_eq!(d(1).retry_after_secs(), 1);
        assert_eq!(d(1_000_000_000).retry_after_secs(), 1);
        assert_eq!(d(1_000_000_001).retry_after_secs(), 2);
        assert_eq!(d(1).retry_after_ms(), 1);
        assert_eq!(d(2_000_000).retry_after_ms(), 2);
        assert_eq!(Decision::Allow.retry_after_secs(), 0);
    }

    #[test]
    fn steady_rate_after_the_burst() {
        let r: Rate = "10/s".parse().unwrap();
        let mut tat = None;
        let start = 5_000_000_000;
        for _ in 0..3 {
            assert!(decide(&mut tat, start, r, 3).is_allow());
        }
        let Decision::Deny { retry_after } = decide(&mut tat, start, r, 3) else {
            panic!("fourth request at once must be denied");
        };
        assert_eq!(retry_after, Duration::from_millis(100));
        assert!(decide(&mut tat, start + 100_000_000, r, 3).is_allow());
        assert!(!decide(&mut tat, start + 100_000_000, r, 3).is_allow());
    }

    proptest! {
        /// (a) In ANY window [t, t+w] the admitted count is ≤ rate × w + burst.
        #[test]
        fn never_more_than_rate_times_window_plus_burst(
            (rate, burst, times) in (rate_strategy(), 1u32..50)
                .prop_flat_map(|(r, b)| (Just(r), Just(b), arrivals(r, 400)))
        ) {
            let mut tat = None;
            let admitted: Vec<u64> = times
                .iter()
                .copied()
                .filter(|&now| decide(&mut tat, now, rate, burst).is_allow())
                .collect();
            let period = u128::from(rate.unit().period_ns());
            // Sliding window: for each start i, every end j; count = j - i + 1, w = a_j - a_i.
            for i in 0..admitted.len() {
                for j in i..admitted.len() {
                    let n = (j - i + 1) as u128;
                    let w = u128::from(admitted[j] - admitted[i]);
                    // n ≤ count × w / period + burst, in integers.
                    prop_assert!(
                        n * period <= u128::from(rate.count()) * w + u128::from(burst) * period,
                        "{n} admitted in {w} ns at {rate} burst {burst}"
                    );
                }
            }
        }

        /// (b) retry_after is exact: 1 ns earlier is still denied, at retry_after admitted.
        #[test]
        fn retry_after_is_the_first_admitted_instant(
            (rate, burst, times) in (rate_strategy(), 1u32..20)
                .prop_flat_map(|(r, b)| (Just(r), Just(b), arrivals(r, 200)))
        ) {
            let mut tat = None;
            for now in times {
                let before = tat;
                match decide(&mut tat, now, rate, burst) {
                    Decision::Allow => {}
                    Decision::Deny { retry_after } => {
                        prop_assert_eq!(tat, before, "a denial must not change the state");
                        let ra = u64::try_from(retry_after.as_nanos()).unwrap();
                        prop_assert!(ra > 0);
                        let mut probe = before;
                        prop_assert!(!decide(&mut probe, now + ra - 1, rate, burst).is_allow());
                        let mut probe = before;
                        prop_assert!(decide(&mut probe, now + ra, rate, burst).is_allow());
                    }
                }
            }
        }

        /// (d) A fresh key admits exactly `burst` requests back to back.
        #[test]
        fn fresh_key_admits_exactly_burst(rate in rate_strategy(), burst in 1u32..500, now in 0u64..u64::MAX / 4) {
            let mut tat = None;
            let admitted = (0..burst + 5)
                .take_while(|_| decide(&mut tat, now, rate, burst).is_allow())
                .count();
            prop_assert_eq!(admitted, burst as usize);
        }

        /// Forgetting a key at rest changes no later decision.
        #[test]
        fn at_rest_is_the_same_as_fresh(
            (rate, burst, times) in (rate_strategy(), 1u32..20)
                .prop_flat_map(|(r, b)| (Just(r), Just(b), arrivals(r, 100)))
        ) {
            let mut kept = None;
            let mut forgetful = None;
            for now in times {
                if forgetful.is_some_and(|t| at_rest(t, now)) {
                    forgetful = None;
                }
                prop_assert_eq!(
                    decide(&mut kept, now, rate, burst),
                    decide(&mut forgetful, now, rate, burst)
                );
            }
        }
    }
}
