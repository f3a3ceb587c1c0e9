//! Publishing from a core: local delivery now, the other cores (and the cluster bridge)
//! through their queues, and holding what a full queue could not take yet.

use super::{Hub, Mail, Signal, mesh::Publish};
use crate::trace::Traceparent;
use bytes::Bytes;
use std::{rc::Rc, sync::Arc};

/// Why a publish did not complete at once.
pub enum SendError {
    /// Some cores' (or the cluster bridge's) queues were full: it went to the others; keep
    /// the [`Held`] and call [`Hub::resend`] when woken.
    Held(Held),
    /// The cluster bridge refuses (NATS unreachable and its buffer full): the message was
    /// published nowhere, not even locally.
    Unavailable,
}

/// A published message that some cores' queues had no room for yet: keep it and call
/// [`Hub::resend`] when woken.
pub struct Held {
    channel: Arc<str>,
    seq: u64,
    payload: Bytes,
    /// The cores still to take it.
    cores: Vec<usize>,
    /// For the cluster bridge: the publishing request's `traceparent`.
    trace: Option<Box<Traceparent>>,
}

impl Hub {
    /// Publishes: local subscribers now, and the cores with subscribers (and, if ephemeral,
    /// the cluster bridge) through their queues. `Err(Held)` holds the message for the queues
    /// that are full; `signal` is raised when one of them has room (then call
    /// [`retry`](Self::retry)). `Err(Unavailable)`: refused by the bridge, published nowhere.
    pub(crate) fn publish(
        &self,
        channel: &Arc<str>,
        seq: u64,
        payload: Bytes,
        signal: &Rc<Signal>,
    ) -> Result<(), SendError> {
        self.publish_traced(channel, seq, payload, None, signal)
    }

    /// [`publish`](Self::publish), with the `traceparent` the cluster bridge passes on.
    pub(crate) fn publish_traced(
        &self,
        channel: &Arc<str>,
        seq: u64,
        payload: Bytes,
        trace: Option<&Traceparent>,
        signal: &Rc<Signal>,
    ) -> Result<(), SendError> {
        if seq == 0 && self.refuse() {
            return Err(SendError::Unavailable);
        }
        self.bump(|s| s.published += 1);
        self.deliver(channel, seq, &payload);
        let mut full = Vec::new();
        if let Some(cores) = self.routes.borrow().get(channel) {
            for &core in cores {
                if !self.forward(core, channel, seq, &payload, None) {
                    full.push(core);
                }
            }
        }
        // Durable channels do not cross nodes through the bridge (yet).
        if let Some(bridge) = self.bridge().filter(|_| seq == 0)
            && !self.forward(bridge, channel, seq, &payload, trace)
        {
            full.push(bridge);
        }
        if full.is_empty() {
            return Ok(());
        }
        self.bump(|s| s.held += 1);
        self.block(signal);
        Err(SendError::Held(Held {
            channel: channel.clone(),
            seq,
            payload,
            cores: full,
            trace: trace.map(|t| Box::new(*t)),
        }))
    }

    /// Tries the cores a held message has not reached; true once every one took it.
    pub(crate) fn retry(&self, held: &mut Held, signal: &Rc<Signal>) -> bool {
        let Held {
            channel,
            seq,
            payload,
            cores,
            trace,
        } = held;
        let bridge = self.bridge();
        cores.retain(|&core| {
            let trace = trace.as_deref().filter(|_| Some(core) == bridge);
            !self.forward(core, channel, *seq, payload, trace)
        });
        if cores.is_empty() {
            return true;
        }
        self.block(signal);
        false
    }

    /// Queues a message for `core`; false if its queue is full (this core is then marked
    /// waiting and will be told when there is room).
    pub(super) fn forward(
        &self,
        core: usize,
        channel: &Arc<str>,
        seq: u64,
        payload: &Bytes,
        trace: Option<&Traceparent>,
    ) -> bool {
        let link = &self.links[core];
        let msg = Publish {
            channel: channel.clone(),
            seq,
            payload: payload.clone(),
            trace: trace.map(|t| Box::new(*t)),
        };
        let sent = link.try_send(msg).or_else(|msg| {
            link.wait(self.index);
            link.try_send(msg)
        });
        if sent.is_ok() {
            self.bump(|s| s.forwarded += 1);
        }
        sent.is_ok()
    }

    pub(super) fn block(&self, signal: &Rc<Signal>) {
        let mut blocked = self.blocked.borrow_mut();
        if !blocked.iter().any(|w| w.as_ptr() == Rc::as_ptr(signal)) {
            blocked.retain(|w| w.strong_count() > 0);
            blocked.push(Rc::downgrade(signal));
        }
    }

    pub(super) fn deliver(&self, channel: &str, seq: u64, payload: &Bytes) {
        let channels = self.channels.borrow();
        let Some(subs) = channels.get(channel) else {
            return;
        };
        let (mut delivered, mut slow) = (0, 0);
        for mailbox in subs {
            if mailbox.overflowed.get() {
                continue;
            }
            let mut queue = mailbox.queue.borrow_mut();
            if queue.len() >= mailbox.capacity {
                mailbox.overflowed.set(true);
                slow += 1;
            } else {
                queue.push_back(Mail {
                    seq,
                    payload: payload.clone(),
                });
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
}
