//! A named consumer's state: cursor, deliveries in flight, acknowledgements.
//!
//! A JetStream-like pull consumer with at-least-once delivery, as a sans-I/O state machine:
//! the caller passes the time and the log's bounds in, sends what [`Consumer::next_delivery`]
//! returns, feeds acknowledgements back, and persists [`Consumer::stored`] (after acks, and
//! after new deliveries) under the consumer's key.
//!
//! The state: `floor` (every sequence number below it is acknowledged, or was trimmed from the
//! log before it was acknowledged), `next` (the next never-delivered sequence number), the
//! deliveries in flight (delivered, not acknowledged: how often, and until when the client has
//! to acknowledge), and the acknowledged sequence numbers above the floor, as ranges. Every
//! sequence number in `[floor, next)` is either in flight or acknowledged.
//!
//! A delivery not acknowledged within `ack_wait` (or negatively acknowledged with
//! [`Consumer::nak`]) is delivered again, with a higher delivery count. At most
//! `max_ack_pending` deliveries are in flight; new messages wait until some are acknowledged.
//!
//! The handler loop:
//!
//! ```text
//! // on attach: Consumer::restore(Stored::decode(&bytes)?, now), or Consumer::new(cfg, start)
//! // whenever woken (append, ack, nak, or the timer at next_deadline()):
//! while let Some(d) = c.next_delivery(now, info.first, info.next) {
//!     send(d.seq, d.deliveries, db.log_read(name, d.seq, 1))   // a record trimmed
//! }                                                             // meanwhile: skip it
//! arm_timer(c.next_deadline());
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

mod stored;
pub use stored::Stored;

/// The most deliveries in flight one consumer may have (a larger `max_ack_pending` is
/// clamped to it), which bounds the memory of one consumer.
pub const MAX_ACK_PENDING: u32 = 1 << 20;

/// A consumer's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How long the client has to acknowledge a delivery before it is delivered again.
    pub ack_wait: Duration,
    /// The most deliveries in flight (unacknowledged) at once; `1..=`[`MAX_ACK_PENDING`].
    pub max_ack_pending: u32,
}

impl Config {
    /// `max_ack_pending` brought into `1..=MAX_ACK_PENDING`.
    fn clamped(self) -> Config {
        Config {
            max_ack_pending: self.max_ack_pending.clamp(1, MAX_ACK_PENDING),
            ..self
        }
    }
}

/// A message to send to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Its sequence number.
    pub seq: u64,
    /// 1 on the first delivery, 2.. on redeliveries.
    pub deliveries: u32,
}

/// An acknowledgement of a sequence number that is not in flight (never delivered, already
/// acknowledged, or trimmed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotPending;

impl fmt::Display for NotPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sequence number not in flight")
    }
}

impl std::error::Error for NotPending {}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    deliveries: u32,
    deadline: Instant,
}

/// A named consumer; see the module documentation.
#[derive(Debug, Clone)]
pub struct Consumer {
    cfg: Config,
    epoch: u64,
    floor: u64,
    next: u64,
    pending: BTreeMap<u64, InFlight>,
    /// `pending`'s deadlines, earliest first.
    due: BTreeSet<(Instant, u64)>,
    /// Acknowledged ranges `start -> end` (exclusive), disjoint and not adjacent, inside
    /// `(floor, next)`.
    acked: BTreeMap<u64, u64>,
}

impl Consumer {
    /// A consumer that starts at sequence number `start` (at least 1), epoch 0.
    pub fn new(cfg: Config, start: u64) -> Consumer {
        let start = start.max(1);
        Consumer {
            cfg: cfg.clamped(),
            epoch: 0,
            floor: start,
            next: start,
            pending: BTreeMap::new(),
            due: BTreeSet::new(),
            acked: BTreeMap::new(),
        }
    }

    /// The consumer as persisted in `s`. Delivery counts are not persisted: every sequence
    /// number delivered but not acknowledged is in flight again, due at once, and counted as
    /// delivered once before (its redelivery carries 2), whatever the count was.
    pub fn restore(s: Stored, now: Instant) -> Consumer {
        let mut c = Consumer {
            cfg: s.config.clamped(),
            epoch: s.epoch,
            floor: s.floor,
            next: s.delivered_upto.max(s.floor),
            pending: BTreeMap::new(),
            due: BTreeSet::new(),
            acked: BTreeMap::new(),
        };
        let mut seq = c.floor;
        for (a, b) in s.acked.into_iter().chain([(c.next, c.next)]) {
            let (a, b) = (a.clamp(seq, c.next), b.clamp(seq, c.next));
            while seq < a {
                c.pending.insert(
                    seq,
                    InFlight {
                        deliveries: 1,
                        deadline: now,
                    },
                );
                c.due.insert((now, seq));
                seq += 1;
            }
            if a < b {
                c.acked.insert(a, b);
                seq = b;
            }
        }
        c.update_floor();
        c
    }

    /// What to persist.
    pub fn stored(&self) -> Stored {
        Stored {
            epoch: self.epoch,
            config: self.cfg,
            floor: self.floor,
            delivered_upto: self.next,
            acked: self.acked.iter().map(|(&a, &b)| (a, b)).collect(),
        }
    }

    /// The settings.
    pub fn config(&self) -> Config {
        self.cfg
    }

    /// Changes the settings (a client attached with others); deadlines already set stay.
    pub fn set_config(&mut self, cfg: Config) {
        self.cfg = cfg.clamped();
    }

    /// The ownership epoch (the caller's compare-and-set token; persisted, not interpreted).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Sets the ownership epoch.
    pub fn set_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
    }

    /// Every sequence number below it is acknowledged or was trimmed.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// The next sequence number never delivered.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Deliveries in flight.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Whether `seq` is in flight.
    pub fn is_pending(&self, seq: u64) -> bool {
        self.pending.contains_key(&seq)
    }

    /// When the earliest delivery in flight is due again (`None`: nothing in flight).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.due.first().map(|&(d, _)| d)
    }

    /// The next message to send, if any: a delivery in flight whose deadline passed (earliest
    /// deadline first; its count goes up and its deadline is `now + ack_wait`), else the next
    /// new message while fewer than `max_ack_pending` are in flight. The log holds
    /// `[log_first, log_next)`; sequence numbers below `log_first` were trimmed and count as
    /// done, in flight or not.
    pub fn next_delivery(
        &mut self,
        now: Instant,
        log_first: u64,
        log_next: u64,
    ) -> Option<Delivery> {
        self.skip_trimmed(log_first);
        let deadline = now.checked_add(self.cfg.ack_wait).unwrap_or(now);
        if let Some(&(due, seq)) = self.due.first().filter(|&&(due, _)| due <= now) {
            self.due.remove(&(due, seq));
            let f = self.pending.get_mut(&seq).expect("due entries are pending");
            f.deliveries = f.deliveries.saturating_add(1);
            f.deadline = deadline;
            self.due.insert((deadline, seq));
            return Some(Delivery {
                seq,
                deliveries: f.deliveries,
            });
        }
        if self.next >= log_next || self.pending.len() >= self.cfg.max_ack_pending as usize {
            return None;
        }
        let seq = self.next;
        self.next += 1;
        let deliveries = 1;
        self.pending.insert(
            seq,
            InFlight {
                deliveries,
                deadline,
            },
        );
        self.due.insert((deadline, seq));
        Some(Delivery { seq, deliveries })
    }

    /// The client acknowledged `seq`: it is never delivered again.
    pub fn ack(&mut self, seq: u64) -> Result<(), NotPending> {
        let f = self.pending.remove(&seq).ok_or(NotPending)?;
        self.due.remove(&(f.deadline, seq));
        self.insert_acked(seq);
        if seq == self.floor {
            self.update_floor();
        }
        Ok(())
    }

    /// The client refused `seq`: it is due again at once.
    pub fn nak(&mut self, seq: u64, now: Instant) -> Result<(), NotPending> {
        let f = self.pending.get_mut(&seq).ok_or(NotPending)?;
        self.due.remove(&(f.deadline, seq));
        f.deadline = now;
        self.due.insert((now, seq));
        Ok(())
    }

    /// Forgets what the log no longer has below `first`.
    fn skip_trimmed(&mut self, first: u64) {
        if first <= self.floor {
            return;
        }
        self.next = self.next.max(first);
        let kept = self.pending.split_off(&first);
        for (seq, f) in std::mem::replace(&mut self.pending, kept) {
            self.due.remove(&(f.deadline, seq));
        }
        self.update_floor();
    }

    /// Moves the floor up to the first sequence number in flight (or `next`), dropping the
    /// acknowledged ranges below it.
    fn update_floor(&mut self) {
        let floor = self
            .pending
            .first_key_value()
            .map_or(self.next, |(&s, _)| s);
        self.floor = floor.min(self.next);
        self.acked = self.acked.split_off(&self.floor);
    }

    fn insert_acked(&mut self, seq: u64) {
        let mut start = seq;
        let mut end = seq + 1;
        if let Some((&a, _)) = self
            .acked
            .range(..seq)
            .next_back()
            .filter(|(_, b)| **b == seq)
        {
            start = a;
        }
        if let Some(b) = self.acked.remove(&end) {
            end = b;
        }
        self.acked.insert(start, end);
    }
}

#[cfg(test)]
mod tests;
