//! What the server sends on a `channels` stream: answers to requests and the messages of a
//! subscription. Encoding (the server) and decoding (clients).

use super::{Cursor, Error, Op, Status, begin, finish};

/// The answer to one request; `Failed`'s message borrows the received buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<'a> {
    /// PUB stored (durable channel) or handed on (ephemeral: seq 0).
    Published {
        /// The message's sequence number, 0 on an ephemeral channel.
        seq: u64,
    },
    /// SUB or CONSUME attached: the channel's first kept and next seq (0 0 when ephemeral).
    Subscribed {
        /// The first kept seq.
        first: u64,
        /// The seq the next publish gets.
        next: u64,
    },
    /// INFO: the channel's bounds.
    Info {
        /// The first kept seq.
        first: u64,
        /// The seq the next publish gets.
        next: u64,
        /// Messages kept.
        count: u64,
        /// Bytes of the messages kept.
        bytes: u64,
    },
    /// ACK, NAK or DELETE_CONSUMER done.
    Done,
    /// Any status but OK, with what to do about it.
    Failed {
        /// Not [`Status::Ok`].
        status: Status,
        /// The reason, for a person.
        message: &'a str,
    },
}

/// A message from the server; byte fields borrow the received buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage<'a> {
    /// The answer to request `id`, which asked `op`.
    Answer {
        /// The request's id.
        id: u32,
        /// The request's op.
        op: Op,
        /// The outcome.
        answer: Answer<'a>,
    },
    /// A message of the stream's subscription.
    Message {
        /// Its sequence number (0 on an ephemeral channel).
        seq: u64,
        /// 1 on a first delivery, 2.. on redeliveries.
        deliveries: u32,
        /// The payload.
        data: &'a [u8],
    },
}

impl ServerMessage<'_> {
    /// Appends this message (length prefix included) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ServerMessage::Answer { id, op, answer } => encode_answer(*id, *op, answer, out),
            ServerMessage::Message {
                seq,
                deliveries,
                data,
            } => encode_message(*seq, *deliveries, data, out),
        }
    }
}

const ANSWER: u8 = 0;
const MESSAGE: u8 = 1;

/// Appends the answer to request `id` (of kind `op`) to `out`. The OK answer must be the one
/// for `op` (`Published` for PUB, `Subscribed` for SUB and CONSUME, `Info` for INFO, `Done`
/// for the rest); `Failed` with [`Status::Ok`] is written as a plain OK.
pub fn encode_answer(id: u32, op: Op, answer: &Answer<'_>, out: &mut Vec<u8>) {
    let at = begin(out);
    out.push(ANSWER);
    out.extend_from_slice(&id.to_be_bytes());
    out.push(op as u8);
    match answer {
        Answer::Failed { status, message } => {
            out.push(*status as u8);
            if *status != Status::Ok {
                out.extend_from_slice(message.as_bytes());
            }
        }
        ok => {
            out.push(Status::Ok as u8);
            match ok {
                Answer::Published { seq } => out.extend_from_slice(&seq.to_be_bytes()),
                Answer::Subscribed { first, next } => {
                    out.extend_from_slice(&first.to_be_bytes());
                    out.extend_from_slice(&next.to_be_bytes());
                }
                Answer::Info {
                    first,
                    next,
                    count,
                    bytes,
                } => {
                    for n in [first, next, count, bytes] {
                        out.extend_from_slice(&n.to_be_bytes());
                    }
                }
                Answer::Done | Answer::Failed { .. } => {}
            }
        }
    }
    finish(out, at);
}

/// Appends a subscription's MESSAGE to `out`.
pub fn encode_message(seq: u64, deliveries: u32, data: &[u8], out: &mut Vec<u8>) {
    let at = begin(out);
    out.push(MESSAGE);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&deliveries.to_be_bytes());
    out.extend_from_slice(data);
    finish(out, at);
}

/// Decodes a server message body (as returned by [`super::split`]).
pub fn parse_server_message(body: &[u8]) -> Result<ServerMessage<'_>, Error> {
    let mut c = Cursor(body);
    let msg = match c.u8()? {
        ANSWER => {
            let id = c.u32()?;
            let value = c.u8()?;
            let op = Op::from_u8(value).ok_or(Error::Unknown { what: "op", value })?;
            let value = c.u8()?;
            let status = Status::from_u8(value).ok_or(Error::Unknown {
                what: "status",
                value,
            })?;
            let answer = match (status, op) {
                (Status::Ok, Op::Pub) => Answer::Published { seq: c.u64()? },
                (Status::Ok, Op::Sub | Op::Consume) => Answer::Subscribed {
                    first: c.u64()?,
                    next: c.u64()?,
                },
                (Status::Ok, Op::Info) => Answer::Info {
                    first: c.u64()?,
                    next: c.u64()?,
                    count: c.u64()?,
                    bytes: c.u64()?,
                },
                (Status::Ok, Op::Ack | Op::Nak | Op::DeleteConsumer) => Answer::Done,
                (status, _) => Answer::Failed {
                    status,
                    message: std::str::from_utf8(c.rest()).map_err(|_| Error::NotUtf8)?,
                },
            };
            ServerMessage::Answer { id, op, answer }
        }
        MESSAGE => ServerMessage::Message {
            seq: c.u64()?,
            deliveries: c.u32()?,
            data: c.rest(),
        },
        value => {
            return Err(Error::Unknown {
                what: "kind",
                value,
            });
        }
    };
    c.end()?;
    Ok(msg)
}
