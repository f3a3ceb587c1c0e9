//! The links between the cores' hubs: one bounded data queue per core, a control queue for
//! subscription changes, and "room again" notices for publishers held by a full queue.
//!
//! **Bounds.** A core's data queue holds at most [`INBOX_MESSAGES`] messages and
//! [`INBOX_BYTES`] payload bytes (one message of any size is always admitted into an empty
//! queue, so no message is too big to cross). A publisher that finds a target full does not
//! block and nothing grows: it keeps the message, marks itself waiting on that queue, and the
//! target core, after taking a message out, sends it one notice. Payloads are reference
//! counted: a message crossing to several cores is one allocation.
//!
//! **Lost wake-ups** are excluded the usual way: the publisher sets its waiting flag, fences,
//! and tries once more; the target takes a message, fences, and reads the flags. Whichever
//! fence comes second sees the other side's write.
//!
//! The control queue is unbounded but carries only a core's first subscription to a channel
//! and the end of its last one, so it grows with what clients subscribe, not with traffic.

use super::bridge::Gate;
use crate::trace::Traceparent;
use bytes::Bytes;
use ringwire_reactor::channel::{self, Receiver, Sender, TrySendError};
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering, fence},
    },
    task::{Context, Poll, Waker},
};

/// The most messages waiting in one core's cross-core queue.
pub const INBOX_MESSAGES: usize = 4096;
/// The most payload bytes waiting in one core's cross-core queue (a single larger message is
/// still admitted into an empty queue).
pub const INBOX_BYTES: usize = 8 << 20;

/// A message crossing to another core.
#[derive(Debug)]
pub(crate) struct Publish {
    pub(crate) channel: Arc<str>,
    /// Its sequence number in a durable channel's log; 0 when ephemeral.
    pub(crate) seq: u64,
    pub(crate) payload: Bytes,
    /// The publishing request's `traceparent`, on the way to the cluster bridge only (boxed:
    /// the cores' queues do not carry its bytes).
    pub(crate) trace: Option<Box<Traceparent>>,
}

/// Core `core` gained its first (`on`) or lost its last subscriber to `channel`.
#[derive(Debug)]
pub(crate) struct Interest {
    pub(crate) channel: Arc<str>,
    pub(crate) core: usize,
    pub(crate) on: bool,
    /// Counted down once the receiving core routes the channel to `core` (cores only).
    pub(crate) routed: Option<Arc<Routed>>,
}

/// How many cores have yet to route a new subscription's channel to its core: until then a
/// message published on one of them would not reach it.
#[derive(Debug)]
pub(crate) struct Routed {
    pending: AtomicUsize,
    waiters: Mutex<Vec<Waker>>,
}

impl Routed {
    pub(crate) fn new(cores: usize) -> Arc<Routed> {
        Arc::new(Routed {
            pending: AtomicUsize::new(cores),
            waiters: Mutex::new(Vec::new()),
        })
    }

    /// One core routed it (or is gone).
    pub(crate) fn done(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            let waiters = std::mem::take(&mut *self.waiters.lock().expect("routed waiters"));
            for w in waiters {
                w.wake();
            }
        }
    }

    /// Ready once every core routed it.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        self.waiters
            .lock()
            .expect("routed waiters")
            .push(cx.waker().clone());
        // Counted down between the check and the registration: nobody will wake us.
        if self.pending.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// What every core may send to one core.
pub(crate) struct Link {
    data: Sender<Publish>,
    pub(crate) control: Sender<Interest>,
    /// Tells this core that a queue it waited on has room.
    space: Sender<()>,
    /// Payload bytes in `data` now.
    bytes: AtomicUsize,
    /// By source core: that core holds a message for this queue and waits for room.
    waiting: Box<[AtomicBool]>,
    any_waiting: AtomicBool,
}

impl Link {
    /// Queues `msg` unless the queue is full (by count or by bytes). A core that is gone
    /// takes everything (its subscribers are gone with it).
    pub(crate) fn try_send(&self, msg: Publish) -> Result<(), Publish> {
        let len = msg.payload.len();
        let queued = self.bytes.load(Ordering::Acquire);
        if queued != 0 && queued + len > INBOX_BYTES {
            return Err(msg);
        }
        // Counted before it is visible, so the receiver's subtraction cannot go below 0.
        self.bytes.fetch_add(len, Ordering::AcqRel);
        match self.data.send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(msg)) => {
                self.bytes.fetch_sub(len, Ordering::AcqRel);
                Err(msg)
            }
            Err(TrySendError::Disconnected(_)) => {
                self.bytes.fetch_sub(len, Ordering::AcqRel);
                Ok(())
            }
        }
    }

    /// Core `from` waits for room in this queue; the caller tries once more afterwards.
    pub(crate) fn wait(&self, from: usize) {
        self.waiting[from].store(true, Ordering::SeqCst);
        self.any_waiting.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// The owning core took a message of `len` bytes out: notify the cores waiting for room.
    pub(crate) fn taken(&self, len: usize, links: &[Link]) {
        self.bytes.fetch_sub(len, Ordering::AcqRel);
        fence(Ordering::SeqCst);
        if self.any_waiting.load(Ordering::SeqCst) && self.any_waiting.swap(false, Ordering::SeqCst)
        {
            for (core, flag) in self.waiting.iter().enumerate() {
                if flag.swap(false, Ordering::SeqCst) {
                    let _ = links[core].space.send(());
                }
            }
        }
    }

    /// Messages waiting now.
    pub(crate) fn queued(&self) -> (usize, usize) {
        (self.data.len(), self.bytes.load(Ordering::Acquire))
    }
}

/// What one core needs to join the mesh: the links to every core and its own receiving
/// ends. `Send`, so it can be handed to the core's thread.
pub struct Seed {
    pub(crate) index: usize,
    pub(crate) links: Arc<[Link]>,
    pub(crate) data: Receiver<Publish>,
    pub(crate) control: Receiver<Interest>,
    pub(crate) space: Receiver<()>,
    /// With a cluster bridge (the last link): its refusal flag and counter.
    pub(crate) gate: Option<Arc<Gate>>,
}

/// The receiving ends of one link.
pub(crate) type Ends = (Receiver<Publish>, Receiver<Interest>, Receiver<()>);

/// Wires `cores` hubs together: one seed per core, by index.
pub fn mesh(cores: usize) -> Vec<Seed> {
    let (links, ends) = links(cores);
    seeds(&links, ends, None)
}

/// `n` links (cores, and the bridge last if there is one) and their receiving ends.
pub(crate) fn links(n: usize) -> (Arc<[Link]>, Vec<Ends>) {
    let mut links = Vec::with_capacity(n);
    let mut ends = Vec::with_capacity(n);
    for _ in 0..n {
        let (data, data_rx) = channel::bounded(INBOX_MESSAGES);
        let (control, control_rx) = channel::channel();
        let (space, space_rx) = channel::channel();
        links.push(Link {
            data,
            control,
            space,
            bytes: AtomicUsize::new(0),
            waiting: (0..n).map(|_| AtomicBool::new(false)).collect(),
            any_waiting: AtomicBool::new(false),
        });
        ends.push((data_rx, control_rx, space_rx));
    }
    (links.into(), ends)
}

/// One seed per core's ends, by index.
pub(crate) fn seeds(links: &Arc<[Link]>, ends: Vec<Ends>, gate: Option<Arc<Gate>>) -> Vec<Seed> {
    ends.into_iter()
        .enumerate()
        .map(|(index, (data, control, space))| Seed {
            index,
            links: links.clone(),
            data,
            control,
            space,
            gate: gate.clone(),
        })
        .collect()
}
