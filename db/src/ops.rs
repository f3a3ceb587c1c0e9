//! Write operations, their conditions and their outcomes.

use crate::{Error, MAX_KEY, log::Trim};
use bytes::Bytes;

/// The condition a write needs to apply (compare-and-set on the key's version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// Unconditional.
    Any,
    /// Only if the key does not exist (create).
    Absent,
    /// Only if the key exists, whatever its version.
    Exists,
    /// Only if the key exists with exactly this version.
    Version(u64),
}

/// One operation of a write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets `key` to `value`; it gets a new version.
    Put {
        /// The key.
        key: Bytes,
        /// The value.
        value: Bytes,
        /// When to apply.
        cond: Cond,
    },
    /// Removes `key`.
    Delete {
        /// The key.
        key: Bytes,
        /// When to apply.
        cond: Cond,
    },
    /// Appends a record to log `log` (created on first append).
    Append {
        /// The log's name.
        log: Bytes,
        /// The record.
        data: Bytes,
    },
    /// Removes the oldest records of `log` until it is within `trim`, at most
    /// [`TRIM_SLICE`](crate::TRIM_SLICE) of them: a trim never holds the log (on the embedded
    /// store: every writer) for longer than one slice takes. [`Outcome::Trim`] says whether to
    /// call again.
    Trim {
        /// The log's name.
        log: Bytes,
        /// What to keep.
        trim: Trim,
    },
}

impl Op {
    /// A put.
    pub fn put(key: impl Into<Bytes>, value: impl Into<Bytes>, cond: Cond) -> Op {
        Op::Put {
            key: key.into(),
            value: value.into(),
            cond,
        }
    }

    /// A delete.
    pub fn delete(key: impl Into<Bytes>, cond: Cond) -> Op {
        Op::Delete {
            key: key.into(),
            cond,
        }
    }

    /// An append.
    pub fn append(log: impl Into<Bytes>, data: impl Into<Bytes>) -> Op {
        Op::Append {
            log: log.into(),
            data: data.into(),
        }
    }

    /// Checks the limits before the operation travels to the writer.
    pub(crate) fn validate(&self, max_value: usize) -> Result<(), Error> {
        let key = |k: &Bytes| {
            if k.is_empty() || k.len() > MAX_KEY {
                Err(Error::BadKey { len: k.len() })
            } else {
                Ok(())
            }
        };
        let log = |n: &Bytes| {
            if n.is_empty() || n.len() > 255 {
                Err(Error::BadLogName)
            } else {
                Ok(())
            }
        };
        match self {
            Op::Put { key: k, value, .. } => {
                key(k)?;
                if value.len() > max_value {
                    return Err(Error::ValueTooLarge {
                        len: value.len(),
                        max: max_value,
                    });
                }
                Ok(())
            }
            Op::Delete { key: k, .. } => key(k),
            Op::Append { log: n, data } => {
                log(n)?;
                if data.len() > max_value {
                    return Err(Error::ValueTooLarge {
                        len: data.len(),
                        max: max_value,
                    });
                }
                Ok(())
            }
            Op::Trim { log: n, .. } => log(n),
        }
    }
}

/// What an operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A put: the new version, and whether the key was new.
    Put {
        /// The version the key has now.
        version: u64,
        /// The key did not exist before.
        created: bool,
    },
    /// A delete: whether the key existed.
    Delete {
        /// It existed (and is gone now).
        existed: bool,
    },
    /// An append: the record's sequence number.
    Append {
        /// Sequence number (from 1, never reused).
        seq: u64,
    },
    /// A trim: how many records were removed.
    Trim {
        /// Records removed: [`TRIM_SLICE`](crate::TRIM_SLICE) means "call again, more may be
        /// over the bounds"; fewer means the log is within them.
        removed: u64,
    },
}

impl Outcome {
    /// A put that created its key.
    pub fn created(&self) -> bool {
        matches!(self, Outcome::Put { created: true, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_before_the_writer() {
        let long = Bytes::from(vec![b'k'; MAX_KEY + 1]);
        assert_eq!(
            Op::put(long.clone(), "v", Cond::Any).validate(10),
            Err(Error::BadKey { len: MAX_KEY + 1 })
        );
        assert_eq!(
            Op::put("", "v", Cond::Any).validate(10),
            Err(Error::BadKey { len: 0 })
        );
        assert_eq!(
            Op::put("k", vec![0u8; 11], Cond::Any).validate(10),
            Err(Error::ValueTooLarge { len: 11, max: 10 })
        );
        assert!(
            Op::put(vec![b'k'; MAX_KEY], "v", Cond::Any)
                .validate(10)
                .is_ok()
        );
        assert_eq!(Op::append("", "x").validate(10), Err(Error::BadLogName));
    }
}
