//! Publish/subscribe across cores.
//!
//! Every worker core has a `Hub`: the channels its own connections subscribed to, each
//! subscription a bounded `Mailbox`. A publish delivers to the local subscribers at once and
//! is forwarded only to the cores that have subscribers to its channel: a core tells the
//! others when it gains its first subscriber to a channel and when it loses its last
//! ([`mesh`]'s control queues), and each hub keeps that routing table for itself, so the
//! publish path takes no lock. Messages of one publisher on one channel stay in order: they
//! are handled in order on the publisher's core and cross to each other core through one
//! FIFO, and a message waits until the one before it reached every core.
//!
//! **Bounded, and publishers slowed by flow control.** Each core's cross-core queue is
//! bounded ([`INBOX_MESSAGES`], [`INBOX_BYTES`]). A publish that finds a target core's queue
//! full is held by the publishing stream (a `Held`) and retried when that core has taken
//! messages out; until then the stream does not give the publisher's window back, so the
//! publisher stops after one window. Nothing grows and no core blocks.
//!
//! **Slow consumers**: a mailbox holds at most `capacity` messages. A publish that finds it
//! full marks the subscription overflowed instead of queueing or blocking the publisher; the
//! subscriber's connection then sends what it can and resets that stream with
//! `SLOW_CONSUMER` (code 0xb), and the event is counted
//! (`ringwire_stream_pubsub_slow_consumers_total`). A subscriber that keeps up never loses a
//! message.
//!
//! **Across nodes** ([`mesh_with_bridge`]): a cluster bridge is one more member of the mesh.
//! It gets every ephemeral message published on this node and hands what other nodes publish
//! to the cores with subscribers; while it refuses (NATS unreachable, its buffer full), an
//! ephemeral publish fails with [`SendError::Unavailable`] before it is delivered anywhere.
//!
//! **Subscriptions end on every path**: a `Subscription` leaves its channel when it is
//! dropped, however its stream or connection ended.

mod bridge;
mod mailbox;
mod mesh;
mod publish;

pub use bridge::{BridgeCores, BridgeOutbox, BridgeSeed, Gate, Outgoing, mesh_with_bridge};
pub use mesh::{INBOX_BYTES, INBOX_MESSAGES, Seed, mesh};

use super::app::Wakeup;
use crate::trace::TraceContext;
use bytes::Bytes;
use mesh::{Interest, Link, Routed};
use std::{
    cell::{Cell, RefCell},
    collections::{HashMap, VecDeque},
    rc::{Rc, Weak},
    sync::Arc,
};

/// Cross-core messages delivered before the delivering task lets the core's other tasks run.
const DELIVER_BUDGET: u32 = 64;

/// Whether a channel is durable (kept in the store by the `channels` service above `net`).
pub type DurablePredicate = Box<dyn Fn(&str) -> bool>;

pub use mailbox::{Mail, Subscription};
pub(crate) use mailbox::{Mailbox, Signal};
pub use publish::{Held, SendError};

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
    /// Messages sent to another core's queue (one per target core).
    pub forwarded: u64,
    /// Messages received from other cores.
    pub received: u64,
    /// Publishes held because a target core's queue was full (the publisher waits).
    pub held: u64,
    /// Messages waiting in this core's cross-core queue now.
    pub inbox_messages: u64,
    /// Payload bytes waiting in this core's cross-core queue now.
    pub inbox_bytes: u64,
}

/// One core's pub/sub state.
pub struct Hub {
    index: usize,
    links: Arc<[Link]>,
    /// Local subscriptions by channel.
    channels: RefCell<HashMap<Arc<str>, Vec<Rc<Mailbox>>>>,
    /// By local channel: the other cores' progress routing it here.
    routing: RefCell<HashMap<Arc<str>, Arc<Routed>>>,
    /// The other cores that have subscribers, by channel.
    routes: RefCell<HashMap<Arc<str>, Vec<usize>>>,
    /// Connections holding a publish for a full queue, woken when a queue has room.
    blocked: RefCell<Vec<Weak<Signal>>>,
    capacity: usize,
    stats: Cell<HubStats>,
    durable: RefCell<Option<DurablePredicate>>,
    /// With a cluster bridge: its refusal flag.
    gate: Option<Arc<Gate>>,
}

impl Hub {
    /// Joins the mesh from this core's thread: starts the tasks that deliver what other cores
    /// publish, keep the routing table, and wake held publishers. `capacity` bounds each
    /// subscription's queue.
    pub fn start(seed: Seed, capacity: usize) -> Rc<Hub> {
        let hub = Rc::new(Hub {
            index: seed.index,
            links: seed.links,
            channels: RefCell::new(HashMap::new()),
            routing: RefCell::new(HashMap::new()),
            routes: RefCell::new(HashMap::new()),
            blocked: RefCell::new(Vec::new()),
            capacity: capacity.max(1),
            stats: Cell::new(HubStats::default()),
            durable: RefCell::new(None),
            gate: seed.gate,
        });
        let weak = Rc::downgrade(&hub);
        let data = seed.data;
        ringwire_reactor::spawn_local(async move {
            let mut budget = DELIVER_BUDGET;
            while let Some(p) = data.recv().await {
                let Some(hub) = weak.upgrade() else { return };
                hub.links[hub.index].taken(p.payload.len(), &hub.links);
                hub.bump(|s| s.received += 1);
                hub.deliver(&p.channel, p.seq, &p.payload);
                drop(hub);
                budget -= 1;
                if budget == 0 {
                    budget = DELIVER_BUDGET;
                    ringwire_reactor::yield_now().await;
                }
            }
        });
        let weak = Rc::downgrade(&hub);
        let control = seed.control;
        ringwire_reactor::spawn_local(async move {
            while let Some(mut i) = control.recv().await {
                let routed = i.routed.take();
                if let Some(hub) = weak.upgrade() {
                    hub.route(i);
                }
                if let Some(r) = routed {
                    r.done();
                }
            }
        });
        let weak = Rc::downgrade(&hub);
        let space = seed.space;
        ringwire_reactor::spawn_local(async move {
            while space.recv().await.is_some() {
                let Some(hub) = weak.upgrade() else { return };
                let blocked = std::mem::take(&mut *hub.blocked.borrow_mut());
                for signal in blocked.iter().filter_map(Weak::upgrade) {
                    signal.raise();
                }
            }
        });
        hub
    }

    /// The interned name of `channel`, shared by every message published on it.
    pub(crate) fn channel_name(&self, channel: &str) -> Arc<str> {
        if let Some((k, _)) = self.channels.borrow().get_key_value(channel) {
            return k.clone();
        }
        if let Some((k, _)) = self.routes.borrow().get_key_value(channel) {
            return k.clone();
        }
        Arc::from(channel)
    }

    /// Says which channels are durable: the `pubsub` service refuses to publish to them (their
    /// messages must go through the store, by the `channels` service).
    pub fn set_durable(&self, durable: DurablePredicate) {
        *self.durable.borrow_mut() = Some(durable);
    }

    /// Whether `channel` is durable (see [`set_durable`](Self::set_durable)).
    pub fn is_durable(&self, channel: &str) -> bool {
        self.durable.borrow().as_ref().is_some_and(|f| f(channel))
    }

    /// Subscribes to `channel`; `wakeup` is woken when mail arrives. Dropping the
    /// subscription leaves the channel.
    pub fn join(self: &Rc<Self>, channel: &str, wakeup: &Wakeup) -> Subscription {
        self.subscribe(self.channel_name(channel), wakeup.0.clone())
    }

    /// Publishes `payload` with sequence `seq` (0: ephemeral) on `channel`, like
    /// [`publish`](Self::publish); `wakeup` is woken when a held message may go on.
    /// `trace`: the publishing request's, carried to the cluster (ephemeral messages only).
    pub fn send(
        &self,
        channel: &str,
        seq: u64,
        payload: Bytes,
        trace: Option<&TraceContext>,
        wakeup: &Wakeup,
    ) -> Result<(), SendError> {
        let trace = trace.map(TraceContext::traceparent);
        let channel = self.channel_name(channel);
        self.publish_traced(&channel, seq, payload, trace.as_ref(), &wakeup.0)
    }

    /// Tries a held message again; true once every core took it.
    pub fn resend(&self, held: &mut Held, wakeup: &Wakeup) -> bool {
        self.retry(held, &wakeup.0)
    }

    /// Subscribes a connection (woken through `signal`) to `channel`.
    pub(crate) fn subscribe(
        self: &Rc<Self>,
        channel: Arc<str>,
        signal: Rc<Signal>,
    ) -> Subscription {
        let mailbox = Rc::new(Mailbox {
            queue: RefCell::new(VecDeque::new()),
            capacity: self.capacity,
            overflowed: Cell::new(false),
            signal,
        });
        let first = {
            let mut channels = self.channels.borrow_mut();
            let subs = channels.entry(channel.clone()).or_default();
            subs.push(mailbox.clone());
            subs.len() == 1
        };
        let routed = if first {
            let routed = self.announce(&channel, true);
            self.routing
                .borrow_mut()
                .insert(channel.clone(), routed.clone());
            routed
        } else {
            self.routing
                .borrow()
                .get(&channel)
                .cloned()
                .unwrap_or_else(|| Routed::new(0))
        };
        self.bump(|s| s.subscriptions += 1);
        Subscription {
            hub: self.clone(),
            channel,
            mailbox,
            routed,
        }
    }

    /// Ends a subscription (called by its drop).
    fn unsubscribe(&self, channel: &Arc<str>, mailbox: &Rc<Mailbox>) {
        let last = {
            let mut channels = self.channels.borrow_mut();
            let Some(subs) = channels.get_mut(channel) else {
                return;
            };
            let before = subs.len();
            subs.retain(|m| !Rc::ptr_eq(m, mailbox));
            if subs.len() == before {
                return;
            }
            let last = subs.is_empty();
            if last {
                channels.remove(channel);
                self.routing.borrow_mut().remove(channel);
            }
            last
        };
        self.bump(|s| s.subscriptions = s.subscriptions.saturating_sub(1));
        if last {
            self.announce(channel, false);
        }
    }

    /// Tells every other core (and the cluster bridge) that this one gained or lost its
    /// subscribers to `channel`; the other cores count down the returned [`Routed`] as they
    /// route it (the bridge does not: it is a best effort across nodes anyway).
    fn announce(&self, channel: &Arc<str>, on: bool) -> Arc<Routed> {
        let bridge = self.bridge();
        let cores = self.links.len() - 1 - usize::from(bridge.is_some());
        let routed = Routed::new(if on { cores } else { 0 });
        for (core, link) in self.links.iter().enumerate() {
            if core != self.index {
                let counted = on && Some(core) != bridge;
                let sent = link.control.send(Interest {
                    channel: channel.clone(),
                    core: self.index,
                    on,
                    routed: counted.then(|| routed.clone()),
                });
                // A core that is gone routes nothing to anyone.
                if sent.is_err() && counted {
                    routed.done();
                }
            }
        }
        routed
    }

    fn route(&self, i: Interest) {
        let mut routes = self.routes.borrow_mut();
        if i.on {
            let cores = routes.entry(i.channel).or_default();
            if !cores.contains(&i.core) {
                cores.push(i.core);
            }
        } else if let Some(cores) = routes.get_mut(&i.channel) {
            cores.retain(|c| *c != i.core);
            if cores.is_empty() {
                routes.remove(&i.channel);
            }
        }
    }

    fn bump(&self, f: impl FnOnce(&mut HubStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Test hook: core `core` gains (`on`) or loses its subscribers to `channel`, without a
    /// hub of its own (its queue then never drains, like a core too busy to keep up).
    #[cfg(test)]
    pub(crate) fn fake_interest(&self, channel: &str, core: usize, on: bool) {
        self.route(Interest {
            channel: Arc::from(channel),
            core,
            on,
            routed: None,
        });
    }

    #[cfg(test)]
    pub(crate) fn links_for_tests(&self) -> &[Link] {
        &self.links
    }

    /// This core's pub/sub counters.
    pub fn stats(&self) -> HubStats {
        let mut s = self.stats.get();
        let (messages, bytes) = self.links[self.index].queued();
        s.inbox_messages = messages as u64;
        s.inbox_bytes = bytes as u64;
        s
    }
}

#[cfg(test)]
mod tests;
