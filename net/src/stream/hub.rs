//! Publish/subscribe across cores.
//!
//! Every worker core has a `Hub`: the channels its own connections subscribed to, each
//! subscription a bounded `Mailbox`. A publish delivers to the local subscribers at once and is
//! forwarded to every other core's inbox (a reactor channel: message + wake), whose hub
//! delivers to its subscribers. Messages of one publisher on one channel stay in order: they
//! are handled in order on the publisher's core and cross to each other core through one FIFO.
//!
//! **Slow consumers**: a mailbox holds at most `capacity` messages. A publish that finds it
//! full marks the subscription overflowed instead of queueing or blocking the publisher; the
//! subscriber's connection then resets that stream with `SLOW_CONSUMER` (code 0xb), and the
//! event is counted (`ringwire_stream_pubsub_slow_consumers_total`). A subscriber that keeps up
//! never loses a message.

use bytes::Bytes;
use ringwire_reactor::channel::{self, Receiver, Sender};
use std::{
    cell::{Cell, RefCell},
    collections::{HashMap, VecDeque},
    rc::{Rc, Weak},
    sync::Arc,
    task::Waker,
};

/// A message crossing to another core.
#[derive(Debug, Clone)]
pub struct Publish {
    channel: Arc<str>,
    payload: Bytes,
}

/// What one core needs to join the mesh: its inbox and every other core's inbox sender.
/// `Send`, so it can be handed to the core's thread.
pub struct Seed {
    index: usize,
    peers: Vec<Sender<Publish>>,
    inbox: Receiver<Publish>,
}

/// Wires `cores` hubs together: one seed per core, by index.
pub fn mesh(cores: usize) -> Vec<Seed> {
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..cores).map(|_| channel::channel::<Publish>()).unzip();
    receivers
        .into_iter()
        .enumerate()
        .map(|(index, inbox)| Seed {
            index,
            peers: senders.clone(),
            inbox,
        })
        .collect()
}

/// Wakes a connection task when any of its subscriptions has mail.
#[derive(Default)]
pub(crate) struct Signal {
    ready: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Signal {
    fn raise(&self) {
        self.ready.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Whether mail arrived since the last call; registers `waker` otherwise.
    pub(crate) fn take(&self, waker: &Waker) -> bool {
        if self.ready.replace(false) {
            return true;
        }
        let mut slot = self.waker.borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
        false
    }
}

/// One subscription's queue.
pub(crate) struct Mailbox {
    queue: RefCell<VecDeque<Bytes>>,
    capacity: usize,
    overflowed: Cell<bool>,
    signal: Rc<Signal>,
}

impl Mailbox {
    /// The oldest message, if any.
    pub(crate) fn front(&self) -> Option<Bytes> {
        self.queue.borrow().front().cloned()
    }

    pub(crate) fn pop(&self) {
        self.queue.borrow_mut().pop_front();
    }

    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed.get()
    }
}

/// Counters of one core's hub, read into the stats snapshot.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HubStats {
    /// Messages published on this core.
    pub published: u64,
    /// Messages put into a local subscriber's mailbox.
    pub delivered: u64,
    /// Subscriptions cut for falling `capacity` messages behind.
    pub slow_consumers: u64,
    /// Subscriptions open now.
    pub subscriptions: u64,
}

/// One core's pub/sub state.
pub struct Hub {
    index: usize,
    peers: Vec<Sender<Publish>>,
    channels: RefCell<HashMap<Arc<str>, Vec<Weak<Mailbox>>>>,
    capacity: usize,
    stats: Cell<HubStats>,
}

impl Hub {
    /// Joins the mesh from this core's thread: starts the task that delivers what other cores
    /// publish. `capacity` bounds each subscription's queue.
    pub fn start(seed: Seed, capacity: usize) -> Rc<Hub> {
        let hub = Rc::new(Hub {
            index: seed.index,
            peers: seed.peers,
            channels: RefCell::new(HashMap::new()),
            capacity: capacity.max(1),
            stats: Cell::new(HubStats::default()),
        });
        let inbox_hub = Rc::downgrade(&hub);
        let inbox = seed.inbox;
        ringwire_reactor::spawn_local(async move {
            while let Some(p) = inbox.recv().await {
                let Some(hub) = inbox_hub.upgrade() else {
                    return;
                };
                hub.deliver(&p.channel, &p.payload);
            }
        });
        hub
    }

    /// The interned name of `channel`, shared by every message published on it.
    pub(crate) fn channel_name(&self, channel: &str) -> Arc<str> {
        self.channels
            .borrow()
            .get_key_value(channel)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| Arc::from(channel))
    }

    /// Subscribes a connection (woken through `signal`) to `channel`.
    pub(crate) fn subscribe(&self, channel: Arc<str>, signal: Rc<Signal>) -> Rc<Mailbox> {
        let mailbox = Rc::new(Mailbox {
            queue: RefCell::new(VecDeque::new()),
            capacity: self.capacity,
            overflowed: Cell::new(false),
            signal,
        });
        let mut channels = self.channels.borrow_mut();
        let subs = channels.entry(channel).or_default();
        subs.retain(|w| w.strong_count() > 0);
        subs.push(Rc::downgrade(&mailbox));
        self.bump(|s| s.subscriptions += 1);
        mailbox
    }

    /// Ends a subscription (the mailbox is dropped by its owner; this tidies the list).
    pub(crate) fn unsubscribe(&self, channel: &str) {
        self.bump(|s| s.subscriptions = s.subscriptions.saturating_sub(1));
        let mut channels = self.channels.borrow_mut();
        if let Some(subs) = channels.get_mut(channel) {
            subs.retain(|w| w.strong_count() > 0);
            if subs.is_empty() {
                channels.remove(channel);
            }
        }
    }

    /// Publishes: local subscribers now, other cores through their inboxes.
    pub(crate) fn publish(&self, channel: &Arc<str>, payload: Bytes) {
        self.bump(|s| s.published += 1);
        self.deliver(channel, &payload);
        for (i, peer) in self.peers.iter().enumerate() {
            if i != self.index {
                let _ = peer.send(Publish {
                    channel: channel.clone(),
                    payload: payload.clone(),
                });
            }
        }
    }

    fn deliver(&self, channel: &str, payload: &Bytes) {
        let channels = self.channels.borrow();
        let Some(subs) = channels.get(channel) else {
            return;
        };
        let (mut delivered, mut slow) = (0, 0);
        for mailbox in subs.iter().filter_map(Weak::upgrade) {
            if mailbox.overflowed.get() {
                continue;
            }
            let mut queue = mailbox.queue.borrow_mut();
            if queue.len() >= mailbox.capacity {
                mailbox.overflowed.set(true);
                slow += 1;
            } else {
                queue.push_back(payload.clone());
                delivered += 1;
            }
            drop(queue);
            mailbox.signal.raise();
        }
        self.bump(|s| {
            s.delivered += delivered;
            s.slow_consumers += slow;
        });
    }

    fn bump(&self, f: impl FnOnce(&mut HubStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// This core's pub/sub counters.
    pub fn stats(&self) -> HubStats {
        self.stats.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringwire_reactor::{Backend, Runtime};

    #[test]
    fn local_delivery_and_the_slow_consumer_policy() {
        let rt = Runtime::builder().backend(Backend::Poll).build().unwrap();
        rt.block_on(async {
            let mut seeds = mesh(1);
            let hub = Hub::start(seeds.remove(0), 2);
            let signal = Rc::new(Signal::default());
            let ch = hub.channel_name("news");
            let fast = hub.subscribe(ch.clone(), signal.clone());
            let slow = hub.subscribe(ch.clone(), signal.clone());
            for i in 0..2u8 {
                hub.publish(&ch, Bytes::from(vec![i]));
                fast.pop(); // keeps up
            }
            assert_eq!(slow.queue.borrow().len(), 2);
            hub.publish(&ch, Bytes::from_static(b"third"));
            assert!(slow.overflowed(), "a full mailbox overflows");
            assert_eq!(
                fast.front().as_deref(),
                Some(&b"third"[..]),
                "the fast one still gets it"
            );
            let s = hub.stats();
            assert_eq!(
                (s.published, s.delivered, s.slow_consumers, s.subscriptions),
                (3, 5, 1, 2)
            );
            drop(slow);
            hub.unsubscribe("news");
            assert_eq!(hub.channels.borrow()["news"].len(), 1);
        });
    }
}
