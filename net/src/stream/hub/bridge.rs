//! The cluster bridge's place in the mesh: one more link, after the cores', for a thread that
//! is not a core (`ringwire-nats`, in the services crate; `net` knows neither tokio nor NATS).
//!
//! - Every core forwards each message *published on it* on an ephemeral channel to the
//!   bridge's data queue, under the same bounds and flow control as a core's queue (a full
//!   bridge queue holds the publisher). Messages that came from another core or from the
//!   bridge are delivered locally only, never forwarded again.
//! - The cores announce their first and last subscriber to a channel to the bridge too, on
//!   its control queue.
//! - The bridge hands what it receives to a core's data queue like a core would, and waits on
//!   a full one the same way (it is told through its own "room again" queue).
//! - [`Gate`]: while the bridge raises `refusing`, a core refuses every ephemeral publish
//!   before delivering it anywhere ([`SendError::Unavailable`](super::SendError)).

use super::{
    Hub,
    mesh::{self, Interest, Link, Publish, Seed},
};
use crate::trace::Traceparent;
use bytes::Bytes;
use ringwire_reactor::channel::Receiver;
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

/// The refusal flag the bridge raises and the cores read, and the count of refusals.
#[derive(Debug, Default)]
pub struct Gate {
    /// Raised by the bridge while it cannot take more (NATS unreachable, buffer full).
    pub refusing: Arc<AtomicBool>,
    /// Publishes the cores refused.
    pub refused: Arc<AtomicU64>,
}

/// Wires `cores` hubs and a cluster bridge together: one seed per core, and the bridge's.
pub fn mesh_with_bridge(cores: usize) -> (Vec<Seed>, BridgeSeed) {
    let (links, mut ends) = mesh::links(cores + 1);
    let (data, control, space) = ends.pop().expect("the bridge's link");
    let gate = Arc::new(Gate::default());
    let seeds = mesh::seeds(&links, ends, Some(gate.clone()));
    let bridge = BridgeSeed {
        outbox: BridgeOutbox {
            index: cores,
            links: links.clone(),
            data,
        },
        cores: BridgeCores {
            index: cores,
            links,
            control,
            space,
        },
        gate,
    };
    (seeds, bridge)
}

/// What the bridge thread needs: `Send`, so it can be handed to it.
pub struct BridgeSeed {
    /// The messages published on this node.
    pub outbox: BridgeOutbox,
    /// The cores: their interest, and their queues for what the bridge receives.
    pub cores: BridgeCores,
    /// The refusal flag and counter, shared with the cores.
    pub gate: Arc<Gate>,
}

/// The bridge's data queue: every message published on one of this node's cores.
pub struct BridgeOutbox {
    index: usize,
    links: Arc<[Link]>,
    data: Receiver<Publish>,
}

/// A message published on this node, for the cluster.
#[derive(Debug)]
pub struct Outgoing {
    /// Its channel.
    pub channel: Arc<str>,
    /// Its payload.
    pub payload: Bytes,
    /// The `traceparent` of the request that published it, if it had a trace.
    pub traceparent: Option<Box<Traceparent>>,
}

impl BridgeOutbox {
    /// The next message; `None` once the cores are gone.
    pub async fn recv(&self) -> Option<Outgoing> {
        let p = self.data.recv().await?;
        self.links[self.index].taken(p.payload.len(), &self.links);
        Some(Outgoing {
            channel: p.channel,
            payload: p.payload,
            traceparent: p.trace,
        })
    }
}

/// The bridge's view of the cores.
pub struct BridgeCores {
    index: usize,
    links: Arc<[Link]>,
    control: Receiver<Interest>,
    space: Receiver<()>,
}

impl BridgeCores {
    /// How many cores there are.
    pub fn cores(&self) -> usize {
        self.index
    }

    /// The next interest change: (channel, core, gained). `None` once the cores are gone.
    pub async fn interest(&self) -> Option<(Arc<str>, usize, bool)> {
        let i = self.control.recv().await?;
        Some((i.channel, i.core, i.on))
    }

    /// Queues a message for local delivery on `core` (never forwarded again); hands it back
    /// if that core's queue is full, and then [`room`](Self::room) says when to retry.
    pub fn try_deliver(
        &self,
        core: usize,
        channel: Arc<str>,
        payload: Bytes,
    ) -> Result<(), (Arc<str>, Bytes)> {
        let link = &self.links[core];
        let msg = Publish {
            channel,
            seq: 0,
            payload,
            trace: None,
        };
        link.try_send(msg)
            .or_else(|msg| {
                link.wait(self.index);
                link.try_send(msg)
            })
            .map_err(|p| (p.channel, p.payload))
    }

    /// Resolves when a core queue the bridge waited on has room; `None` once the cores are
    /// gone.
    pub async fn room(&self) -> Option<()> {
        self.space.recv().await
    }
}

impl Hub {
    /// The bridge's link index, if there is a bridge.
    pub(super) fn bridge(&self) -> Option<usize> {
        self.gate.as_ref().map(|_| self.links.len() - 1)
    }

    /// Whether an ephemeral publish must be refused now (counted if so).
    pub(super) fn refuse(&self) -> bool {
        let Some(gate) = &self.gate else {
            return false;
        };
        if !gate.refusing.load(Ordering::Acquire) {
            return false;
        }
        gate.refused.fetch_add(1, Ordering::Relaxed);
        true
    }
}

#[cfg(test)]
#[path = "bridge_tests.rs"]
mod tests;
