//! Unit tests for each rule of [`Slots`], and a property test that drives it with random
//! interleavings against a model of what the callers hold.

use super::*;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

const MS: Duration = Duration::from_millis(1);

fn cfg(min: usize, max: usize, max_waiters: usize) -> PoolConfig {
    PoolConfig {
        min,
        max,
        max_waiters,
        idle_timeout: 100 * MS,
        max_lifetime: 1000 * MS,
        check_after: 10 * MS,
        ..PoolConfig::default()
    }
}

fn wait<C>(a: Acquire<C>) -> (WaiterId, bool) {
    match a {
        Acquire::Wait { id, connect } => (id, connect),
        _ => panic!("expected Wait"),
    }
}

fn ready<C>(a: Acquire<C>) -> (C, Instant, bool) {
    match a {
        Acquire::Ready {
            conn,
            created,
            check,
        } => (conn, created, check),
        _ => panic!("expected Ready"),
    }
}

fn to_waiter<C>(h: Handoff<C>) -> (WaiterId, C, Instant) {
    match h {
        Handoff::ToWaiter { id, conn, created } => (id, conn, created),
        _ => panic!("expected ToWaiter"),
    }
}

/// Books with `n` idle connections 0..n, all created at `t`.
fn with_idle(c: PoolConfig, t: Instant, n: u32) -> Slots<u32> {
    let mut s = Slots::new(c);
    s.connecting = n as usize;
    for i in 0..n {
        assert!(matches!(s.connected(i, t), Handoff::Idle));
    }
    s
}

fn counts(idle: usize, in_use: usize, connecting: usize, waiting: usize) -> Counts {
    Counts {
        idle,
        in_use,
        connecting,
        waiting,
    }
}

#[test]
fn defaults_and_sanitized_bounds() {
    let c = PoolConfig::default();
    assert_eq!((c.min, c.max, c.max_waiters), (1, 8, 256));
    assert_eq!((c.acquire_timeout, c.check_after), (2000 * MS, 5000 * MS));
    assert_eq!(
        (c.idle_timeout, c.max_lifetime),
        (60_000 * MS, 1_800_000 * MS)
    );
    let s: Slots<()> = Slots::new(cfg(5, 0, 1));
    assert_eq!((s.config().min, s.config().max), (1, 1));
}

#[test]
fn acquire_queues_connects_within_max_then_refuses() {
    let t = Instant::now();
    let mut s: Slots<u32> = Slots::new(cfg(0, 2, 3));
    assert_eq!(wait(s.acquire(t)), (0, true));
    assert_eq!(wait(s.acquire(t)), (1, true));
    assert_eq!(wait(s.acquire(t)), (2, false), "at max: no third connect");
    assert_eq!(s.counts(), counts(0, 0, 2, 3));
    assert!(matches!(s.acquire(t), Acquire::Full));
    assert_eq!(s.stats().refused, 1);
}

#[test]
fn a_connect_in_flight_covers_a_new_waiter() {
    let t = Instant::now();
    let mut s: Slots<u32> = Slots::new(cfg(1, 4, 8));
    assert_eq!(s.maintain(t), Maintain { open: 1 });
    assert_eq!(
        wait(s.acquire(t)),
        (0, false),
        "maintain's connect serves it"
    );
    assert_eq!(wait(s.acquire(t)), (1, true));
    assert_eq!(s.counts(), counts(0, 0, 2, 2));
}

#[test]
fn connected_goes_to_the_oldest_waiter_else_idle() {
    let t = Instant::now();
    let mut s: Slots<u32> = Slots::new(cfg(0, 3, 8));
    let (a, _) = wait(s.acquire(t));
    let (b, _) = wait(s.acquire(t));
    assert_eq!(to_waiter(s.connected(10, t + MS)), (a, 10, t + MS));
    assert_eq!(to_waiter(s.connected(11, t)), (b, 11, t));
    s.connecting += 1;
    assert!(matches!(s.connected(12, t), Handoff::Idle));
    assert_eq!(s.counts(), counts(1, 2, 0, 0));
}

#[test]
fn acquire_takes_the_most_recent_idle_and_flags_stale_ones() {
    let t = Instant::now();
    let mut s = with_idle(cfg(0, 4, 8), t, 3);
    assert_eq!(
        ready(s.acquire(t + 10 * MS)),
        (2, t, false),
        "idle exactly check_after"
    );
    assert_eq!(ready(s.acquire(t + 11 * MS)), (1, t, true));
    assert!(matches!(s.release(1, t, false, t + 11 * MS), Handoff::Idle));
    assert_eq!(ready(s.acquire(t + 12 * MS)), (1, t, false));
    assert_eq!(s.counts(), counts(1, 2, 0, 0));
}

#[test]
fn acquire_closes_expired_idle_and_tries_the_next() {
    let t = Instant::now();
    let mut s = with_idle(cfg(0, 4, 8), t, 1);
    s.connecting = 2;
    assert!(matches!(s.connected(1, t + 500 * MS), Handoff::Idle));
    assert!(matches!(s.connected(2, t + 10 * MS), Handoff::Idle));
    // At 1001 ms, 0 and 2 are past the 1000 ms lifetime; 1 is not.
    assert_eq!(ready(s.acquire(t + 1011 * MS)).0, 1);
    assert_eq!(s.take_closed(), [2]);
    assert_eq!(wait(s.acquire(t + 1011 * MS)), (0, true));
    assert_eq!(s.take_closed(), [0]);
    assert_eq!(s.stats().closed_expired, 2);
    assert!(s.take_closed().is_empty());
}

#[test]
fn connect_failed_fails_the_oldest_waiter() {
    let t = Instant::now();
    let mut s: Slots<u32> = Slots::new(cfg(0, 2, 8));
    let (a, _) = wait(s.acquire(t));
    let (b, _) = wait(s.acquire(t));
    assert_eq!(s.connect_failed(), Some(a));
    assert_eq!(s.connect_failed(), Some(b));
    s.connecting += 1;
    assert_eq!(s.connect_failed(), None);
    assert_eq!(s.counts(), Counts::default());
}

#[test]
fn release_closes_broken_and_expired_else_serves_a_waiter_or_idles() {
    let t = Instant::now();
    let mut s = with_idle(cfg(0, 2, 8), t, 2);
    let (c0, _, _) = ready(s.acquire(t));
    let (c1, _, _) = ready(s.acquire(t));
    let (w, connect) = wait(s.acquire(t));
    assert!(!connect);
    assert!(matches!(s.release(c0, t, true, t), Handoff::Closed(1)));
    assert_eq!(s.counts(), counts(0, 1, 0, 1));
    assert_eq!(
        s.connect_for_waiters(),
        1,
        "the closed one's room goes to the waiter"
    );
    assert_eq!(s.connect_for_waiters(), 0);
    s.connecting -= 1;
    assert_eq!(to_waiter(s.release(c1, t, false, t)), (w, 0, t));
    assert!(matches!(
        s.release(0, t, false, t + 1001 * MS),
        Handoff::Closed(0)
    ));
    s.in_use += 1;
    assert!(matches!(
        s.release(5, t, false, t + 1000 * MS),
        Handoff::Idle
    ));
    assert_eq!(s.stats().closed_broken, 1);
    assert_eq!(s.stats().closed_expired, 1);
}

#[test]
fn cancel_leaves_the_queue_and_fifo_skips_it() {
    let t = Instant::now();
    let mut s: Slots<u32> = Slots::new(cfg(0, 1, 8));
    let (a, _) = wait(s.acquire(t));
    let (b, _) = wait(s.acquire(t));
    let (c, _) = wait(s.acquire(t));
    assert!(s.cancel(a));
    assert!(!s.cancel(a), "already gone");
    assert!(!s.cancel(99), "never queued");
    assert_eq!(to_waiter(s.connected(7, t)).0, b);
    assert!(!s.cancel(b), "handed a connection: the caller releases it");
    assert_eq!(to_waiter(s.release(7, t, false, t)).0, c);
    assert_eq!(s.counts(), counts(0, 1, 0, 0));
}

#[test]
fn maintain_opens_up_to_min_and_for_uncovered_waiters() {
    let t = Instant::now();
    let mut s: Slots<u32> = Slots::new(cfg(3, 4, 8));
    assert_eq!(s.maintain(t), Maintain { open: 3 });
    assert_eq!(
        s.maintain(t),
        Maintain { open: 0 },
        "connects in flight count"
    );
    for i in 0..3 {
        s.connected(i, t);
    }
    for _ in 0..4 {
        s.acquire(t);
    }
    assert_eq!(s.counts(), counts(0, 3, 1, 1));
    s.release(0, t, true, t);
    s.release(1, t, true, t);
    assert_eq!(s.counts(), counts(0, 1, 1, 1));
    assert_eq!(
        s.maintain(t),
        Maintain { open: 1 },
        "back to min 3, within max 4"
    );
    s.connect_failed();
    s.connect_failed();
    for _ in 0..4 {
        s.acquire(t);
    }
    assert_eq!(
        s.counts(),
        counts(0, 1, 3, 4),
        "the fourth waiter found no room"
    );
    assert_eq!(s.maintain(t), Maintain { open: 0 }, "max 4 stops it");
}

#[test]
fn maintain_closes_idle_down_to_min_lru_first_and_expired_always() {
    let t = Instant::now();
    let mut s = with_idle(cfg(2, 8, 8), t, 4);
    let (c3, _, _) = ready(s.acquire(t));
    s.release(c3, t, false, t + 50 * MS);
    // Idle since 0 ms: 0, 1, 2; since 50 ms: 3.
    assert_eq!(
        s.maintain(t + 100 * MS),
        Maintain { open: 0 },
        "100 ms is not over"
    );
    assert_eq!(s.maintain(t + 120 * MS), Maintain { open: 0 });
    assert_eq!(
        s.take_closed(),
        [0, 1],
        "least recently used first, down to min 2"
    );
    assert_eq!(s.counts().idle, 2);
    assert_eq!(
        s.maintain(t + 1001 * MS),
        Maintain { open: 2 },
        "lifetime: even below min"
    );
    assert_eq!(s.take_closed(), [2, 3]);
    assert_eq!(s.stats().closed_idle, 2);
    assert_eq!(s.stats().closed_expired, 2);
}

#[test]
fn maintain_never_closes_in_use() {
    let t = Instant::now();
    let mut s = with_idle(cfg(0, 8, 8), t, 2);
    let (c, _, _) = ready(s.acquire(t));
    assert_eq!(s.maintain(t + 5000 * MS), Maintain { open: 0 });
    assert_eq!(s.take_closed(), [0]);
    assert_eq!(s.counts(), counts(0, 1, 0, 0));
    assert!(matches!(
        s.release(c, t, false, t + 5000 * MS),
        Handoff::Closed(1)
    ));
}

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    Connect(bool),
    Release(usize, bool),
    Cancel(usize, bool),
    Maintain,
    ConnectForWaiters,
    Advance(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => Just(Op::Acquire),
        5 => prop::bool::weighted(0.7).prop_map(Op::Connect),
        4 => (any::<usize>(), prop::bool::weighted(0.2)).prop_map(|(i, b)| Op::Release(i, b)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, s)| Op::Cancel(i, s)),
        1 => Just(Op::Maintain),
        1 => Just(Op::ConnectForWaiters),
        3 => (0u32..12).prop_map(Op::Advance),
    ]
}

fn config() -> impl Strategy<Value = PoolConfig> {
    (
        0usize..4,
        0usize..5,
        0usize..4,
        1u32..30,
        5u32..80,
        0u32..10,
    )
        .prop_map(|(min, max, max_waiters, idle, life, check)| PoolConfig {
            min,
            max,
            max_waiters,
            idle_timeout: idle * MS,
            max_lifetime: life * MS,
            check_after: check * MS,
            ..PoolConfig::default()
        })
}

/// What the callers know: the connects they owe, the connections in their hands, the queue
/// as they saw it form, and every connection ever made.
struct World {
    s: Slots<u64>,
    c: PoolConfig,
    now: Instant,
    owed: usize,
    made: HashMap<u64, Instant>,
    hands: Vec<(u64, Instant)>,
    queue: VecDeque<WaiterId>,
    gone: Vec<WaiterId>,
    closed: HashSet<u64>,
}

impl World {
    fn expired(&self, created: Instant) -> bool {
        self.now.saturating_duration_since(created) > self.c.max_lifetime
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        let now = self.now;
        let before: Vec<(u64, Instant, Instant)> = self
            .s
            .idle
            .iter()
            .map(|e| (e.conn, e.created, e.idle_since))
            .collect();
        match op {
            Op::Advance(ms) => self.now += ms * MS,
            Op::Acquire => {
                let usable = before.iter().rev().find(|e| !self.expired(e.1));
                match self.s.acquire(now) {
                    Acquire::Ready {
                        conn,
                        created,
                        check,
                    } => {
                        let &(want, made, since) = usable.expect("Ready with no usable idle");
                        prop_assert_eq!((conn, created), (want, made));
                        prop_assert_eq!(check, now - since > self.c.check_after);
                        self.hands.push((conn, created));
                    }
                    Acquire::Wait { id, connect } => {
                        prop_assert!(usable.is_none(), "queued with a usable idle");
                        prop_assert!(!self.queue.contains(&id) && !self.gone.contains(&id));
                        self.queue.push_back(id);
                        let room =
                            self.s.counts().idle + self.hands.len() + self.owed < self.s.cfg.max;
                        prop_assert_eq!(connect, self.owed < self.queue.len() && room);
                        self.owed += usize::from(connect);
                    }
                    Acquire::Full => {
                        prop_assert!(usable.is_none());
                        prop_assert_eq!(self.queue.len(), self.c.max_waiters);
                    }
                }
            }
            Op::Connect(_) if self.owed == 0 => {}
            Op::Connect(ok) => {
                self.owed -= 1;
                if ok {
                    let conn = self.made.len() as u64;
                    self.made.insert(conn, now);
                    let h = self.s.connected(conn, now);
                    self.handoff(conn, now, h)?;
                } else {
                    let failed = self.s.connect_failed();
                    prop_assert_eq!(failed, self.queue.pop_front(), "fails the oldest");
                    self.gone.extend(failed);
                }
            }
            Op::Release(_, _) if self.hands.is_empty() => {}
            Op::Release(i, broken) => {
                let (conn, created) = self.hands.swap_remove(i % self.hands.len());
                let h = self.s.release(conn, created, broken, now);
                if broken || self.expired(created) {
                    prop_assert!(matches!(h, Handoff::Closed(c) if c == conn));
                    self.closed.insert(conn);
                } else {
                    self.handoff(conn, created, h)?;
                }
            }
            Op::Cancel(i, true) if !self.gone.is_empty() => {
                let id = self.gone[i % self.gone.len()];
                prop_assert!(!self.s.cancel(id), "a waiter no longer queued");
            }
            Op::Cancel(_, _) if self.queue.is_empty() => {}
            Op::Cancel(i, _) => {
                let id = self.queue.remove(i % self.queue.len()).unwrap();
                prop_assert!(self.s.cancel(id));
                self.gone.push(id);
            }
            Op::Maintain => {
                let open_before = before.len() + self.hands.len();
                self.owed += self.s.maintain(now).open;
                let c = self.s.counts();
                let (mut closed_for_idle, mut expired) = (false, 0);
                for conn in self.s.to_close.iter() {
                    let e = before.iter().find(|e| e.0 == *conn);
                    let &(_, created, since) = e.expect("maintain closed a connection not idle");
                    closed_for_idle |= !self.expired(created);
                    expired += usize::from(self.expired(created));
                    prop_assert!(self.expired(created) || now - since > self.c.idle_timeout);
                }
                if closed_for_idle {
                    prop_assert!(c.idle + c.in_use >= self.s.cfg.min.min(open_before - expired));
                }
                for e in &self.s.idle {
                    prop_assert!(!self.expired(e.created));
                    let idle_long = now - e.idle_since > self.c.idle_timeout;
                    prop_assert!(!idle_long || c.idle + c.in_use <= self.s.cfg.min);
                }
                prop_assert!(
                    c.idle + c.in_use + c.connecting >= self.s.cfg.min,
                    "below min"
                );
                self.covered()?;
            }
            Op::ConnectForWaiters => {
                self.owed += self.s.connect_for_waiters();
                self.covered()?;
            }
        }
        for conn in self.s.take_closed() {
            prop_assert!(self.closed.insert(conn), "closed twice");
        }
        self.invariants()
    }

    /// Every waiter is covered by a connect in flight, as far as `max` allows.
    fn covered(&self) -> Result<(), TestCaseError> {
        let c = self.s.counts();
        let room = self.s.cfg.max - c.idle - c.in_use;
        prop_assert!(c.connecting >= c.waiting.min(room), "{c:?}");
        Ok(())
    }

    /// Where a free connection went: checks FIFO and moves it to its new place.
    fn handoff(
        &mut self,
        conn: u64,
        created: Instant,
        h: Handoff<u64>,
    ) -> Result<(), TestCaseError> {
        match h {
            Handoff::ToWaiter {
                id,
                conn: c,
                created: at,
            } => {
                prop_assert_eq!((c, at), (conn, created));
                prop_assert_eq!(Some(id), self.queue.pop_front(), "not the oldest waiter");
                self.gone.push(id);
                self.hands.push((conn, created));
            }
            Handoff::Idle => prop_assert!(self.queue.is_empty(), "idle while a caller waits"),
            Handoff::Closed(_) => prop_assert!(false, "closed a healthy connection"),
        }
        Ok(())
    }

    fn invariants(&self) -> Result<(), TestCaseError> {
        let c = self.s.counts();
        prop_assert!(
            c.idle + c.in_use + c.connecting <= self.s.cfg.max,
            "{c:?} over max"
        );
        prop_assert!(c.waiting <= self.c.max_waiters);
        prop_assert!(c.waiting == 0 || c.idle == 0, "idle while a caller waits");
        let model = counts(c.idle, self.hands.len(), self.owed, self.queue.len());
        prop_assert_eq!(c, model);
        prop_assert!(self.s.waiters.iter().eq(self.queue.iter()), "queue order");
        // Every connection ever made is in exactly one place.
        let idle: Vec<u64> = self.s.idle.iter().map(|e| e.conn).collect();
        let places = idle
            .iter()
            .chain(self.hands.iter().map(|h| &h.0))
            .chain(&self.closed);
        let mut seen = HashSet::new();
        for conn in places {
            prop_assert!(seen.insert(*conn), "connection {} in two places", conn);
        }
        prop_assert_eq!(seen.len(), self.made.len(), "a connection was lost");
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn slots_keep_their_bounds_and_books(
        c in config(), ops in proptest::collection::vec(op(), 1..300)
    ) {
        let mut w = World {
            s: Slots::new(c.clone()),
            c,
            now: Instant::now(),
            owed: 0,
            made: HashMap::new(),
            hands: vec![],
            queue: VecDeque::new(),
            gone: vec![],
            closed: HashSet::new(),
        };
        for op in ops {
            w.step(op)?;
        }
    }
}
