//! Answers of the `kv` service: encoding (the server) and decoding (clients).

use super::{Cursor, DecodeError, Status, begin, finish, put_bytes16};

/// An answer; byte fields borrow the received buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response<'a> {
    /// GET found the key.
    Value {
        /// Request id.
        id: u32,
        /// Its version.
        version: u64,
        /// Its value.
        value: &'a [u8],
    },
    /// PUT applied.
    Written {
        /// Request id.
        id: u32,
        /// The new version.
        version: u64,
        /// The key was new.
        created: bool,
    },
    /// DELETE applied.
    Deleted {
        /// Request id.
        id: u32,
    },
    /// A SCAN page.
    Keys {
        /// Request id.
        id: u32,
        /// The keys.
        keys: Vec<&'a [u8]>,
        /// Where the next page starts.
        next: Option<&'a [u8]>,
    },
    /// The key does not exist.
    NotFound {
        /// Request id.
        id: u32,
    },
    /// A condition failed; the key's current version (0: absent).
    Conflict {
        /// Request id.
        id: u32,
        /// Current version, 0 if absent.
        current: u64,
    },
    /// Over a rate limit: nothing was done; retry after this many milliseconds.
    RateLimited {
        /// Request id.
        id: u32,
        /// When a retry may be admitted, in milliseconds from the answer.
        retry_after_ms: u32,
    },
    /// Any other failure, with what to do about it.
    Failed {
        /// Request id.
        id: u32,
        /// TooLarge, BadRequest, Full, Busy, Error, Unauthorized or Forbidden.
        status: Status,
        /// The reason.
        message: &'a str,
    },
}

/// Appends an answer message to `out`.
pub fn encode_response(r: &Response<'_>, out: &mut Vec<u8>) {
    let at = begin(out);
    let (id, status) = match r {
        Response::Value { id, .. }
        | Response::Written { id, .. }
        | Response::Deleted { id }
        | Response::Keys { id, .. } => (*id, Status::Ok),
        Response::NotFound { id } => (*id, Status::NotFound),
        Response::Conflict { id, .. } => (*id, Status::Conflict),
        Response::RateLimited { id, .. } => (*id, Status::RateLimited),
        Response::Failed { id, status, .. } => (*id, *status),
    };
    out.extend_from_slice(&id.to_be_bytes());
    out.push(status as u8);
    match r {
        Response::Value { version, value, .. } => {
            out.extend_from_slice(&version.to_be_bytes());
            out.extend_from_slice(&(value.len() as u32).to_be_bytes());
            out.extend_from_slice(value);
        }
        Response::Written {
            version, created, ..
        } => {
            out.extend_from_slice(&version.to_be_bytes());
            out.push(*created as u8);
        }
        Response::Deleted { .. } | Response::NotFound { .. } => {}
        Response::Keys { keys, next, .. } => {
            out.extend_from_slice(&(keys.len() as u16).to_be_bytes());
            for k in keys {
                put_bytes16(out, k);
            }
            match next {
                Some(n) => {
                    out.push(1);
                    put_bytes16(out, n);
                }
                None => out.push(0),
            }
        }
        Response::Conflict { current, .. } => out.extend_from_slice(&current.to_be_bytes()),
        Response::RateLimited { retry_after_ms, .. } => {
            out.extend_from_slice(&retry_after_ms.to_be_bytes())
        }
        Response::Failed { message, .. } => put_bytes16(out, message.as_bytes()),
    }
    finish(out, at);
}

/// What kind of request an answer is for: the body of an OK depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// GET.
    Get,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// SCAN.
    Scan,
}

/// The id of an answer body, so a client can look up which request it answers.
pub fn response_id(body: &[u8]) -> Result<u32, DecodeError> {
    Cursor(body).u32()
}

/// Decodes an answer body to request of kind `op`.
pub fn decode_response(body: &[u8], op: Op) -> Result<Response<'_>, DecodeError> {
    let mut c = Cursor(body);
    let id = c.u32()?;
    let status = c.u8()?;
    let r = match Status::from_u8(status).ok_or(DecodeError::Unknown(status))? {
        Status::Ok => match op {
            Op::Get => {
                let version = c.u64()?;
                let n = c.u32()? as usize;
                Response::Value {
                    id,
                    version,
                    value: c.take(n)?,
                }
            }
            Op::Put => Response::Written {
                id,
                version: c.u64()?,
                created: c.u8()? != 0,
            },
            Op::Delete => Response::Deleted { id },
            Op::Scan => {
                let n = c.u16()? as usize;
                let mut keys = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    keys.push(c.bytes16()?);
                }
                let next = match c.u8()? {
                    0 => None,
                    _ => Some(c.bytes16()?),
                };
                Response::Keys { id, keys, next }
            }
        },
        Status::NotFound => Response::NotFound { id },
        Status::Conflict => Response::Conflict {
            id,
            current: c.u64()?,
        },
        Status::RateLimited => Response::RateLimited {
            id,
            retry_after_ms: c.u32()?,
        },
        status => {
            let m = c.bytes16()?;
            Response::Failed {
                id,
                status,
                message: std::str::from_utf8(m).map_err(|_| DecodeError::Truncated)?,
            }
        }
    };
    c.end()?;
    Ok(r)
}
