//! Reads: on the calling thread, in an LMDB read transaction (MVCC: no lock, no message).

use crate::{
    Error,
    encoding::{self, log_prefix, split_value, u64_at},
    env::Tables,
    log::{LogEntry, LogInfo},
};
use bytes::Bytes;
use std::ops::Bound;

/// A value and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The version (a new one for every write of the key; never reused).
    pub version: u64,
    /// The value.
    pub value: Bytes,
}

/// A page of keys from a prefix scan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scan {
    /// Keys in byte order.
    pub keys: Vec<Bytes>,
    /// Where the next page starts (pass it as `after`), `None` at the end.
    pub next: Option<Bytes>,
}

impl Tables {
    fn err(&self) -> impl Fn(heed::Error) -> Error + '_ {
        |e| Error::storage(e)
    }

    /// Calls `f` with the version and bytes of `key` as they lie in the map (no copy).
    pub(crate) fn with_value<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<(u64, &[u8])>) -> R,
    ) -> Result<R, Error> {
        let rtxn = self.env.read_txn().map_err(self.err())?;
        let stored = self.kv.get(&rtxn, key).map_err(self.err())?;
        Ok(f(stored.and_then(split_value)))
    }

    pub(crate) fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Scan, Error> {
        let rtxn = self.env.read_txn().map_err(self.err())?;
        // LMDB refuses an empty key, even as a bound.
        let start = match after {
            Some(a) if a >= prefix && !a.is_empty() => Bound::Excluded(a),
            _ if prefix.is_empty() => Bound::Unbounded,
            _ => Bound::Included(prefix),
        };
        let range = (start, Bound::<&[u8]>::Unbounded);
        let mut out = Scan::default();
        for item in self.kv.range(&rtxn, &range).map_err(self.err())? {
            let (k, _) = item.map_err(self.err())?;
            if !k.starts_with(prefix) {
                break;
            }
            if out.keys.len() == limit {
                out.next = out.keys.last().cloned();
                break;
            }
            out.keys.push(Bytes::copy_from_slice(k));
        }
        Ok(out)
    }

    pub(crate) fn log_info(&self, name: &[u8]) -> Result<Option<LogInfo>, Error> {
        let rtxn = self.env.read_txn().map_err(self.err())?;
        let info = self
            .meta
            .get(&rtxn, &encoding::log_meta_key(name))
            .map_err(self.err())?;
        Ok(info.map(encoding::log_info))
    }

    pub(crate) fn log_read(
        &self,
        name: &[u8],
        from: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>, Error> {
        let rtxn = self.env.read_txn().map_err(self.err())?;
        let start = encoding::log_key(name, from);
        let prefix = log_prefix(name);
        let range = (Bound::Included(&start[..]), Bound::<&[u8]>::Unbounded);
        let mut out = Vec::new();
        for item in self.logs.range(&rtxn, &range).map_err(self.err())? {
            let (k, v) = item.map_err(self.err())?;
            if out.len() == limit || !k.starts_with(&prefix) || k.len() != prefix.len() + 8 {
                break;
            }
            out.push(LogEntry {
                seq: u64_at(k, prefix.len()),
                time_ms: u64_at(v, 0),
                data: Bytes::copy_from_slice(v.get(8..).unwrap_or_default()),
            });
        }
        Ok(out)
    }

    /// The first seq of log `name` appended at or after `since_ms` (`next` if none; 1 if the
    /// log does not exist): a binary search over its records, whose times never go backwards.
    pub(crate) fn log_seek_time(&self, name: &[u8], since_ms: u64) -> Result<u64, Error> {
        let rtxn = self.env.read_txn().map_err(self.err())?;
        let Some(info) = self
            .meta
            .get(&rtxn, &encoding::log_meta_key(name))
            .map_err(self.err())?
            .map(encoding::log_info)
        else {
            return Ok(1);
        };
        let (mut lo, mut hi) = (info.first, info.next.max(info.first));
        let mut key = encoding::log_key(name, 0);
        let at = key.len() - 8;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            key[at..].copy_from_slice(&mid.to_be_bytes());
            let time = self.logs.get(&rtxn, &key).map_err(self.err())?;
            // A missing record cannot happen (trims remove from the oldest end); treat it as
            // late enough, so the search still ends.
            if time.is_none_or(|r| u64_at(r, 0) >= since_ms) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }

    /// Up to `limit` names of logs starting with `prefix`, after `after`, ascending.
    pub(crate) fn log_names(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Bytes>, Error> {
        let rtxn = self.env.read_txn().map_err(self.err())?;
        let from = encoding::log_meta_key(prefix);
        let after = after.map(encoding::log_meta_key);
        let start = match &after {
            Some(a) if a[..] >= from[..] => Bound::Excluded(&a[..]),
            _ => Bound::Included(&from[..]),
        };
        let range = (start, Bound::<&[u8]>::Unbounded);
        let skip = encoding::log_meta_key(b"").len();
        let mut out = Vec::new();
        for item in self.meta.range(&rtxn, &range).map_err(self.err())? {
            let (k, _) = item.map_err(self.err())?;
            if out.len() == limit || !k.starts_with(&from) {
                break;
            }
            out.push(Bytes::copy_from_slice(&k[skip..]));
        }
        Ok(out)
    }

    pub(crate) fn entries(&self) -> Result<u64, Error> {
        let rtxn = self.env.read_txn().map_err(self.err())?;
        self.kv.len(&rtxn).map_err(self.err())
    }
}
