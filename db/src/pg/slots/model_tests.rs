//! A property test that drives [`Slots`] with random interleavings of acquire, connect
//! (succeeding or failing), release (healthy or broken), cancel, maintain and time passing,
//! against a model of what the callers hold: the bounds hold, no connection is lost or
//! duplicated, and waiters are served first come, first served.

use super::*;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

const MS: Duration = Duration::from_millis(1);

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
        let model = Counts {
            idle: c.idle,
            in_use: self.hands.len(),
            connecting: self.owed,
            waiting: self.queue.len(),
        };
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
