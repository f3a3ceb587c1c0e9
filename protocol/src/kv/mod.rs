//! The `kv` stream service's messages: sans-I/O encoding and decoding.
//!
//! On a stream opened with service name `kv`, each direction carries a sequence of messages,
//! each one `length: u32 BE` (of what follows) then the body. Requests carry a client-chosen
//! `id: u32`; the answer to a request carries the same id. Requests may be pipelined: reads
//! are answered at once, writes once durable, so **answers can come out of order**; the id
//! pairs them. All integers are big-endian.
//!
//! ```text
//! request  = id:u32 op:u8 ...
//!   op 1 GET    key
//!   op 2 PUT    cond key value
//!   op 3 DELETE cond key
//!   op 4 SCAN   prefix:bytes16 after:bytes16 limit:u16
//! key      = len:u16 (1..=511) bytes
//! value    = len:u32 bytes
//! cond     = 0 any | 1 absent | 2 exists | 3 version:u64
//! response = id:u32 status:u8 ...
//!   0 OK        GET: version:u64 value   PUT: version:u64 created:u8   DELETE: -
//!               SCAN: count:u16 key*count has_next:u8 [next:bytes16]
//!   1 NOT_FOUND -
//!   2 CONFLICT  current:u64 (0: the key is absent)
//!   3..=7       message:bytes16 (TOO_LARGE, BAD_REQUEST, FULL, BUSY, ERROR)
//!   8..=9       message:bytes16 (UNAUTHORIZED, FORBIDDEN)
//!   10 RATE_LIMITED retry_after_ms:u32
//! ```

use std::fmt;

/// The longest message body accepted (a 16 MiB value plus its header).
pub const MAX_MESSAGE: usize = 16 << 20 | 1024;
/// The longest key.
pub const MAX_KEY: usize = 511;

/// A write's condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// Unconditional.
    Any,
    /// Only if the key does not exist.
    Absent,
    /// Only if the key exists.
    Exists,
    /// Only if the key has this version.
    Version(u64),
}

/// A request; byte fields borrow the received buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// Read one key.
    Get {
        /// Request id.
        id: u32,
        /// The key.
        key: &'a [u8],
    },
    /// Write one key.
    Put {
        /// Request id.
        id: u32,
        /// Condition.
        cond: Cond,
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// Remove one key.
    Delete {
        /// Request id.
        id: u32,
        /// Condition.
        cond: Cond,
        /// The key.
        key: &'a [u8],
    },
    /// List keys by prefix.
    Scan {
        /// Request id.
        id: u32,
        /// Keys start with it.
        prefix: &'a [u8],
        /// Start after this key (empty: from the start).
        after: &'a [u8],
        /// At most this many keys.
        limit: u16,
    },
}

impl Request<'_> {
    /// The request's id.
    pub fn id(&self) -> u32 {
        match self {
            Request::Get { id, .. }
            | Request::Put { id, .. }
            | Request::Delete { id, .. }
            | Request::Scan { id, .. } => *id,
        }
    }
}

/// Answer statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Done.
    Ok = 0,
    /// No such key.
    NotFound = 1,
    /// A condition did not hold.
    Conflict = 2,
    /// A value over the server's limit.
    TooLarge = 3,
    /// A malformed request or a key out of bounds.
    BadRequest = 4,
    /// The store is full.
    Full = 5,
    /// Too many writes waiting, or the writer is down: retry later.
    Busy = 6,
    /// Anything else.
    Error = 7,
    /// No valid token: none, or one invalid, expired or revoked.
    Unauthorized = 8,
    /// The token lacks the scope for this key, or the server is in protected mode.
    Forbidden = 9,
    /// Over a rate limit; the answer says when to retry ([`Response::RateLimited`]).
    RateLimited = 10,
}

impl Status {
    fn from_u8(b: u8) -> Option<Status> {
        Some(match b {
            0 => Status::Ok,
            1 => Status::NotFound,
            2 => Status::Conflict,
            3 => Status::TooLarge,
            4 => Status::BadRequest,
            5 => Status::Full,
            6 => Status::Busy,
            7 => Status::Error,
            8 => Status::Unauthorized,
            9 => Status::Forbidden,
            10 => Status::RateLimited,
            _ => return None,
        })
    }
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The length prefix is over [`MAX_MESSAGE`].
    TooLong(usize),
    /// The body ended early or has bytes left over.
    Truncated,
    /// An unknown op, condition or status.
    Unknown(u8),
    /// A key of 0 or more than [`MAX_KEY`] bytes.
    BadKey(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLong(n) => {
                write!(f, "message of {n} bytes is over the limit of {MAX_MESSAGE}")
            }
            DecodeError::Truncated => write!(f, "message body has the wrong length for its fields"),
            DecodeError::Unknown(b) => write!(f, "unknown op, condition or status {b}"),
            DecodeError::BadKey(n) => write!(f, "a key must be 1 to {MAX_KEY} bytes, not {n}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The next message body in `buf`: `Ok(Some((body, consumed)))`, `Ok(None)` if incomplete.
pub fn split(buf: &[u8]) -> Result<Option<(&[u8], usize)>, DecodeError> {
    let Some(len) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len > MAX_MESSAGE {
        return Err(DecodeError::TooLong(len));
    }
    Ok(buf.get(4..4 + len).map(|body| (body, 4 + len)))
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        Ok(u64::from_be_bytes(w))
    }
    fn bytes16(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    fn key(&mut self) -> Result<&'a [u8], DecodeError> {
        let k = self.bytes16()?;
        if k.is_empty() || k.len() > MAX_KEY {
            return Err(DecodeError::BadKey(k.len()));
        }
        Ok(k)
    }
    fn cond(&mut self) -> Result<Cond, DecodeError> {
        Ok(match self.u8()? {
            0 => Cond::Any,
            1 => Cond::Absent,
            2 => Cond::Exists,
            3 => Cond::Version(self.u64()?),
            b => return Err(DecodeError::Unknown(b)),
        })
    }
    fn end(&self) -> Result<(), DecodeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Truncated)
        }
    }
}

/// Decodes a request body (as returned by [`split`]).
pub fn decode_request(body: &[u8]) -> Result<Request<'_>, DecodeError> {
    let mut c = Cursor(body);
    let id = c.u32()?;
    let req = match c.u8()? {
        1 => Request::Get { id, key: c.key()? },
        2 => {
            let cond = c.cond()?;
            let key = c.key()?;
            let n = c.u32()? as usize;
            Request::Put {
                id,
                cond,
                key,
                value: c.take(n)?,
            }
        }
        3 => {
            let cond = c.cond()?;
            Request::Delete {
                id,
                cond,
                key: c.key()?,
            }
        }
        4 => Request::Scan {
            id,
            prefix: c.bytes16()?,
            after: c.bytes16()?,
            limit: c.u16()?,
        },
        op => return Err(DecodeError::Unknown(op)),
    };
    c.end()?;
    Ok(req)
}

fn put_bytes16(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len().min(u16::MAX as usize) as u16).to_be_bytes());
    out.extend_from_slice(&b[..b.len().min(u16::MAX as usize)]);
}

fn put_cond(out: &mut Vec<u8>, c: Cond) {
    match c {
        Cond::Any => out.push(0),
        Cond::Absent => out.push(1),
        Cond::Exists => out.push(2),
        Cond::Version(v) => {
            out.push(3);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

/// Starts a message: reserves the length prefix; [`finish`] fills it in.
fn begin(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    at
}

fn finish(out: &mut [u8], at: usize) {
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Appends a request message (length prefix included) to `out`.
pub fn encode_request(req: &Request<'_>, out: &mut Vec<u8>) {
    let at = begin(out);
    out.extend_from_slice(&req.id().to_be_bytes());
    match req {
        Request::Get { key, .. } => {
            out.push(1);
            put_bytes16(out, key);
        }
        Request::Put {
            cond, key, value, ..
        } => {
            out.push(2);
            put_cond(out, *cond);
            put_bytes16(out, key);
            out.extend_from_slice(&(value.len() as u32).to_be_bytes());
            out.extend_from_slice(value);
        }
        Request::Delete { cond, key, .. } => {
            out.push(3);
            put_cond(out, *cond);
            put_bytes16(out, key);
        }
        Request::Scan {
            prefix,
            after,
            limit,
            ..
        } => {
            out.push(4);
            put_bytes16(out, prefix);
            put_bytes16(out, after);
            out.extend_from_slice(&limit.to_be_bytes());
        }
    }
    finish(out, at);
}

mod response;
pub use response::{Op, Response, decode_response, encode_response, response_id};

#[cfg(test)]
mod tests;
