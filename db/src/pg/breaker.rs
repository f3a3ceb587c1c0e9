//! A circuit breaker for one database backend: closed, open and half-open, as resilience4j
//! documents it, as a pure state machine.
//!
//! The breaker reads no clock: every call takes `now`. **Closed** lets every request through
//! and keeps the outcomes of the last [`BreakerConfig::window`] of them; once that window is
//! full and the failure ratio in it reaches [`BreakerConfig::threshold`], it **opens**. Open
//! refuses everything, with the time left as `retry_after`, for [`BreakerConfig::open_for`];
//! then it is **half-open** (lazily, on the next call that looks at it) and admits
//! [`BreakerConfig::half_open_probes`] trial requests at a time: one failure opens it again,
//! that many successes close it with an empty window.
//!
//! Two ways to report outcomes: [`Breaker::admit`] and [`Breaker::record`] (a request admitted
//! while closed whose outcome arrives while half-open cannot be told from a probe; with a few
//! requests in flight that is harmless), or [`Breaker::admit_ticket`] and
//! [`Breaker::record_ticket`], where the ticket says in which state the request was admitted,
//! so such stale outcomes are ignored and the probe count is exact.

use std::time::{Duration, Instant};

/// The largest [`BreakerConfig::window`] honoured (the window costs a byte per outcome).
pub const MAX_WINDOW: u32 = 100_000;

/// The least `retry_after` the breaker ever answers, so that a caller never spins.
const MIN_RETRY_AFTER: Duration = Duration::from_millis(1);

/// The breaker's settings.
///
/// The defaults (20 outcomes, 50 %, 5 s open, 3 probes) suit millisecond queries. The design's
/// seeds (50 % over 10 requests, 30 s open) suit calls that take a second: with queries of a
/// millisecond or so, a 20-sample window fills in well under a second under load, so a dead
/// database is detected quickly, while 20 samples rather than 10 keep one or two unlucky
/// errors from opening it. Five seconds open is long enough to stop hammering a database that
/// is restarting, and short enough that service comes back soon after it does; 30 s would
/// turn a ten-second restart into half a minute of 503s. Three probes, not one, so that a
/// single lucky query on a half-recovered server does not close it.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// How many of the latest outcomes the closed breaker judges (a count-based sliding
    /// window); 1 to [`MAX_WINDOW`]. Default 20.
    pub window: u32,
    /// The failure ratio in a full window that opens the breaker, in (0, 1]. Default 0.5.
    pub threshold: f64,
    /// How long the breaker stays open before it lets probes through. Default 5 s.
    pub open_for: Duration,
    /// How many trial requests half-open admits at once, and how many successes close it;
    /// at least 1. Default 3.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            window: 20,
            threshold: 0.5,
            open_for: Duration::from_secs(5),
            half_open_probes: 3,
        }
    }
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests go through; outcomes are counted.
    Closed,
    /// Requests are refused at once.
    Open,
    /// A few trial requests go through.
    HalfOpen,
}

impl BreakerState {
    /// The state's name for logs and metrics labels: `closed`, `open`, `half_open`.
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// The state as a gauge value: 0 closed, 1 open, 2 half-open.
    pub fn code(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

/// The breaker's answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead, and report the outcome with [`Breaker::record`].
    Yes,
    /// Refused; the caller answers at once (503 with `Retry-After`).
    No {
        /// When it is worth asking again; at least 1 ms.
        retry_after: Duration,
    },
}

/// How an admitted request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The database answered.
    Success,
    /// The database failed (unreachable, timed out, connection lost).
    Failure,
    /// The request ended without telling anything about the database (cancelled, or refused
    /// for its own input): it frees a half-open probe slot and is not counted.
    Ignored,
}

/// Proof that [`Breaker::admit_ticket`] let a request through; hand it back to
/// [`Breaker::record_ticket`]. It remembers in which state period the request was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    epoch: u64,
}

/// A circuit breaker: see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Breaker {
    cfg: BreakerConfig,
    state: BreakerState,
    /// Grows by one on every transition; tickets of an older epoch are stale.
    epoch: u64,
    /// Closed: the last outcomes, `true` = failure; a ring once it holds `window` of them.
    ring: Vec<bool>,
    /// Closed: where the next outcome goes in `ring`.
    next: usize,
    /// Closed: failures in `ring`.
    failures: u32,
    /// Open: when it opened.
    opened_at: Option<Instant>,
    /// Half-open: probes admitted and not yet recorded.
    in_flight: u32,
    /// Half-open: probes that succeeded.
    successes: u32,
    transitions: [u64; 3],
}

impl Breaker {
    /// A closed breaker with an empty window. Settings out of range are brought into range:
    /// `window` into 1..=[`MAX_WINDOW`], `half_open_probes` at least 1, `threshold` into
    /// (0, 1] (NaN becomes 1).
    pub fn new(cfg: BreakerConfig) -> Breaker {
        let threshold = if cfg.threshold.is_nan() {
            1.0
        } else {
            cfg.threshold.clamp(f64::MIN_POSITIVE, 1.0)
        };
        let cfg = BreakerConfig {
            window: cfg.window.clamp(1, MAX_WINDOW),
            threshold,
            open_for: cfg.open_for,
            half_open_probes: cfg.half_open_probes.max(1),
        };
        Breaker {
            cfg,
            state: BreakerState::Closed,
            epoch: 0,
            ring: Vec::new(),
            next: 0,
            failures: 0,
            opened_at: None,
            in_flight: 0,
            successes: 0,
            transitions: [0; 3],
        }
    }

    /// The settings in force (after [`Breaker::new`] brought them into range).
    pub fn config(&self) -> &BreakerConfig {
        &self.cfg
    }

    /// The state at `now`: an open breaker becomes half-open here once `open_for` has passed.
    pub fn state(&mut self, now: Instant) -> BreakerState {
        if self.state == BreakerState::Open
            && self
                .opened_at
                .is_some_and(|t| now.saturating_duration_since(t) >= self.cfg.open_for)
        {
            self.enter(BreakerState::HalfOpen, now);
        }
        self.state
    }

    /// May a request go to the database now? Closed: yes. Open: no, with the time left until
    /// half-open. Half-open: yes while fewer than `half_open_probes` probes are in flight
    /// (the answer counts one more), else no, with a tenth of `open_for`.
    pub fn admit(&mut self, now: Instant) -> Admit {
        match self.admit_ticket(now) {
            Ok(_) => Admit::Yes,
            Err(retry_after) => Admit::No { retry_after },
        }
    }

    /// [`Breaker::admit`] with a ticket for [`Breaker::record_ticket`]; `Err` holds the
    /// `retry_after`.
    pub fn admit_ticket(&mut self, now: Instant) -> Result<Ticket, Duration> {
        match self.state(now) {
            BreakerState::Closed => Ok(Ticket { epoch: self.epoch }),
            BreakerState::Open => {
                let opened = self.opened_at.unwrap_or(now);
                let left = self
                    .cfg
                    .open_for
                    .saturating_sub(now.saturating_duration_since(opened));
                Err(left.max(MIN_RETRY_AFTER))
            }
            BreakerState::HalfOpen if self.in_flight < self.cfg.half_open_probes => {
                self.in_flight += 1;
                Ok(Ticket { epoch: self.epoch })
            }
            BreakerState::HalfOpen => Err((self.cfg.open_for / 10).max(MIN_RETRY_AFTER)),
        }
    }

    /// Reports the outcome of a request that [`Breaker::admit`] let through. Closed: a
    /// success or failure enters the window, and may open the breaker. Open: ignored (the
    /// request was admitted before it opened). Half-open: counted as a probe's outcome while
    /// probes are in flight (a failure opens it again, the last success closes it), else
    /// ignored.
    pub fn record(&mut self, now: Instant, outcome: Outcome) {
        if self.state(now) == BreakerState::HalfOpen && self.in_flight == 0 {
            return;
        }
        self.apply(now, outcome);
    }

    /// [`Breaker::record`] for a request admitted by [`Breaker::admit_ticket`]: an outcome from
    /// an earlier state period (admitted while closed, recorded after it opened; a probe
    /// recorded after half-open ended) is ignored.
    pub fn record_ticket(&mut self, now: Instant, ticket: Ticket, outcome: Outcome) {
        self.state(now);
        if ticket.epoch == self.epoch {
            self.apply(now, outcome);
        }
    }

    /// How many times the breaker entered closed, open and half-open (indexed by
    /// [`BreakerState::code`]); being created closed does not count.
    pub fn transitions(&self) -> [u64; 3] {
        self.transitions
    }

    /// Closed: the failures and the outcomes in the window (at most `window`). Otherwise
    /// `(0, 0)`.
    pub fn window_counts(&self) -> (u32, u32) {
        (self.failures, self.ring.len() as u32)
    }

    /// Half-open: probes admitted and not yet recorded. Otherwise 0.
    pub fn probes_in_flight(&self) -> u32 {
        self.in_flight
    }

    fn apply(&mut self, now: Instant, outcome: Outcome) {
        match self.state {
            BreakerState::Closed => self.push(now, outcome),
            BreakerState::Open => {}
            BreakerState::HalfOpen => {
                self.in_flight = self.in_flight.saturating_sub(1);
                match outcome {
                    Outcome::Failure => self.enter(BreakerState::Open, now),
                    Outcome::Success => {
                        self.successes += 1;
                        if self.successes >= self.cfg.half_open_probes {
                            self.enter(BreakerState::Closed, now);
                        }
                    }
                    Outcome::Ignored => {}
                }
            }
        }
    }

    /// Closed: one outcome into the ring; opens when the ring is full and fails enough.
    fn push(&mut self, now: Instant, outcome: Outcome) {
        let failed = match outcome {
            Outcome::Success => false,
            Outcome::Failure => true,
            Outcome::Ignored => return,
        };
        let window = self.cfg.window as usize;
        if self.ring.len() < window {
            self.ring.push(failed);
        } else {
            if self.ring[self.next] {
                self.failures -= 1;
            }
            self.ring[self.next] = failed;
        }
        self.next = (self.next + 1) % window;
        if failed {
            self.failures += 1;
        }
        if self.ring.len() == window
            && f64::from(self.failures) / f64::from(self.cfg.window) >= self.cfg.threshold
        {
            self.enter(BreakerState::Open, now);
        }
    }

    fn enter(&mut self, state: BreakerState, now: Instant) {
        self.state = state;
        self.epoch += 1;
        self.transitions[usize::from(state.code())] += 1;
        self.ring.clear();
        self.next = 0;
        self.failures = 0;
        self.in_flight = 0;
        self.successes = 0;
        self.opened_at = (state == BreakerState::Open).then_some(now);
    }
}

#[cfg(test)]
mod tests;
