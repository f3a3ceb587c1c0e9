//! Timers driven by the loop, on a clock read once per loop turn.
//!
//! Pending timers sit in an ordered set keyed by deadline; the loop parks until the earliest
//! one and wakes every expired timer after each turn. [`Sleep::reset`] to a later deadline
//! costs nothing until the old deadline passes, which is how connection idle timeouts are
//! pushed forward on every request without touching the set.

mod sleep;
mod timers;

pub use sleep::{Elapsed, Sleep, sleep, sleep_until, timeout, timeout_at};
pub(crate) use timers::Timers;

use std::time::Instant;

/// The current core's clock: the time the loop last returned from the kernel. Outside a
/// runtime, the real time.
pub fn now() -> Instant {
    crate::runtime::context::try_with(|cx| cx.clock.get()).unwrap_or_else(Instant::now)
}
