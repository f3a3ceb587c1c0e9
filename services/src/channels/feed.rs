//! A live subscription to one channel, as a stream of deliveries.
//!
//! **Ephemeral channel**: the hub's mailbox is the feed; a subscriber that falls
//! `stream.subscriber_queue` messages behind is cut ([`FeedError::Slow`]), as on the `pubsub`
//! service.
//!
//! **Durable channel**: the feed keeps a cursor, the next sequence number it owes. A hub
//! message with exactly that number is delivered from the mailbox (no store read); an older
//! one was already delivered and is dropped; a newer one, or a mailbox that overflowed, means
//! some were missed, so the feed reads the store from the cursor in pages until it reaches the
//! head, then goes back to the mailbox. Because a log's records become visible in order, every
//! sequence number below one seen on the hub can be read. So a durable subscriber never loses
//! a message, however slow it is or however the cores' messages interleave; what it can miss
//! is only what retention trimmed before it read it, which it is told ([`Item::Gap`]).

use super::{
    core::{ChannelError, Channels, READ_PAGE},
    cursor::{Cursor, Live, Read},
    stats::ChannelStats,
    watch::Poke,
};
use bytes::Bytes;
use ringwire_net::stream::{Subscription, Wakeup};
use std::rc::Rc;

/// How long a feed waits before it reads again after the store said "unavailable".
pub const RETRY_READ: std::time::Duration = std::time::Duration::from_secs(1);

/// What a feed hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A message: its sequence number (0 on an ephemeral channel) and its bytes.
    Message {
        /// Sequence number, 0 when ephemeral.
        seq: u64,
        /// The message.
        data: Bytes,
    },
    /// Retention removed `[from, to)` before this subscriber read them.
    Gap {
        /// First missed.
        from: u64,
        /// First not missed.
        to: u64,
    },
}

/// Why a feed ended.
#[derive(Debug)]
pub enum FeedError {
    /// An ephemeral subscriber fell `stream.subscriber_queue` messages behind.
    Slow,
    /// The store (or JetStream) failed while catching up.
    Store(ChannelError),
}

/// A live subscription (see the module's doc).
pub struct Feed {
    channels: Rc<Channels>,
    /// Durable: the channel (its log is read).
    log: Option<Rc<str>>,
    sub: Subscription,
    wakeup: Wakeup,
    /// Durable: where the subscriber is (see [`Cursor`]).
    cursor: Cursor,
    /// Items taken (cursor moved past them) but not handed out yet: a `ready` cancelled
    /// while it awaited the store leaves them here.
    taken: Vec<Item>,
    /// Durable, on a store other nodes append to: raised when the channel's head moved.
    poke: Option<Rc<Poke>>,
}

impl Feed {
    /// Subscribes to `channel`; `wakeup` is woken when the feed may have more (call
    /// [`ready`](Self::ready) or [`next`](Self::next)). A durable feed starts at 1 until
    /// [`start_at`](Self::start_at): join first, then ask [`Channels::start_seq`], so that
    /// nothing published in between is missed.
    pub fn join(channels: &Rc<Channels>, channel: &str, wakeup: Wakeup) -> Feed {
        let durable = channels.settings().durable.lookup(channel).is_some();
        let poke = durable
            .then(|| channels.watch(channel, wakeup.clone()))
            .flatten();
        Feed {
            channels: channels.clone(),
            log: durable.then(|| Rc::from(channel)),
            sub: channels.hub().join(channel, &wakeup),
            wakeup,
            cursor: Cursor::new(1),
            taken: Vec::new(),
            poke,
        }
    }

    /// Where a durable feed starts (it reads the store up to the head first).
    pub fn start_at(&mut self, seq: u64) {
        self.cursor = Cursor::new(seq);
        self.wakeup.wake();
    }

    /// Resolves once a message published on any core reaches this feed (subscribing crosses
    /// cores asynchronously): answer the subscriber only after.
    pub async fn routed(&self) {
        self.sub.routed().await
    }

    /// Whether the channel is durable.
    pub fn durable(&self) -> bool {
        self.log.is_some()
    }

    /// The next sequence number a durable feed owes.
    pub fn position(&self) -> u64 {
        self.cursor.next()
    }

    /// Up to `max` items available now, without waiting for new ones (empty: wait for the
    /// wakeup). A store read may be awaited (it is ready at once on the embedded store).
    ///
    /// Cancel-safe: what was taken from the mailbox before an awaited store read is kept in
    /// the feed and handed out by the next call.
    pub async fn ready(&mut self, max: usize) -> Result<Vec<Item>, FeedError> {
        let mut out = std::mem::take(&mut self.taken);
        let Some(log) = self.log.clone() else {
            while out.len() < max {
                let Some(mail) = self.sub.pop() else { break };
                out.push(Item::Message {
                    seq: 0,
                    data: mail.payload,
                });
            }
            if out.is_empty() && self.sub.overflowed() {
                return Err(FeedError::Slow);
            }
            return Ok(out);
        };
        if self.poke.as_ref().is_some_and(|p| p.take()) {
            // Another node appended: read the store from the cursor.
            self.cursor.on_overflow();
        }
        if self.sub.overflowed() {
            // The store read covers everything still queued: drop it, or the full mailbox
            // would overflow again at the next publish and keep the feed catching up.
            while self.sub.pop().is_some() {}
            self.sub.clear_overflow();
            self.cursor.on_overflow();
        }
        while out.len() < max && !self.cursor.is_catching_up() {
            let Some(mail) = self.sub.pop() else { break };
            if self.cursor.on_live(mail.seq) == Live::Deliver {
                out.push(Item::Message {
                    seq: mail.seq,
                    data: mail.payload,
                });
            }
        }
        if let Some(from) = self.cursor.read_from()
            && out.len() < max
        {
            let want = (max - out.len()).min(READ_PAGE);
            let channels = self.channels.clone();
            ChannelStats::add(&self.channels.stats().catch_up_reads, 1);
            // Kept here while the read is awaited (see above).
            self.taken = std::mem::take(&mut out);
            let read = channels.log_read(&log, from, want).await;
            out = std::mem::take(&mut self.taken);
            let entries = match read {
                Ok(e) => e,
                Err(e) => {
                    self.taken = out;
                    return Err(FeedError::Store(e));
                }
            };
            let reached_end = entries.len() < want;
            if entries.is_empty() {
                // At the head, or everything from the cursor on was trimmed.
                self.taken = std::mem::take(&mut out);
                let info = channels.log_info(&log).await;
                out = std::mem::take(&mut self.taken);
                let info = match info {
                    Ok(i) => i,
                    Err(e) => {
                        self.taken = out;
                        return Err(FeedError::Store(e));
                    }
                };
                if let Some(gap) = self.cursor.on_trimmed(info.first) {
                    out.push(Item::Gap {
                        from: gap.from,
                        to: gap.to,
                    });
                }
            }
            for e in entries {
                match self.cursor.on_read(e.seq) {
                    Read::Drop => continue,
                    Read::Gap(gap) => out.push(Item::Gap {
                        from: gap.from,
                        to: gap.to,
                    }),
                    Read::Deliver => {}
                }
                out.push(Item::Message {
                    seq: e.seq,
                    data: e.data,
                });
            }
            if let Some(gap) = self.cursor.on_read_end(reached_end) {
                out.push(Item::Gap {
                    from: gap.from,
                    to: gap.to,
                });
            }
            // Another read, or mail that came while reading: come back without waiting.
            if self.cursor.is_catching_up() || !self.sub.is_empty() {
                self.wakeup.wake();
            }
        }
        if let Some(p) = &self.poke {
            p.at(self.cursor.next());
        }
        let lost: u64 = out
            .iter()
            .map(|i| match i {
                Item::Gap { from, to } => to - from,
                Item::Message { .. } => 0,
            })
            .sum();
        if lost > 0 {
            ChannelStats::add(&self.channels.stats().trimmed_before_read, lost);
        }
        Ok(out)
    }

    /// Waits for the next items (at most `max`, at least one).
    pub async fn next(&mut self, max: usize) -> Result<Vec<Item>, FeedError> {
        loop {
            let items = match self.ready(max).await {
                Ok(items) => items,
                // JetStream between leaders, a bridge reconnecting: the subscription waits
                // and reads again (what was taken stays in the feed).
                Err(FeedError::Store(ChannelError::Unavailable(why))) => {
                    tracing::debug!("durable feed: {why}; reading again in {RETRY_READ:?}");
                    ringwire_reactor::time::sleep(RETRY_READ).await;
                    self.cursor.on_overflow();
                    continue;
                }
                Err(e) => return Err(e),
            };
            if !items.is_empty() {
                return Ok(items);
            }
            self.wakeup.woken().await;
        }
    }
}
