//! How keys, values and log records are laid out in LMDB.
//!
//! - `kv`:   key → version (u64, big-endian) ‖ value
//! - `logs`: name length (u8) ‖ name ‖ sequence (u64 BE) → time in ms (u64 BE) ‖ data
//! - `meta`: `"version"` → the next version (u64 BE);
//!   `"log\0"` ‖ name → first ‖ next ‖ count ‖ bytes ‖ last time in ms (5 × u64 BE; stores
//!   written before the last time was kept have the first four only)

use crate::log::LogInfo;

pub(crate) const NEXT_VERSION: &[u8] = b"version";

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_be_bytes(w)
}

/// A stored value: its version and its bytes (`None` if the record is too short to be ours).
pub(crate) fn split_value(stored: &[u8]) -> Option<(u64, &[u8])> {
    (stored.len() >= 8).then(|| (u64_at(stored, 0), &stored[8..]))
}

pub(crate) fn value(version: u64, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + value.len());
    v.extend_from_slice(&version.to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// The prefix every record of log `name` starts with.
pub(crate) fn log_prefix(name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len() + 8);
    k.push(name.len() as u8);
    k.extend_from_slice(name);
    k
}

pub(crate) fn log_key(name: &[u8], seq: u64) -> Vec<u8> {
    let mut k = log_prefix(name);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
pub(crate) fn log_record(time_ms: u64, data: &[u8]) -> Vec<u8> {
    value(time_ms, data)
}

/// [`log_key`] and [`log_record`] into buffers the caller reuses (the writer's appends).
pub(crate) fn log_key_and_record_into(
    key: &mut Vec<u8>,
    record: &mut Vec<u8>,
    name: &[u8],
    seq: u64,
    time_ms: u64,
    data: &[u8],
) {
    key.clear();
    key.push(name.len() as u8);
    key.extend_from_slice(name);
    key.extend_from_slice(&seq.to_be_bytes());
    record.clear();
    record.extend_from_slice(&time_ms.to_be_bytes());
    record.extend_from_slice(data);
}

pub(crate) fn log_meta_key(name: &[u8]) -> Vec<u8> {
    let mut k = b"log\0".to_vec();
    k.extend_from_slice(name);
    k
}

pub(crate) fn log_info(b: &[u8]) -> LogInfo {
    LogInfo {
        first: u64_at(b, 0),
        next: u64_at(b, 8),
        count: u64_at(b, 16),
        bytes: u64_at(b, 24),
    }
}

/// The time of the log's newest record as kept in its meta value, if it is kept there.
pub(crate) fn log_last_ms(b: &[u8]) -> Option<u64> {
    (b.len() >= 40).then(|| u64_at(b, 32))
}

pub(crate) fn encode_log_meta(i: &LogInfo, last_ms: u64) -> [u8; 40] {
    let mut b = [0u8; 40];
    for (n, v) in [i.first, i.next, i.count, i.bytes, last_ms]
        .into_iter()
        .enumerate()
    {
        b[n * 8..n * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys_sort_by_name_then_sequence() {
        let mut keys = [
            log_key(b"b", 1),
            log_key(b"a", 300),
            log_key(b"a", 2),
            log_key(b"ab", 0),
        ];
        keys.sort();
        assert_eq!(keys[0], log_key(b"a", 2));
        assert_eq!(keys[1], log_key(b"a", 300));
        assert_eq!(keys[2], log_key(b"b", 1));
        assert_eq!(keys[3], log_key(b"ab", 0));
    }

    #[test]
    fn values_and_log_info_round_trip() {
        let v = value(7, b"hi");
        assert_eq!(split_value(&v), Some((7, &b"hi"[..])));
        assert_eq!(split_value(b"short"), None);
        let (mut k, mut r) = (vec![9], vec![9]);
        log_key_and_record_into(&mut k, &mut r, b"n", 3, 7, b"hi");
        assert_eq!((k, r), (log_key(b"n", 3), log_record(7, b"hi")));
        let i = LogInfo {
            first: 1,
            next: 9,
            count: 8,
            bytes: 100,
        };
        let b = encode_log_meta(&i, 77);
        assert_eq!((log_info(&b), log_last_ms(&b)), (i, Some(77)));
        assert_eq!(log_last_ms(&b[..32]), None, "an older store's meta value");
        assert_eq!(log_info(&b[..32]), i);
    }
}
