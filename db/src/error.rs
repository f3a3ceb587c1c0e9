//! What can go wrong, in words a user can act on.

use std::fmt;

/// A store error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Keys are 1 to [`crate::MAX_KEY`] bytes.
    BadKey {
        /// The length given.
        len: usize,
    },
    /// A value over `kv.max_value`.
    ValueTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A conditional write found another version (`None`: the key is absent).
    VersionMismatch {
        /// The version the key has now.
        current: Option<u64>,
    },
    /// The memory map is full: grow `db.map_size` (and restart) or delete data.
    MapFull {
        /// The map size in bytes.
        map_size: usize,
    },
    /// Too many writes are waiting for the writer thread.
    Busy,
    /// The writer thread is gone (it failed, or the store was closed).
    WriterGone,
    /// A log name is 1 to 255 bytes.
    BadLogName,
    /// The storage engine or the file system failed.
    Storage(String),
    /// The database cannot serve now (it is down, slow or overloaded, or the circuit breaker
    /// is open): try again after `retry_after`. Answered as 503 with `Retry-After`.
    Unavailable {
        /// Why, for the operator (never the query or the values).
        reason: String,
        /// When a retry may succeed.
        retry_after: std::time::Duration,
    },
}

impl Error {
    pub(crate) fn storage(e: impl fmt::Display) -> Error {
        Error::Storage(e.to_string())
    }

    pub(crate) fn from_heed(e: heed::Error, map_size: usize) -> Error {
        match e {
            heed::Error::Mdb(heed::MdbError::MapFull) => Error::MapFull { map_size },
            e => Error::storage(e),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadKey { len } => write!(
                f,
                "a key must be 1 to {} bytes, this one has {len}",
                crate::MAX_KEY
            ),
            Error::ValueTooLarge { len, max } => write!(
                f,
                "a value of {len} bytes is over the limit of {max} (kv.max_value)"
            ),
            Error::VersionMismatch { current: Some(v) } => {
                write!(f, "version mismatch: the current version is {v}")
            }
            Error::VersionMismatch { current: None } => {
                write!(f, "version mismatch: the key does not exist")
            }
            Error::MapFull { map_size } => write!(
                f,
                "the store is full (db.map_size = {map_size} bytes): raise db.map_size and \
                 restart, or delete data"
            ),
            Error::Busy => write!(f, "too many writes are waiting: retry later"),
            Error::WriterGone => write!(f, "the storage writer is not running"),
            Error::BadLogName => write!(f, "a log name must be 1 to 255 bytes"),
            Error::Storage(e) => write!(f, "storage error: {e}"),
            // The reason is for operators (readiness, metrics, logs), not for clients.
            Error::Unavailable { .. } => write!(f, "the database is unavailable: retry later"),
        }
    }
}

impl std::error::Error for Error {}
