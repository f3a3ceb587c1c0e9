//! The `channels` stream service's messages: sans-I/O encoding and decoding.
//!
//! Framing as `kv` ([`split`]): each message is `length: u32 BE` (of what follows) then the
//! body. All integers are big-endian. Requests on one stream are answered in order.
//!
//! ```text
//! request = id:u32 op:u8 ...
//!   1 PUB      channel:str8 data:rest
//!   2 SUB      channel:str8 start
//!   3 CONSUME  channel:str8 consumer:str8 ack_wait_ms:u32 max_ack_pending:u32 start
//!   4 ACK      seq:u64
//!   5 NAK      seq:u64
//!   6 INFO     channel:str8
//!   7 DELETE_CONSUMER channel:str8 consumer:str8
//! str8  = len:u8 (1..=64) bytes            (a name: see valid_channel)
//! start = 0 new-only | 1 from:u64 | 2 last:u64 | 3 since_ms:u64 (Unix ms)
//! server message = kind:u8 ...
//!   0 ANSWER  id:u32 op:u8 status:u8 rest
//!      status OK:   PUB seq:u64 | SUB/CONSUME first:u64 next:u64
//!                   | INFO first:u64 next:u64 count:u64 bytes:u64 | ACK/NAK/DELETE: -
//!      otherwise:   message: UTF-8, rest of the body
//!   1 MESSAGE seq:u64 deliveries:u32 data:rest
//! ```

use std::fmt;

mod answer;
mod request;
pub use answer::{Answer, ServerMessage, encode_answer, encode_message, parse_server_message};
pub use request::{Request, parse_request};

/// The longest channel (or consumer) name.
pub const MAX_CHANNEL: usize = 64;

/// The longest message body accepted by [`split`] (the same limit as `kv`'s).
pub use crate::kv::MAX_MESSAGE;

/// Why `name` is not a valid channel or consumer name, or `None` if it is one.
///
/// A name is 1 to [`MAX_CHANNEL`] bytes of tokens separated by `.`, each token non-empty and
/// made of `A-Z a-z 0-9 _ : -` (so no leading or trailing dot and no `..`). A valid channel is
/// verbatim a valid NATS subject tail.
pub fn name_fault(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.len() > MAX_CHANNEL {
        return Some("it is longer than 64 bytes");
    }
    if !name
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || b"._:-".contains(&c))
    {
        return Some("only A-Z a-z 0-9 _ : - and . between tokens are allowed");
    }
    if name.split(|&c| c == b'.').any(<[u8]>::is_empty) {
        return Some(
            "a dot must separate two non-empty tokens (no leading, trailing or double dot)",
        );
    }
    None
}

/// Whether `name` is a valid channel name (see [`name_fault`] for the grammar).
pub fn valid_channel(name: &[u8]) -> bool {
    name_fault(name).is_none()
}

/// Where a subscription or a new consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// New messages only.
    New,
    /// From this sequence number (a seq before the first kept one starts at the first).
    From(u64),
    /// The last N messages.
    Last(u64),
    /// Messages stored at or after this Unix time in milliseconds.
    SinceMs(u64),
}

/// What a request asks; also on every answer, so a client can decode it without context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// Publish.
    Pub = 1,
    /// Subscribe.
    Sub = 2,
    /// Attach a named consumer.
    Consume = 3,
    /// Acknowledge a delivery.
    Ack = 4,
    /// Ask for a delivery again, now.
    Nak = 5,
    /// A channel's bounds.
    Info = 6,
    /// Remove a named consumer.
    DeleteConsumer = 7,
}

impl Op {
    /// The op numbered `b` on the wire.
    pub fn from_u8(b: u8) -> Option<Op> {
        Some(match b {
            1 => Op::Pub,
            2 => Op::Sub,
            3 => Op::Consume,
            4 => Op::Ack,
            5 => Op::Nak,
            6 => Op::Info,
            7 => Op::DeleteConsumer,
            _ => return None,
        })
    }
}

/// Answer statuses (the numbers are the wire's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    /// Done.
    Ok = 0,
    /// No such consumer, or an ACK/NAK of a seq not in flight.
    NotFound = 1,
    /// The request conflicts with the state (e.g. a consumer attached with other settings).
    Conflict = 2,
    /// A message over the server's limit.
    TooLarge = 3,
    /// A malformed request, a bad name, or a request out of place on this stream.
    BadRequest = 4,
    /// The store is full.
    Full = 5,
    /// Too many writes waiting, or the writer is down: retry later.
    Busy = 6,
    /// Anything else.
    Error = 7,
    /// Replay or a consumer asked of an ephemeral channel.
    NotDurable = 8,
    /// The cluster refused the publish (its buffer is full): retry later.
    Unavailable = 9,
    /// Another client attached this consumer.
    TakenOver = 10,
    /// No valid token: none, or one invalid, expired or revoked.
    Unauthorized = 11,
    /// The token lacks the scope for this channel, or the server is in protected mode.
    Forbidden = 12,
    /// Over a rate limit: nothing was done; the message says when to retry.
    RateLimited = 13,
}

impl Status {
    /// The status numbered `b` on the wire.
    pub fn from_u8(b: u8) -> Option<Status> {
        Some(match b {
            0 => Status::Ok,
            1 => Status::NotFound,
            2 => Status::Conflict,
            3 => Status::TooLarge,
            4 => Status::BadRequest,
            5 => Status::Full,
            6 => Status::Busy,
            7 => Status::Error,
            8 => Status::NotDurable,
            9 => Status::Unavailable,
            10 => Status::TakenOver,
            11 => Status::Unauthorized,
            12 => Status::Forbidden,
            13 => Status::RateLimited,
            _ => return None,
        })
    }

    /// The name used in `docs/PROTOCOL.md`, e.g. `NOT_DURABLE`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::NotFound => "NOT_FOUND",
            Status::Conflict => "CONFLICT",
            Status::TooLarge => "TOO_LARGE",
            Status::BadRequest => "BAD_REQUEST",
            Status::Full => "FULL",
            Status::Busy => "BUSY",
            Status::Error => "ERROR",
            Status::NotDurable => "NOT_DURABLE",
            Status::Unavailable => "UNAVAILABLE",
            Status::TakenOver => "TAKEN_OVER",
            Status::Unauthorized => "UNAUTHORIZED",
            Status::Forbidden => "FORBIDDEN",
            Status::RateLimited => "RATE_LIMITED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The length prefix is over [`MAX_MESSAGE`].
    TooLong(usize),
    /// The body ended before its fields did.
    Truncated,
    /// The body has bytes after its last field.
    Trailing(usize),
    /// An unknown code in a field (`what`: "op", "start", "status" or "kind").
    Unknown {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u8,
    },
    /// A channel or consumer name that is not valid (see [`name_fault`]).
    BadName {
        /// "channel" or "consumer".
        what: &'static str,
        /// Why.
        why: &'static str,
    },
    /// A failure's message is not UTF-8.
    NotUtf8,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLong(n) => {
                write!(f, "message of {n} bytes is over the limit of {MAX_MESSAGE}")
            }
            Error::Truncated => write!(f, "message body ends before its fields do"),
            Error::Trailing(n) => write!(f, "message body has {n} bytes after its last field"),
            Error::Unknown { what, value } => write!(f, "unknown {what} {value}"),
            Error::BadName { what, why } => write!(f, "bad {what} name: {why}"),
            Error::NotUtf8 => write!(f, "the error message is not UTF-8"),
        }
    }
}

impl std::error::Error for Error {}

/// The next message body in `buf`: `Ok(Some((body, consumed)))`, `Ok(None)` if incomplete
/// (the framing of `kv`, whose [`crate::kv::split`] this is).
pub fn split(buf: &[u8]) -> Result<Option<(&[u8], usize)>, Error> {
    crate::kv::split(buf).map_err(|e| match e {
        crate::kv::DecodeError::TooLong(n) => Error::TooLong(n),
        _ => Error::Truncated,
    })
}

pub(crate) struct Cursor<'a>(pub(crate) &'a [u8]);

impl<'a> Cursor<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.0.len() < n {
            return Err(Error::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, Error> {
        let mut w = [0u8; 8];
        w.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(w))
    }
    pub(crate) fn name(&mut self, what: &'static str) -> Result<&'a str, Error> {
        let n = self.u8()? as usize;
        let name = self.take(n)?;
        if let Some(why) = name_fault(name) {
            return Err(Error::BadName { what, why });
        }
        // name_fault admits ASCII only.
        std::str::from_utf8(name).map_err(|_| Error::NotUtf8)
    }
    pub(crate) fn start(&mut self) -> Result<Start, Error> {
        Ok(match self.u8()? {
            0 => Start::New,
            1 => Start::From(self.u64()?),
            2 => Start::Last(self.u64()?),
            3 => Start::SinceMs(self.u64()?),
            value => {
                return Err(Error::Unknown {
                    what: "start",
                    value,
                });
            }
        })
    }
    pub(crate) fn end(&self) -> Result<(), Error> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(Error::Trailing(n)),
        }
    }
}

/// Starts a message: reserves the length prefix; [`finish`] fills it in.
pub(crate) fn begin(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    at
}

pub(crate) fn finish(out: &mut [u8], at: usize) {
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
