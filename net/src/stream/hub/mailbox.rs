//! A subscription's side of a hub: its bounded mailbox, the signal that wakes its task, and
//! the handle that leaves the channel when dropped.

use super::{Hub, mesh::Routed};
use bytes::Bytes;
use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    rc::Rc,
    sync::Arc,
    task::Waker,
};

/// Wakes a connection task when any of its subscriptions has mail, or a held publish may go.
#[derive(Default)]
pub(crate) struct Signal {
    pub(super) ready: Cell<bool>,
    pub(super) waker: RefCell<Option<Waker>>,
}

impl Signal {
    pub(crate) fn raise(&self) {
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

/// A message in a subscriber's mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The message's sequence number in its durable channel's log; 0 on an ephemeral channel.
    pub seq: u64,
    /// The message.
    pub payload: Bytes,
}

/// One subscription's queue.
pub(crate) struct Mailbox {
    pub(super) queue: RefCell<VecDeque<Mail>>,
    pub(super) capacity: usize,
    pub(super) overflowed: Cell<bool>,
    pub(super) signal: Rc<Signal>,
}

impl Mailbox {
    /// The oldest message, if any.
    pub(crate) fn front(&self) -> Option<Bytes> {
        self.queue.borrow().front().map(|m| m.payload.clone())
    }

    pub(crate) fn pop(&self) {
        self.queue.borrow_mut().pop_front();
    }

    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed.get()
    }
}

/// A subscription: its mailbox, and its place in the hub until it is dropped (made by
/// [`Hub::join`], or by the `pubsub` service).
pub struct Subscription {
    pub(super) hub: Rc<Hub>,
    pub(super) channel: Arc<str>,
    pub(super) mailbox: Rc<Mailbox>,
    pub(super) routed: Arc<Routed>,
}

impl Subscription {
    pub(crate) fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// Resolves once every other core routes the channel here: from then on a message
    /// published on any core reaches this subscription. (Before, one published on another
    /// core may not: interest crosses cores asynchronously.) Answer a subscriber only after.
    pub async fn routed(&self) {
        std::future::poll_fn(|cx| self.routed.poll(cx)).await
    }

    /// The oldest message waiting, taken out.
    pub fn pop(&self) -> Option<Mail> {
        self.mailbox.queue.borrow_mut().pop_front()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.mailbox.queue.borrow().len()
    }

    /// Whether no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a message found the mailbox full (`stream.subscriber_queue`) and was not
    /// queued: the subscriber has lost messages since. It stays so until
    /// [`clear_overflow`](Self::clear_overflow).
    pub fn overflowed(&self) -> bool {
        self.mailbox.overflowed.get()
    }

    /// Takes messages again after an overflow (a durable subscriber that caught up from the
    /// store does this).
    pub fn clear_overflow(&self) {
        self.mailbox.overflowed.set(false);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.channel, &self.mailbox);
    }
}
