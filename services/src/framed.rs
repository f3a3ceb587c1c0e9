//! The receiving side of a stream service whose messages are framed `length:u32 body` (`kv`,
//! `channels`): received bytes, the messages cut from them, and what is given back to the
//! peer's window when.
//!
//! **Backpressure is by window.** Bytes of messages not handled yet stay charged to the peer's
//! stream window, so a peer that sends faster than the service works is slowed by the protocol
//! itself. One exception: a message larger than the stream window could never complete if its
//! bytes stayed charged, so the bytes of an *incomplete head message* (its length known to be
//! within the limit) are given back as they arrive, while the core's budget of such bytes
//! ([`PREPAID_PER_CORE`], shared by every stream of the core) lasts.

use std::{cell::Cell, rc::Rc};

/// Bytes of incomplete messages one core has given back to its clients' windows before they
/// were handled: what lets a message larger than a stream window through, bounded per core so
/// many connections cannot make it grow without limit.
pub const PREPAID_PER_CORE: usize = 64 << 20;

/// The next message in an [`Inbox`].
pub(crate) enum Next<'a> {
    /// A whole message body; call [`Inbox::advance`] with `used` once handled.
    Message { body: &'a [u8], used: usize },
    /// Not all there yet.
    Partial,
    /// Its announced length is over `max`: it can never be handled. `id` is the request id
    /// if its first bytes are there (the 4 bytes after the length), else 0.
    TooLarge { len: usize, id: u32 },
}

/// A stream's received bytes (see the module's doc).
pub(crate) struct Inbox {
    input: Vec<u8>,
    /// Handled bytes of `input`.
    parsed: usize,
    /// Bytes of `input` given back to the window (≥ `parsed`).
    refunded: usize,
    /// Bytes received after a failure, dropped unread but still owed to the peer's window.
    discarded: usize,
    /// The core's count of bytes refunded before being handled.
    prepaid: Rc<Cell<usize>>,
    /// This stream's share of `prepaid`.
    mine: usize,
    /// The peer ended its side.
    pub(crate) ended: bool,
    /// A malformed message: answered, then the stream ends (it cannot be re-synchronised).
    pub(crate) failed: bool,
}

impl Inbox {
    /// An empty inbox charging the core's budget `prepaid`.
    pub(crate) fn new(prepaid: Rc<Cell<usize>>) -> Inbox {
        Inbox {
            input: Vec::new(),
            parsed: 0,
            refunded: 0,
            discarded: 0,
            prepaid,
            mine: 0,
            ended: false,
            failed: false,
        }
    }

    /// Bytes the peer sent.
    pub(crate) fn receive(&mut self, data: &[u8], end: bool) {
        if self.failed {
            self.discarded += data.len();
        } else {
            self.input.extend_from_slice(data);
        }
        self.ended |= end;
    }

    /// The next unhandled message, if `max` allows it.
    pub(crate) fn next(&self, max: usize) -> Next<'_> {
        let rest = &self.input[self.parsed..];
        let word = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let Some(len) = rest.get(..4).map(word) else {
            return Next::Partial;
        };
        let len = len as usize;
        if len > max {
            let id = rest.get(4..8).map_or(0, word);
            return Next::TooLarge { len, id };
        }
        match rest.get(4..4 + len) {
            Some(body) => Next::Message {
                body,
                used: 4 + len,
            },
            None => Next::Partial,
        }
    }

    /// The message [`next`](Self::next) returned is handled.
    pub(crate) fn advance(&mut self, used: usize) {
        self.parsed += used;
    }

    /// Whether every received byte is handled (or dropped after a failure).
    pub(crate) fn is_drained(&self) -> bool {
        self.failed || self.parsed == self.input.len()
    }

    /// Whether the peer ended its side in the middle of a message.
    pub(crate) fn ended_inside_a_message(&self) -> bool {
        self.ended && !self.failed && self.parsed < self.input.len()
    }

    /// Ends the poll: how many bytes to give back to the peer's window. `partial`: the head
    /// message is incomplete (its bytes may be prepaid, see the module's doc).
    pub(crate) fn consumed(&mut self, partial: bool) -> usize {
        let mut refund_to = self.parsed;
        if self.failed {
            refund_to = self.input.len();
        } else if partial && self.input.len() - self.parsed >= 4 {
            let extra = self.input.len() - self.refunded.max(self.parsed);
            if self.prepaid.get() + extra <= PREPAID_PER_CORE {
                refund_to = self.input.len();
            }
        }
        let consumed =
            refund_to.saturating_sub(self.refunded) + std::mem::take(&mut self.discarded);
        self.refunded = self.refunded.max(refund_to);
        if self.failed {
            // Nothing more is read: what was kept is dropped.
            self.input.clear();
            self.parsed = 0;
            self.refunded = 0;
        }
        let mine = self.refunded - self.parsed;
        self.prepaid.set(self.prepaid.get() - self.mine + mine);
        self.mine = mine;
        // Handled bytes are dropped once they are a large share of the buffer.
        if self.parsed > 0 && self.parsed * 2 >= self.input.len() {
            self.input.drain(..self.parsed);
            self.refunded -= self.parsed;
            self.parsed = 0;
        }
        consumed
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.prepaid.set(self.prepaid.get() - self.mine);
    }
}
