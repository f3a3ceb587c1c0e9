//! Append-only logs: records numbered from 1, read by range, trimmed from the oldest end.

use bytes::Bytes;
use std::time::Duration;

/// One record of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its sequence number.
    pub seq: u64,
    /// When it was appended, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The record.
    pub data: Bytes,
}

/// The state of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogInfo {
    /// The oldest sequence number still kept (`next` when empty).
    pub first: u64,
    /// The sequence number the next append gets.
    pub next: u64,
    /// Records kept.
    pub count: u64,
    /// Bytes of data kept.
    pub bytes: u64,
}

/// What a trim keeps: records are removed from the oldest end until every bound holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trim {
    /// At most this many records.
    pub max_count: Option<u64>,
    /// At most this many bytes of data.
    pub max_bytes: Option<u64>,
    /// No record older than this.
    pub max_age: Option<Duration>,
}
