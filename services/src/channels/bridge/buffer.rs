//! The bridge's outbound buffer: cluster publishes held, in order, while NATS is unreachable.
//!
//! Bounded twice: by payload bytes (`cluster.buffer`) and by message count
//! ([`BUFFER_MESSAGES`], so a flood of tiny messages cannot hold unbounded bookkeeping). One
//! message of any size is admitted into an empty buffer, so no message is too big to wait. A
//! push that does not fit is refused and handed back: the bridge then keeps that one message
//! aside and sets the flag that makes the cores refuse further publishes.

use super::Message;
use std::{collections::VecDeque, time::Instant};

/// The most messages the outbound buffer holds, whatever their size.
pub const BUFFER_MESSAGES: usize = 1 << 20;

/// The buffer had no room for this message (handed back).
#[derive(Debug)]
pub struct Refused(pub Message);

/// A bounded FIFO of messages with the time each was pushed.
#[derive(Debug)]
pub struct OutBuffer {
    queue: VecDeque<(Instant, Message)>,
    bytes: usize,
    max_bytes: usize,
    max_messages: usize,
}

impl OutBuffer {
    /// A buffer of at most `max_bytes` payload bytes and `max_messages` messages.
    pub fn new(max_bytes: usize, max_messages: usize) -> OutBuffer {
        OutBuffer {
            queue: VecDeque::new(),
            bytes: 0,
            max_bytes,
            max_messages: max_messages.max(1),
        }
    }

    /// Appends `msg` (pushed at `now`) unless that would pass a bound.
    pub fn push(&mut self, msg: Message, now: Instant) -> Result<(), Refused> {
        let len = msg.payload.len();
        let fits = self.queue.is_empty()
            || (self.queue.len() < self.max_messages && self.bytes + len <= self.max_bytes);
        if !fits {
            return Err(Refused(msg));
        }
        self.bytes += len;
        self.queue.push_back((now, msg));
        Ok(())
    }

    /// The oldest message and when it was pushed.
    pub fn front(&self) -> Option<&(Instant, Message)> {
        self.queue.front()
    }

    /// Takes the oldest message out.
    pub fn pop(&mut self) -> Option<Message> {
        let (_, msg) = self.queue.pop_front()?;
        self.bytes -= msg.payload.len();
        Some(msg)
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Payload bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;
    use std::sync::Arc;

    #[derive(Debug, Clone)]
    enum Op {
        Push(usize),
        Pop,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0usize..300).prop_map(Op::Push),
            2 => Just(Op::Pop),
        ]
    }

    proptest! {
        /// Against a model: FIFO order, nothing lost or duplicated, bounds never passed
        /// (except one message alone), and a push is refused exactly when it does not fit.
        #[test]
        fn bounded_fifo(max_bytes in 0usize..1000, max_messages in 1usize..8,
                        ops in proptest::collection::vec(op(), 0..200)) {
            let mut b = OutBuffer::new(max_bytes, max_messages);
            let mut model: VecDeque<(u64, usize)> = VecDeque::new();
            let now = Instant::now();
            for (id, op) in (0u64..).zip(ops) {
                match op {
                    Op::Push(len) => {
                        let mut payload = vec![0u8; len];
                        if len >= 8 {
                            payload[..8].copy_from_slice(&id.to_be_bytes());
                        }
                        let msg = Message {
                            channel: Arc::from(format!("c{id}")),
                            payload: Bytes::from(payload),
                            traceparent: None,
                        };
                        let bytes: usize = model.iter().map(|m| m.1).sum();
                        let fits = model.is_empty()
                            || (model.len() < max_messages && bytes + len <= max_bytes);
                        match b.push(msg, now) {
                            Ok(()) => { prop_assert!(fits); model.push_back((id, len)); }
                            Err(Refused(m)) => {
                                prop_assert!(!fits);
                                prop_assert_eq!(&*m.channel, format!("c{id}"));
                            }
                        }
                    }
                    Op::Pop => {
                        let got = b.pop();
                        let want = model.pop_front();
                        prop_assert_eq!(got.is_some(), want.is_some());
                        if let (Some(m), Some((id, len))) = (got, want) {
                            prop_assert_eq!(&*m.channel, format!("c{id}"));
                            prop_assert_eq!(m.payload.len(), len);
                        }
                    }
                }
                let bytes: usize = model.iter().map(|m| m.1).sum();
                prop_assert_eq!(b.len(), model.len());
                prop_assert_eq!(b.bytes(), bytes);
                prop_assert!(b.len() <= 1 || (b.len() <= max_messages && bytes <= max_bytes));
            }
        }
    }
}
