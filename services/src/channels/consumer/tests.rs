use super::*;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

const WAIT: Duration = Duration::from_millis(100);

fn cfg(max_ack_pending: u32) -> Config {
    Config {
        ack_wait: WAIT,
        max_ack_pending,
    }
}

fn d(seq: u64, deliveries: u32) -> Option<Delivery> {
    Some(Delivery { seq, deliveries })
}

#[test]
fn delivers_acks_and_redelivers_after_ack_wait() {
    let t = Instant::now();
    let mut c = Consumer::new(cfg(2), 1);
    assert_eq!(c.next_delivery(t, 1, 4), d(1, 1));
    assert_eq!(c.next_delivery(t, 1, 4), d(2, 1));
    assert_eq!(c.next_delivery(t, 1, 4), None, "max_ack_pending");
    assert_eq!(c.next_deadline(), Some(t + WAIT));
    assert_eq!(c.ack(2), Ok(()));
    assert_eq!(c.ack(2), Err(NotPending));
    assert_eq!(c.ack(9), Err(NotPending));
    assert_eq!(c.floor(), 1);
    assert_eq!(c.next_delivery(t, 1, 4), d(3, 1));
    assert_eq!(c.next_delivery(t + WAIT, 1, 4), d(1, 2));
    assert_eq!(c.nak(3, t + WAIT), Ok(()));
    assert_eq!(c.next_delivery(t + WAIT, 1, 4), d(3, 2));
    assert_eq!(c.ack(1), Ok(()));
    assert_eq!(c.floor(), 3);
    assert_eq!(c.ack(3), Ok(()));
    assert_eq!(c.floor(), 4);
    assert_eq!(c.next_delivery(t + WAIT * 9, 1, 4), None);
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn trimmed_seqs_are_skipped() {
    let t = Instant::now();
    let mut c = Consumer::new(cfg(10), 1);
    assert_eq!(c.next_delivery(t, 1, 5), d(1, 1));
    assert_eq!(c.next_delivery(t, 1, 5), d(2, 1));
    assert_eq!(c.next_delivery(t + WAIT, 3, 5), d(3, 1), "1 and 2 are gone");
    assert_eq!(c.pending_len(), 1);
    assert_eq!(c.ack(1), Err(NotPending));
    assert_eq!(c.floor(), 3);
    let mut c = Consumer::new(cfg(10), 1);
    assert_eq!(
        c.next_delivery(t, 7, 9),
        d(7, 1),
        "a start before the log's first"
    );
}

#[test]
fn restore_redelivers_unacked_at_once() {
    let t = Instant::now();
    let mut c = Consumer::new(cfg(10), 5);
    c.set_epoch(3);
    for seq in 5..10 {
        assert_eq!(c.next_delivery(t, 1, 20), d(seq, 1));
    }
    c.ack(6).unwrap();
    c.ack(7).unwrap();
    c.ack(9).unwrap();
    let s = c.stored();
    assert_eq!(s.floor, 5);
    assert_eq!(s.delivered_upto, 10);
    assert_eq!(s.acked, vec![(6, 8), (9, 10)]);
    assert_eq!(s.epoch, 3);
    let s = Stored::decode(&s.encode()).unwrap();
    let mut c = Consumer::restore(s, t);
    assert_eq!(c.epoch(), 3);
    assert_eq!(c.pending_len(), 2);
    assert_eq!(c.next_deadline(), Some(t));
    let mut got = vec![c.next_delivery(t, 1, 20), c.next_delivery(t, 1, 20)];
    got.sort_by_key(|x| x.map(|d| d.seq));
    assert_eq!(got, vec![d(5, 2), d(8, 2)]);
    assert_eq!(c.next_delivery(t, 1, 20), d(10, 1));
}

#[test]
fn decode_refuses_bad_state() {
    let s = Stored {
        epoch: 1,
        config: cfg(5),
        floor: 3,
        delivered_upto: 9,
        acked: vec![(4, 6)],
    };
    let b = s.encode();
    assert_eq!(Stored::decode(&b), Ok(s));
    assert!(
        Stored::decode(&b[..b.len() - 1])
            .unwrap_err()
            .contains("length")
    );
    assert!(Stored::decode(&[]).unwrap_err().contains("truncated"));
    let mut v = b.clone();
    v[0] = 2;
    assert!(Stored::decode(&v).unwrap_err().contains("version 2"));
    let mut v = b.clone();
    v[b.len() - 16..b.len() - 8].copy_from_slice(&3u64.to_be_bytes());
    assert!(Stored::decode(&v).unwrap_err().contains("ranges"));
}

/// A valid stored state, built from gaps and range lengths.
fn stored() -> impl Strategy<Value = Stored> {
    (
        any::<u64>(),
        (any::<u64>(), 0u32..1_000_000_000, 1..=MAX_ACK_PENDING),
        1u64..1 << 40,
        proptest::collection::vec((1u64..5, 1u64..5), 0..6),
        0u64..5,
    )
        .prop_map(|(epoch, (secs, nanos, max), floor, runs, tail)| {
            let mut acked = Vec::new();
            let mut end = floor;
            for (gap, len) in runs {
                acked.push((end + gap, end + gap + len));
                end += gap + len;
            }
            Stored {
                epoch,
                config: Config {
                    ack_wait: Duration::new(secs, nanos),
                    max_ack_pending: max,
                },
                floor,
                delivered_upto: end + tail,
                acked,
            }
        })
}

#[derive(Debug, Clone)]
enum Op {
    Append(u64),
    Deliver(u8),
    /// Ack the client's n-th unacknowledged delivery.
    Ack(usize),
    /// Ack any sequence number (most are not in flight).
    AckAny(u64),
    Nak(usize),
    Advance(u64),
    Trim(u64),
    Persist,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u64..4).prop_map(Op::Append),
        4 => (1u8..4).prop_map(Op::Deliver),
        4 => any::<usize>().prop_map(Op::Ack),
        1 => (0u64..40).prop_map(Op::AckAny),
        1 => any::<usize>().prop_map(Op::Nak),
        2 => (0u64..250).prop_map(Op::Advance),
        1 => (0u64..3).prop_map(Op::Trim),
        2 => Just(Op::Persist),
        1 => Just(Op::Crash),
    ]
}

struct Model {
    now: Instant,
    first: u64,
    next: u64,
    c: Consumer,
    /// The last persisted bytes.
    disk: Vec<u8>,
    /// Acks in the persisted state, and acks of this life not yet persisted.
    acked_persisted: HashSet<u64>,
    acked_unpersisted: HashSet<u64>,
    /// Sequence numbers delivered in earlier lives, and the counts of this life.
    delivered_before: HashSet<u64>,
    deliveries: HashMap<u64, u32>,
    /// The client's unacknowledged deliveries.
    received: Vec<u64>,
    floor: u64,
    persisted_floor: u64,
}

impl Model {
    fn check(&mut self) -> Result<(), TestCaseError> {
        prop_assert!(self.c.pending_len() <= self.c.config().max_ack_pending as usize);
        prop_assert!(self.c.floor() >= self.floor, "floor went down");
        self.floor = self.c.floor();
        Ok(())
    }

    fn deliver(&mut self) -> Result<Option<u64>, TestCaseError> {
        let Some(dl) = self.c.next_delivery(self.now, self.first, self.next) else {
            return Ok(None);
        };
        let seq = dl.seq;
        prop_assert!(
            seq >= self.first && seq < self.next,
            "{} is not in the log",
            seq
        );
        prop_assert!(
            !self.acked_persisted.contains(&seq),
            "{} redelivered after a persisted ack",
            seq
        );
        prop_assert!(
            !self.acked_unpersisted.contains(&seq),
            "{} redelivered after an ack",
            seq
        );
        if let Some(&before) = self.deliveries.get(&seq) {
            prop_assert!(
                dl.deliveries > before,
                "{}: count {} after {}",
                seq,
                dl.deliveries,
                before
            );
        } else if self.delivered_before.contains(&seq) {
            prop_assert!(dl.deliveries >= 2, "{} delivered before a restart", seq);
        } else {
            prop_assert_eq!(dl.deliveries, 1);
        }
        self.deliveries.insert(seq, dl.deliveries);
        self.received.retain(|&s| s != seq);
        self.received.push(seq);
        Ok(Some(seq))
    }

    fn ack(&mut self, seq: u64) -> Result<(), TestCaseError> {
        if self.c.ack(seq).is_ok() {
            prop_assert!(seq < self.next);
            prop_assert!(self.acked_unpersisted.insert(seq), "{} acked twice", seq);
            prop_assert!(!self.acked_persisted.contains(&seq), "{} acked twice", seq);
        }
        self.received.retain(|&s| s != seq);
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Append(n) => self.next += n,
            Op::Deliver(k) => {
                for _ in 0..k {
                    self.deliver()?;
                }
            }
            Op::Ack(i) if !self.received.is_empty() => {
                let seq = self.received[i % self.received.len()];
                self.ack(seq)?;
            }
            Op::Ack(_) => {}
            Op::AckAny(seq) => self.ack(seq)?,
            Op::Nak(i) if !self.received.is_empty() => {
                let seq = self.received[i % self.received.len()];
                let _ = self.c.nak(seq, self.now);
            }
            Op::Nak(_) => {}
            Op::Advance(ms) => self.now += Duration::from_millis(ms),
            Op::Trim(k) => self.first = (self.first + k).min(self.next),
            Op::Persist => {
                let s = self.c.stored();
                prop_assert!(s.floor >= self.persisted_floor, "persisted floor went down");
                self.persisted_floor = s.floor;
                self.disk = s.encode();
                self.acked_persisted.extend(self.acked_unpersisted.drain());
            }
            Op::Crash => {
                let s = Stored::decode(&self.disk).map_err(TestCaseError::fail)?;
                let upto = s.delivered_upto;
                self.c = Consumer::restore(s, self.now);
                self.floor = self.c.floor();
                self.acked_unpersisted.clear();
                // Only deliveries the persisted state knows of count as earlier ones.
                self.delivered_before
                    .extend(self.deliveries.drain().map(|(s, _)| s));
                self.delivered_before.retain(|&s| s < upto);
                self.received.clear();
            }
        }
        self.check()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn stored_round_trips(s in stored()) {
        let b = s.encode();
        prop_assert_eq!(Stored::decode(&b), Ok(s));
    }

    #[test]
    fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(s) = Stored::decode(&b) {
            prop_assert_eq!(s.encode(), b, "one encoding per state");
        }
    }

    #[test]
    fn acked_never_redelivered_and_none_lost(
        max in 1u32..6,
        pre in 0u64..5,
        start in 1u64..8,
        ops in proptest::collection::vec(op(), 0..120),
    ) {
        let t0 = Instant::now();
        let next = 1 + pre;
        let start = start.min(next);
        let c = Consumer::new(cfg(max), start);
        let mut m = Model {
            now: t0,
            first: 1,
            next,
            disk: c.stored().encode(),
            c,
            acked_persisted: HashSet::new(),
            acked_unpersisted: HashSet::new(),
            delivered_before: HashSet::new(),
            deliveries: HashMap::new(),
            received: Vec::new(),
            floor: start,
            persisted_floor: start,
        };
        for op in &ops {
            m.apply(op)?;
        }
        // The client now acknowledges everything it gets.
        let mut rounds = 0;
        while m.c.floor() < m.next {
            rounds += 1;
            prop_assert!(rounds < 1000, "stuck at floor {}", m.c.floor());
            while let Some(seq) = m.deliver()? {
                m.ack(seq)?;
                m.check()?;
            }
            m.now += WAIT;
        }
        prop_assert_eq!(m.c.pending_len(), 0);
        for seq in start..m.next {
            let acked = m.acked_persisted.contains(&seq) || m.acked_unpersisted.contains(&seq);
            prop_assert!(seq < m.first || acked, "{} lost (log [{}, {}))", seq, m.first, m.next);
        }
    }
}
