//! Requests of the `channels` service: encoding (clients) and decoding (the server).

use super::{Cursor, Error, Op, Start, begin, finish};

/// A request; names and data borrow the received buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// Publish `data` on `channel`.
    Pub {
        /// Request id.
        id: u32,
        /// The channel.
        channel: &'a str,
        /// The message.
        data: &'a [u8],
    },
    /// Subscribe to `channel` from `start`.
    Sub {
        /// Request id.
        id: u32,
        /// The channel.
        channel: &'a str,
        /// Where to start.
        start: Start,
    },
    /// Attach (creating it at `start` if new) the named consumer of a durable channel.
    Consume {
        /// Request id.
        id: u32,
        /// The channel.
        channel: &'a str,
        /// The consumer's name.
        consumer: &'a str,
        /// Redeliver what is not acknowledged after this long (0: the server's default).
        ack_wait_ms: u32,
        /// At most this many deliveries unacknowledged (0: the server's default).
        max_ack_pending: u32,
        /// Where a new consumer starts (an existing one resumes at its cursor).
        start: Start,
    },
    /// Acknowledge the delivery of `seq`.
    Ack {
        /// Request id.
        id: u32,
        /// The message's sequence number.
        seq: u64,
    },
    /// Negative acknowledgement: deliver `seq` again now.
    Nak {
        /// Request id.
        id: u32,
        /// The message's sequence number.
        seq: u64,
    },
    /// A channel's first and next seq, message count and bytes.
    Info {
        /// Request id.
        id: u32,
        /// The channel.
        channel: &'a str,
    },
    /// Remove a named consumer and its state.
    DeleteConsumer {
        /// Request id.
        id: u32,
        /// The channel.
        channel: &'a str,
        /// The consumer's name.
        consumer: &'a str,
    },
}

impl Request<'_> {
    /// The request's id.
    pub fn id(&self) -> u32 {
        match self {
            Request::Pub { id, .. }
            | Request::Sub { id, .. }
            | Request::Consume { id, .. }
            | Request::Ack { id, .. }
            | Request::Nak { id, .. }
            | Request::Info { id, .. }
            | Request::DeleteConsumer { id, .. } => *id,
        }
    }

    /// What the request asks.
    pub fn op(&self) -> Op {
        match self {
            Request::Pub { .. } => Op::Pub,
            Request::Sub { .. } => Op::Sub,
            Request::Consume { .. } => Op::Consume,
            Request::Ack { .. } => Op::Ack,
            Request::Nak { .. } => Op::Nak,
            Request::Info { .. } => Op::Info,
            Request::DeleteConsumer { .. } => Op::DeleteConsumer,
        }
    }

    /// The channel it names, if any.
    pub fn channel(&self) -> Option<&str> {
        match self {
            Request::Pub { channel, .. }
            | Request::Sub { channel, .. }
            | Request::Consume { channel, .. }
            | Request::Info { channel, .. }
            | Request::DeleteConsumer { channel, .. } => Some(channel),
            Request::Ack { .. } | Request::Nak { .. } => None,
        }
    }

    /// Appends the request message (length prefix included) to `out`. Names are written as
    /// given (cut at 255 bytes): an invalid one is the server's to refuse.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let at = begin(out);
        out.extend_from_slice(&self.id().to_be_bytes());
        out.push(self.op() as u8);
        match self {
            Request::Pub { channel, data, .. } => {
                put_str8(out, channel);
                out.extend_from_slice(data);
            }
            Request::Sub { channel, start, .. } => {
                put_str8(out, channel);
                put_start(out, *start);
            }
            Request::Consume {
                channel,
                consumer,
                ack_wait_ms,
                max_ack_pending,
                start,
                ..
            } => {
                put_str8(out, channel);
                put_str8(out, consumer);
                out.extend_from_slice(&ack_wait_ms.to_be_bytes());
                out.extend_from_slice(&max_ack_pending.to_be_bytes());
                put_start(out, *start);
            }
            Request::Ack { seq, .. } | Request::Nak { seq, .. } => {
                out.extend_from_slice(&seq.to_be_bytes());
            }
            Request::Info { channel, .. } => put_str8(out, channel),
            Request::DeleteConsumer {
                channel, consumer, ..
            } => {
                put_str8(out, channel);
                put_str8(out, consumer);
            }
        }
        finish(out, at);
    }
}

/// Decodes a request body (as returned by [`split`]). Names are checked with
/// [`name_fault`].
pub fn parse_request(body: &[u8]) -> Result<Request<'_>, Error> {
    let mut c = Cursor(body);
    let id = c.u32()?;
    let op = c.u8()?;
    let req = match Op::from_u8(op) {
        Some(Op::Pub) => Request::Pub {
            id,
            channel: c.name("channel")?,
            data: c.rest(),
        },
        Some(Op::Sub) => Request::Sub {
            id,
            channel: c.name("channel")?,
            start: c.start()?,
        },
        Some(Op::Consume) => Request::Consume {
            id,
            channel: c.name("channel")?,
            consumer: c.name("consumer")?,
            ack_wait_ms: c.u32()?,
            max_ack_pending: c.u32()?,
            start: c.start()?,
        },
        Some(Op::Ack) => Request::Ack { id, seq: c.u64()? },
        Some(Op::Nak) => Request::Nak { id, seq: c.u64()? },
        Some(Op::Info) => Request::Info {
            id,
            channel: c.name("channel")?,
        },
        Some(Op::DeleteConsumer) => Request::DeleteConsumer {
            id,
            channel: c.name("channel")?,
            consumer: c.name("consumer")?,
        },
        None => {
            return Err(Error::Unknown {
                what: "op",
                value: op,
            });
        }
    };
    c.end()?;
    Ok(req)
}

fn put_str8(out: &mut Vec<u8>, s: &str) {
    let b = &s.as_bytes()[..s.len().min(255)];
    out.push(b.len() as u8);
    out.extend_from_slice(b);
}

fn put_start(out: &mut Vec<u8>, start: Start) {
    let (code, n) = match start {
        Start::New => (0, None),
        Start::From(n) => (1, Some(n)),
        Start::Last(n) => (2, Some(n)),
        Start::SinceMs(n) => (3, Some(n)),
    };
    out.push(code);
    if let Some(n) = n {
        out.extend_from_slice(&n.to_be_bytes());
    }
}
