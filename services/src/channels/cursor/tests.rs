use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;

#[test]
fn in_order_live_messages_are_delivered_as_they_come() {
    let mut c = Cursor::new(1);
    assert_eq!(c.read_from(), Some(1));
    assert_eq!(c.on_read_end(true), None);
    assert_eq!(c.read_from(), None);
    assert_eq!(c.on_live(1), Live::Deliver);
    assert_eq!(c.on_live(2), Live::Deliver);
    assert_eq!(c.on_live(2), Live::Drop);
    assert_eq!(c.next(), 3);
}

#[test]
fn a_jump_catches_up_from_the_store() {
    let mut c = Cursor::new(5);
    c.read_from();
    c.on_read_end(true);
    assert_eq!(c.on_live(7), Live::CatchUp);
    assert_eq!(c.read_from(), Some(5));
    assert_eq!(c.on_live(5), Live::Drop, "catching up: the store has it");
    assert_eq!(c.on_live(8), Live::Drop, "announced during the read");
    assert_eq!(c.on_read(5), Read::Deliver);
    assert_eq!(c.on_read(6), Read::Deliver);
    assert_eq!(c.on_read(7), Read::Deliver);
    assert_eq!(c.on_read_end(true), None);
    assert_eq!(
        c.read_from(),
        Some(8),
        "8 was announced during the read: read again"
    );
    assert_eq!(c.on_read(8), Read::Deliver);
    assert_eq!(c.on_read_end(true), None);
    assert_eq!(c.read_from(), None);
    assert_eq!(c.on_live(6), Live::Drop);
    assert_eq!(c.on_live(8), Live::Drop);
    assert_eq!(c.on_live(9), Live::Deliver);
    // An overflow during a read: the read may have missed what was lost, so read again.
    c.on_overflow();
    assert_eq!(c.read_from(), Some(10));
    c.on_overflow();
    assert_eq!(c.on_read_end(true), None);
    assert_eq!(c.read_from(), Some(10));
    assert_eq!(c.on_read_end(true), None);
    assert_eq!(c.read_from(), None);
}

#[test]
fn trims_are_reported_as_gaps() {
    let mut c = Cursor::new(1);
    assert_eq!(c.on_trimmed(4), Some(Gap { from: 1, to: 4 }));
    assert_eq!(c.on_trimmed(2), None);
    assert_eq!(c.on_read(6), Read::Gap(Gap { from: 4, to: 6 }));
    assert_eq!(c.on_read(6), Read::Drop);
    c.on_read_end(true);
    c.on_overflow();
    assert_eq!(c.read_from(), Some(7));
    // 7 and 8 were announced, but the read found nothing: trimmed meanwhile.
    assert_eq!(c.on_live(8), Live::Drop);
    assert_eq!(c.read_from(), Some(7));
    assert_eq!(c.on_read_end(true), Some(Gap { from: 7, to: 9 }));
    assert_eq!(c.read_from(), None);
}

#[derive(Debug, Clone)]
enum Op {
    /// A publish through core 0 or 1 (its notice is queued on that core).
    Append(bool),
    /// The core's oldest notice reaches the subscriber.
    Notify(bool),
    /// The core's oldest notice reaches the subscriber and stays queued (a duplicate).
    Dup(bool),
    /// The core's oldest notice is lost to an overflow (signalled later).
    Lose(bool),
    /// The overflow signal, if one is due, reaches the subscriber.
    Overflow,
    /// Starts a store read of up to this many records if the cursor asks for one, or
    /// finishes the read in flight (notices may be handled while it is in flight).
    Read(u64),
    /// Retention removes up to this many of the oldest records.
    Trim(u64),
    /// The handler learns the log's first (say from an info call).
    Trimmed,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<bool>().prop_map(Op::Append),
        4 => any::<bool>().prop_map(Op::Notify),
        1 => any::<bool>().prop_map(Op::Dup),
        1 => any::<bool>().prop_map(Op::Lose),
        1 => Just(Op::Overflow),
        3 => (1u64..4).prop_map(Op::Read),
        1 => (0u64..4).prop_map(Op::Trim),
        1 => Just(Op::Trimmed),
    ]
}

/// The store, the cores' notice queues and what the subscriber got.
struct World {
    first: u64,
    next: u64,
    cores: [VecDeque<u64>; 2],
    overflow: bool,
    /// The records a started read returned, and whether it reached the end.
    reading: Option<(Vec<u64>, bool)>,
    cur: Cursor,
    /// Everything below was delivered or reported as a gap, in order.
    pos: u64,
    delivered: Vec<u64>,
}

impl World {
    fn deliver(&mut self, seq: u64) -> Result<(), TestCaseError> {
        prop_assert!(
            self.delivered.last().is_none_or(|&l| l < seq),
            "not increasing"
        );
        prop_assert_eq!(seq, self.pos, "delivered out of order or skipped");
        self.delivered.push(seq);
        self.pos = seq + 1;
        Ok(())
    }

    fn gap(&mut self, g: Gap) -> Result<(), TestCaseError> {
        prop_assert!(
            g.from < g.to && g.to <= self.first,
            "{:?} was not trimmed",
            g
        );
        prop_assert_eq!(g.from, self.pos);
        self.pos = g.to;
        Ok(())
    }

    fn notify(&mut self, core: bool, keep: bool) -> Result<(), TestCaseError> {
        let q = &mut self.cores[usize::from(core)];
        let Some(&seq) = q.front() else { return Ok(()) };
        if !keep {
            q.pop_front();
        }
        if self.cur.on_live(seq) == Live::Deliver {
            self.deliver(seq)?;
        }
        Ok(())
    }

    fn start_read(&mut self, limit: u64) {
        if let Some(from) = self.cur.read_from() {
            let start = from.max(self.first);
            let end = self.next.min(start + limit);
            self.reading = Some(((start..end).collect(), end - start < limit));
        }
    }

    fn finish_read(&mut self) -> Result<(), TestCaseError> {
        let Some((records, reached_end)) = self.reading.take() else {
            return Ok(());
        };
        for seq in records {
            match self.cur.on_read(seq) {
                Read::Deliver => self.deliver(seq)?,
                Read::Gap(g) => {
                    self.gap(g)?;
                    self.deliver(seq)?;
                }
                Read::Drop => {}
            }
        }
        if let Some(g) = self.cur.on_read_end(reached_end) {
            self.gap(g)?;
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Append(core) => {
                self.cores[usize::from(core)].push_back(self.next);
                self.next += 1;
            }
            Op::Notify(core) => self.notify(core, false)?,
            Op::Dup(core) => self.notify(core, true)?,
            Op::Lose(core) => {
                if self.cores[usize::from(core)].pop_front().is_some() {
                    self.overflow = true;
                }
            }
            Op::Overflow => {
                if std::mem::take(&mut self.overflow) {
                    self.cur.on_overflow();
                }
            }
            Op::Read(_) if self.reading.is_some() => self.finish_read()?,
            Op::Read(limit) => self.start_read(limit),
            Op::Trim(k) => self.first = (self.first + k).min(self.next),
            Op::Trimmed => {
                if let Some(g) = self.cur.on_trimmed(self.first) {
                    self.gap(g)?;
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn delivers_each_seq_once_in_order(
        pre in 0u64..6,
        start_back in 0u64..7,
        first_back in 0u64..7,
        ops in proptest::collection::vec(op(), 0..80),
    ) {
        let next = pre + 1;
        let start = next.saturating_sub(start_back).max(1);
        let first = next.saturating_sub(first_back).max(1);
        let mut w = World {
            first,
            next,
            cores: [VecDeque::new(), VecDeque::new()],
            overflow: false,
            reading: None,
            cur: Cursor::new(start),
            pos: start,
            delivered: Vec::new(),
        };
        for op in &ops {
            w.apply(op)?;
        }
        // The notices stop: the rest of them arrive, then any overflow signal, then the
        // handler reads the store to its end.
        while !w.cores[0].is_empty() || !w.cores[1].is_empty() {
            w.notify(false, false)?;
            w.notify(true, false)?;
        }
        w.apply(&Op::Overflow)?;
        w.finish_read()?;
        for _ in 0..1000 {
            if !w.cur.is_catching_up() {
                break;
            }
            w.start_read(3);
            w.finish_read()?;
        }
        prop_assert!(!w.cur.is_catching_up(), "never caught up");
        // Every seq in [start, pos) was delivered or reported trimmed (`pos` moves only by
        // deliveries and gaps, each starting where the last ended); the rest is trimmed (a
        // read of a log trimmed to empty cannot see the gap: it is reported with the next
        // record, or by `on_trimmed`).
        prop_assert_eq!(w.pos, w.cur.next());
        prop_assert!(w.pos == w.next || w.first == w.next, "stopped early at {}", w.pos);
        if let Some(g) = w.cur.on_trimmed(w.first) {
            w.gap(g)?;
        }
        prop_assert_eq!(w.pos, w.next);
        let mut sorted = w.delivered.clone();
        sorted.dedup();
        prop_assert_eq!(sorted.len(), w.delivered.len(), "duplicates");
        // Whatever was not delivered was trimmed.
        for seq in start..w.next {
            prop_assert!(w.delivered.contains(&seq) || seq < w.first, "{} lost", seq);
        }
    }
}
