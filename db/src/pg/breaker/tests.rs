//! Unit tests for each transition of [`Breaker`], and property tests that drive it with
//! random admits, outcomes and time steps against a reference model.

use super::*;
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);

fn cfg(window: u32, threshold: f64, open_ms: u64, probes: u32) -> BreakerConfig {
    BreakerConfig {
        window,
        threshold,
        open_for: Duration::from_millis(open_ms),
        half_open_probes: probes,
    }
}

fn record_all(b: &mut Breaker, now: Instant, outcomes: &[Outcome]) {
    for &o in outcomes {
        assert_eq!(b.admit(now), Admit::Yes);
        b.record(now, o);
    }
}

/// A breaker opened at `t0` by a window of failures.
fn opened(c: BreakerConfig, t0: Instant) -> Breaker {
    let n = c.window as usize;
    let mut b = Breaker::new(c);
    record_all(&mut b, t0, &vec![Outcome::Failure; n]);
    assert_eq!(b.state(t0), BreakerState::Open);
    b
}

use Outcome::{Failure as F, Ignored as I, Success as S};

#[test]
fn defaults_and_names() {
    let c = BreakerConfig::default();
    assert_eq!((c.window, c.threshold, c.half_open_probes), (20, 0.5, 3));
    assert_eq!(c.open_for, Duration::from_secs(5));
    let all = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ];
    let names: Vec<_> = all.iter().map(|s| (s.name(), s.code())).collect();
    assert_eq!(names, [("closed", 0), ("open", 1), ("half_open", 2)]);
    let b = Breaker::new(cfg(0, f64::NAN, 10, 0));
    let c = b.config();
    assert_eq!((c.window, c.threshold, c.half_open_probes), (1, 1.0, 1));
    assert!(Breaker::new(cfg(4, -1.0, 1, 1)).config().threshold > 0.0);
    assert_eq!(
        Breaker::new(cfg(u32::MAX, 0.5, 1, 1)).config().window,
        MAX_WINDOW
    );
}

#[test]
fn closed_opens_only_on_a_full_window() {
    let t = Instant::now();
    let mut b = Breaker::new(cfg(4, 0.5, 100, 1));
    record_all(&mut b, t, &[F, F, F]);
    assert_eq!(
        b.state(t),
        BreakerState::Closed,
        "3 of 4: the window is not full"
    );
    assert_eq!(b.window_counts(), (3, 3));
    record_all(&mut b, t, &[S]);
    assert_eq!(b.state(t), BreakerState::Open);
    assert_eq!(b.transitions(), [0, 1, 0]);
}

#[test]
fn threshold_is_inclusive_and_ignored_is_not_counted() {
    let t = Instant::now();
    let mut b = Breaker::new(cfg(4, 0.5, 100, 1));
    record_all(&mut b, t, &[S, I, F, I, S, I]);
    assert_eq!(b.window_counts(), (1, 3));
    record_all(&mut b, t, &[F]);
    assert_eq!(b.state(t), BreakerState::Open, "2 of 4 = 0.5 opens");
}

#[test]
fn window_slides_old_failures_out() {
    let t = Instant::now();
    let mut b = Breaker::new(cfg(4, 0.75, 100, 1));
    record_all(&mut b, t, &[F, F, S, S, S, S, F, F]);
    assert_eq!(b.window_counts(), (2, 4));
    assert_eq!(b.state(t), BreakerState::Closed);
    record_all(&mut b, t, &[F]);
    assert_eq!(b.state(t), BreakerState::Open, "S F F F");
}

#[test]
fn open_refuses_until_open_for_then_half_open_lazily() {
    let t = Instant::now();
    let mut b = opened(cfg(2, 0.5, 100, 2), t);
    assert_eq!(
        b.admit(t),
        Admit::No {
            retry_after: 100 * MS
        }
    );
    assert_eq!(
        b.admit(t + 60 * MS),
        Admit::No {
            retry_after: 40 * MS
        }
    );
    let almost = t + 100 * MS - Duration::from_nanos(1);
    assert_eq!(
        b.admit(almost),
        Admit::No { retry_after: MS },
        "at least 1 ms"
    );
    assert_eq!(b.transitions(), [0, 1, 0]);
    assert_eq!(b.state(t + 100 * MS), BreakerState::HalfOpen);
    assert_eq!(b.transitions(), [0, 1, 1]);
}

#[test]
fn outcomes_while_open_are_ignored() {
    let t = Instant::now();
    let mut b = opened(cfg(2, 0.5, 100, 1), t);
    for o in [S, S, S, F] {
        b.record(t + MS, o);
    }
    assert_eq!(b.state(t + MS), BreakerState::Open);
    assert_eq!(b.transitions(), [0, 1, 0]);
    // Recorded after open_for: half-open now, but no probe is in flight: still ignored.
    b.record(t + 100 * MS, S);
    assert_eq!(b.state(t + 100 * MS), BreakerState::HalfOpen);
    assert_eq!(b.probes_in_flight(), 0);
}

#[test]
fn half_open_admits_only_the_probes() {
    let t = Instant::now() + Duration::from_millis(100);
    let mut b = opened(cfg(2, 0.5, 100, 2), t - 100 * MS);
    assert_eq!(b.admit(t), Admit::Yes);
    assert_eq!(b.admit(t), Admit::Yes);
    assert_eq!(
        b.admit(t),
        Admit::No {
            retry_after: 10 * MS
        }
    );
    assert_eq!(b.probes_in_flight(), 2);
    b.record(t, I);
    assert_eq!(b.state(t), BreakerState::HalfOpen, "ignored: no verdict");
    assert_eq!(b.admit(t), Admit::Yes, "ignored freed a probe slot");
}

#[test]
fn half_open_failure_reopens_with_a_fresh_timer() {
    let t = Instant::now();
    let mut b = opened(cfg(2, 0.5, 100, 2), t);
    let later = t + 150 * MS;
    assert_eq!(b.admit(later), Admit::Yes);
    assert_eq!(b.admit(later), Admit::Yes);
    b.record(later, S);
    b.record(later, F);
    assert_eq!(b.state(later), BreakerState::Open);
    assert_eq!(b.admit(later + 99 * MS), Admit::No { retry_after: MS });
    assert_eq!(b.state(later + 100 * MS), BreakerState::HalfOpen);
    assert_eq!(b.transitions(), [0, 2, 2]);
}

#[test]
fn half_open_successes_close_with_an_empty_window() {
    let t = Instant::now();
    let mut b = opened(cfg(3, 0.5, 100, 2), t);
    let later = t + 100 * MS;
    record_all(&mut b, later, &[S, S]);
    assert_eq!(b.state(later), BreakerState::Closed);
    assert_eq!(b.transitions(), [1, 1, 1]);
    assert_eq!(b.window_counts(), (0, 0));
    record_all(&mut b, later, &[F, F]);
    assert_eq!(
        b.state(later),
        BreakerState::Closed,
        "the window starts empty"
    );
}

#[test]
fn stale_tickets_are_ignored() {
    let t = Instant::now();
    let mut b = Breaker::new(cfg(2, 0.5, 100, 1));
    let old = b.admit_ticket(t).unwrap();
    record_all(&mut b, t, &[F, F]);
    let later = t + 100 * MS;
    let probe = b.admit_ticket(later).unwrap();
    b.record_ticket(later, old, S);
    assert_eq!(b.probes_in_flight(), 1, "a ticket from closed is no probe");
    assert_eq!(b.admit_ticket(later), Err(10 * MS));
    b.record_ticket(later, probe, S);
    assert_eq!(b.state(later), BreakerState::Closed);
    b.record_ticket(later, probe, F);
    assert_eq!(
        b.window_counts(),
        (0, 0),
        "a probe recorded after closing is stale"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Admit,
    Record(usize, Outcome),
    Advance(u64),
    State,
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![3 => Just(F), 3 => Just(S), 1 => Just(I)];
    prop_oneof![
        4 => Just(Op::Admit),
        4 => (any::<usize>(), outcome).prop_map(|(i, o)| Op::Record(i, o)),
        2 => (0u64..12).prop_map(Op::Advance),
        1 => Just(Op::State),
    ]
}

fn config() -> impl Strategy<Value = BreakerConfig> {
    let threshold = prop_oneof![Just(0.25), Just(0.5), Just(0.6), Just(1.0), 0.01f64..=1.0];
    (1u32..6, threshold, 1u64..30, 1u32..4).prop_map(|(w, th, o, p)| cfg(w, th, o, p))
}

/// The reference: every outcome since the last close in a plain list, the window being
/// its tail.
struct Model {
    c: BreakerConfig,
    st: BreakerState,
    epoch: u64,
    since_close: Vec<bool>,
    opened: Option<Instant>,
    out: u32,
    ok: u32,
    tr: [u64; 3],
}

impl Model {
    fn go(&mut self, st: BreakerState, now: Instant) {
        (self.st, self.epoch) = (st, self.epoch + 1);
        self.tr[st.code() as usize] += 1;
        match st {
            BreakerState::Closed => self.since_close.clear(),
            BreakerState::Open => self.opened = Some(now),
            BreakerState::HalfOpen => (self.out, self.ok) = (0, 0),
        }
    }
    fn tick(&mut self, now: Instant) {
        if self.st == BreakerState::Open && now >= self.opened.unwrap() + self.c.open_for {
            self.go(BreakerState::HalfOpen, now);
        }
    }
    fn admit(&mut self, now: Instant) -> Result<u64, Duration> {
        self.tick(now);
        match self.st {
            BreakerState::Closed => Ok(self.epoch),
            BreakerState::Open => Err((self.opened.unwrap() + self.c.open_for - now).max(MS)),
            BreakerState::HalfOpen if self.out < self.c.half_open_probes => {
                self.out += 1;
                Ok(self.epoch)
            }
            BreakerState::HalfOpen => Err((self.c.open_for / 10).max(MS)),
        }
    }
    /// `epoch`: `Some` with tickets, `None` through the plain `record`.
    fn record(&mut self, now: Instant, epoch: Option<u64>, o: Outcome) {
        self.tick(now);
        match (epoch, self.st) {
            (Some(e), _) if e != self.epoch => return,
            (None, BreakerState::HalfOpen) if self.out == 0 => return,
            _ => {}
        }
        match (self.st, o) {
            (BreakerState::Open, _) | (BreakerState::Closed, I) => {}
            (BreakerState::Closed, o) => {
                self.since_close.push(o == F);
                let (w, n) = (self.c.window as usize, self.since_close.len());
                let fails = self.since_close[n.saturating_sub(w)..]
                    .iter()
                    .filter(|f| **f);
                if n >= w && fails.count() as f64 / w as f64 >= self.c.threshold {
                    self.go(BreakerState::Open, now);
                }
            }
            (BreakerState::HalfOpen, o) => {
                self.out -= 1;
                if o == F {
                    self.go(BreakerState::Open, now);
                } else if o == S {
                    self.ok += 1;
                    if self.ok == self.c.half_open_probes {
                        self.go(BreakerState::Closed, now);
                    }
                }
            }
        }
    }
}

/// Can the breaker go from `from` to `to` entering the states counted in `d`, along the
/// allowed edges, in at most two steps (one lazy open -> half-open, then one more)?
fn path_ok(from: BreakerState, to: BreakerState, d: [u64; 3]) -> bool {
    use BreakerState::*;
    let next = |s| match s {
        Closed => vec![Open],
        Open => vec![HalfOpen],
        HalfOpen => vec![Open, Closed],
    };
    let mut paths = vec![(from, [0u64; 3])];
    for _ in 0..2 {
        for (s, seen) in paths.clone() {
            for n in next(s) {
                let mut seen = seen;
                seen[n.code() as usize] += 1;
                paths.push((n, seen));
            }
        }
    }
    paths.iter().any(|&(s, seen)| s == to && seen == d)
}

fn run(c: BreakerConfig, ops: Vec<Op>, tickets: bool) -> Result<(), TestCaseError> {
    let mut now = Instant::now();
    let mut b = Breaker::new(c.clone());
    let mut m = Model {
        c: c.clone(),
        st: BreakerState::Closed,
        epoch: 0,
        since_close: vec![],
        opened: None,
        out: 0,
        ok: 0,
        tr: [0; 3],
    };
    // Admitted and not yet recorded: the breaker's ticket and the model's epoch.
    let mut pending: Vec<(Option<Ticket>, u64)> = vec![];
    let mut opened_at = None;
    let mut st = BreakerState::Closed;
    for op in ops {
        let before = b.transitions();
        match op {
            Op::Advance(ms) => now += Duration::from_millis(ms),
            Op::State => {
                b.state(now);
                m.tick(now);
            }
            Op::Admit => {
                let got = if tickets {
                    b.admit_ticket(now).map(Some)
                } else {
                    match b.admit(now) {
                        Admit::Yes => Ok(None),
                        Admit::No { retry_after } => Err(retry_after),
                    }
                };
                let want = m.admit(now);
                prop_assert_eq!(got.is_ok(), want.is_ok());
                prop_assert_eq!(got.err(), want.err());
                if let (Ok(t), Ok(e)) = (got, want) {
                    pending.push((t, e));
                    if let Some(at) = opened_at {
                        prop_assert!(now >= at + c.open_for, "admitted before open_for");
                    }
                }
            }
            Op::Record(_, _) if pending.is_empty() => {}
            Op::Record(i, o) => {
                let (t, e) = pending.swap_remove(i % pending.len());
                match t {
                    Some(t) => b.record_ticket(now, t, o),
                    None => b.record(now, o),
                }
                m.record(now, t.map(|_| e), o);
            }
        }
        let after = b.transitions();
        let d = [0, 1, 2].map(|i| after[i] - before[i]);
        let new = b.state;
        prop_assert!(path_ok(st, new, d), "{st:?} -> {new:?} entering {d:?}");
        if d[1] > 0 && new == BreakerState::Open {
            opened_at = Some(now);
        } else if new != BreakerState::Open {
            opened_at = None;
        }
        st = new;
        prop_assert_eq!(after, m.tr);
        prop_assert_eq!(new, m.st);
        if new == BreakerState::Closed {
            let n = m.since_close.len();
            let tail = &m.since_close[n.saturating_sub(c.window as usize)..];
            let fails = tail.iter().filter(|f| **f).count();
            prop_assert_eq!(b.window_counts(), (fails as u32, tail.len() as u32));
        }
        prop_assert!(b.probes_in_flight() <= c.half_open_probes);
        if tickets && new == BreakerState::HalfOpen {
            let live = pending.iter().filter(|(t, _)| t.unwrap().epoch == b.epoch);
            prop_assert!(live.count() as u32 <= c.half_open_probes);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn breaker_follows_the_model_with_tickets(
        c in config(), ops in proptest::collection::vec(op(), 1..300)
    ) {
        run(c, ops, true)?;
    }

    #[test]
    fn breaker_follows_the_model_with_plain_records(
        c in config(), ops in proptest::collection::vec(op(), 1..300)
    ) {
        run(c, ops, false)?;
    }
}
