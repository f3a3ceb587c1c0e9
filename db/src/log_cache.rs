//! The writer's logs during one batch: each log's state is read from `meta` once per batch,
//! kept here while the batch's appends and trims change it, and written back once before the
//! commit (so a batch of many appends to one log reads and writes its meta value once, not
//! once per append).
//!
//! A request of several operations runs in a nested transaction that may be dropped; its
//! changes here are undone with it ([`LogCache::begin`], [`LogCache::commit`],
//! [`LogCache::abort`]).

use crate::{
    encoding::{self, u64_at},
    env::Tables,
    log::{LogInfo, TRIM_SLICE, Trim, trim_slice},
};
use bytes::Bytes;
use heed::RwTxn;
use std::collections::HashMap;

/// One log's state as the batch has it.
#[derive(Debug, Clone, Copy)]
struct Meta {
    info: LogInfo,
    /// The time of its newest record: appends never go below it, so times in a log never go
    /// backwards even when the wall clock does.
    last_ms: u64,
    /// Changed since it was read: written back before the commit.
    dirty: bool,
}

#[derive(Default)]
pub(crate) struct LogCache {
    logs: HashMap<Bytes, Meta>,
    /// Inside a nested request: each log's state before the request first touched it.
    undo: Option<Vec<(Bytes, Option<Meta>)>>,
    /// An append's key and record, reused.
    key: Vec<u8>,
    record: Vec<u8>,
}

impl LogCache {
    /// A nested request starts: what it changes can be undone.
    pub(crate) fn begin(&mut self) {
        self.undo = Some(Vec::new());
    }

    /// The nested request committed: its changes stay.
    pub(crate) fn commit(&mut self) {
        self.undo = None;
    }

    /// The nested request was dropped: so are its changes.
    pub(crate) fn abort(&mut self) {
        for (name, before) in self.undo.take().unwrap_or_default().into_iter().rev() {
            match before {
                Some(m) => self.logs.insert(name, m),
                None => self.logs.remove(&name),
            };
        }
    }

    /// The state of `name` (read from `meta` on first use in the batch), `None` if the log
    /// does not exist.
    fn load(&mut self, t: &Tables, txn: &RwTxn, name: &Bytes) -> heed::Result<Option<Meta>> {
        if let Some(m) = self.logs.get(name) {
            return Ok(Some(*m));
        }
        let Some(b) = t.meta.get(txn, &encoding::log_meta_key(name))? else {
            return Ok(None);
        };
        let info = encoding::log_info(b);
        let last_ms = match encoding::log_last_ms(b) {
            Some(ms) => ms,
            // Written before the last time was kept: the newest record has it.
            None if info.count > 0 => t
                .logs
                .get(txn, &encoding::log_key(name, info.next - 1))?
                .map_or(0, |r| u64_at(r, 0)),
            None => 0,
        };
        Ok(Some(Meta {
            info,
            last_ms,
            dirty: false,
        }))
    }

    fn store(&mut self, name: &Bytes, m: Meta) {
        let before = self.logs.insert(name.clone(), m);
        if let Some(undo) = &mut self.undo {
            undo.push((name.clone(), before));
        }
    }

    /// Appends `data` to `name` at `now_ms` (or the log's newest time, if later): its seq.
    pub(crate) fn append(
        &mut self,
        t: &Tables,
        txn: &mut RwTxn,
        name: &Bytes,
        data: &[u8],
        now_ms: u64,
    ) -> heed::Result<u64> {
        let mut m = self.load(t, txn, name)?.unwrap_or(Meta {
            info: LogInfo {
                first: 1,
                next: 1,
                count: 0,
                bytes: 0,
            },
            last_ms: 0,
            dirty: true,
        });
        let seq = m.info.next;
        let time_ms = now_ms.max(m.last_ms);
        let (key, record) = (&mut self.key, &mut self.record);
        encoding::log_key_and_record_into(key, record, name, seq, time_ms, data);
        t.logs.put(txn, key, record)?;
        m.info.next += 1;
        m.info.count += 1;
        m.info.bytes += data.len() as u64;
        m.last_ms = time_ms;
        m.dirty = true;
        self.store(name, m);
        Ok(seq)
    }

    /// One slice of a trim of `name` ([`TRIM_SLICE`] records at most): how many went.
    pub(crate) fn trim(
        &mut self,
        t: &Tables,
        txn: &mut RwTxn,
        name: &Bytes,
        trim: &Trim,
        now_ms: u64,
    ) -> heed::Result<u64> {
        let Some(mut m) = self.load(t, txn, name)? else {
            return Ok(0);
        };
        let before = m.info;
        let after = trim_slice(trim, now_ms, TRIM_SLICE, before, |seq| {
            let r = t.logs.get(txn, &encoding::log_key(name, seq))?;
            Ok::<_, heed::Error>(r.map(|r| (r.len().saturating_sub(8) as u64, u64_at(r, 0))))
        })?;
        if after == before {
            return Ok(0);
        }
        let mut key = encoding::log_key(name, before.first);
        let at = key.len() - 8;
        for seq in before.first..after.first {
            key[at..].copy_from_slice(&seq.to_be_bytes());
            t.logs.delete(txn, &key)?;
        }
        m.info = after;
        m.dirty = true;
        self.store(name, m);
        Ok(before.count - after.count)
    }

    /// Writes every changed log's state back, before the batch commits.
    pub(crate) fn flush(&mut self, t: &Tables, txn: &mut RwTxn) -> heed::Result<()> {
        for (name, m) in self.logs.drain() {
            if m.dirty {
                t.meta.put(
                    txn,
                    &encoding::log_meta_key(&name),
                    &encoding::encode_log_meta(&m.info, m.last_ms),
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, env};

    fn tables(dir: &std::path::Path) -> Tables {
        let mut c = Config::new(dir);
        c.map_size = 16 << 20;
        env::open(&c, false).unwrap()
    }

    /// The records' times in `log`, oldest first.
    fn times(t: &Tables, log: &[u8]) -> Vec<u64> {
        t.log_read(log, 0, 100)
            .unwrap()
            .iter()
            .map(|e| e.time_ms)
            .collect()
    }

    /// One batch: `f` on a write transaction and a fresh cache, flushed and committed.
    fn batch(t: &Tables, f: impl FnOnce(&mut LogCache, &mut RwTxn)) {
        let mut txn = t.env.write_txn().unwrap();
        let mut cache = LogCache::default();
        f(&mut cache, &mut txn);
        cache.flush(t, &mut txn).unwrap();
        txn.commit().unwrap();
    }

    #[test]
    fn times_never_go_backwards_when_the_clock_does() {
        let dir = tempfile::tempdir().unwrap();
        let t = tables(dir.path());
        let log = Bytes::from_static(b"L");
        batch(&t, |c, txn| {
            c.append(&t, txn, &log, b"a", 5_000).unwrap();
            c.append(&t, txn, &log, b"b", 4_000).unwrap(); // the clock stepped back
        });
        // A later batch reads the newest time back from the store.
        batch(&t, |c, txn| {
            c.append(&t, txn, &log, b"c", 3_000).unwrap();
        });
        batch(&t, |c, txn| {
            c.append(&t, txn, &log, b"d", 6_000).unwrap();
        });
        assert_eq!(times(&t, b"L"), [5_000, 5_000, 5_000, 6_000]);
        // Even once every record is trimmed away.
        let all = Trim {
            max_count: Some(0),
            ..Trim::default()
        };
        batch(&t, |c, txn| {
            assert_eq!(c.trim(&t, txn, &log, &all, 6_000).unwrap(), 4);
        });
        batch(&t, |c, txn| {
            c.append(&t, txn, &log, b"e", 1_000).unwrap();
        });
        assert_eq!(times(&t, b"L"), [6_000]);
    }

    #[test]
    fn an_older_stores_meta_takes_the_newest_records_time() {
        let dir = tempfile::tempdir().unwrap();
        let t = tables(dir.path());
        let log = Bytes::from_static(b"old");
        let mut txn = t.env.write_txn().unwrap();
        let info = LogInfo {
            first: 1,
            next: 2,
            count: 1,
            bytes: 1,
        };
        let meta = encoding::encode_log_meta(&info, 0);
        let key = encoding::log_meta_key(&log);
        t.meta.put(&mut txn, &key, &meta[..32]).unwrap();
        let record = encoding::log_record(9_000, b"x");
        t.logs
            .put(&mut txn, &encoding::log_key(&log, 1), &record)
            .unwrap();
        txn.commit().unwrap();
        batch(&t, |c, txn| {
            assert_eq!(c.append(&t, txn, &log, b"y", 2_000).unwrap(), 2);
        });
        assert_eq!(times(&t, b"old"), [9_000, 9_000]);
        assert_eq!(t.log_info(b"old").unwrap().unwrap().count, 2);
    }

    #[test]
    fn a_dropped_nested_request_leaves_no_trace_in_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let t = tables(dir.path());
        let (a, b) = (Bytes::from_static(b"a"), Bytes::from_static(b"b"));
        batch(&t, |c, txn| {
            assert_eq!(c.append(&t, txn, &a, b"1", 1).unwrap(), 1);
            let mut nested = t.env.nested_write_txn(txn).unwrap();
            c.begin();
            assert_eq!(c.append(&t, &mut nested, &a, b"22", 2).unwrap(), 2);
            assert_eq!(c.append(&t, &mut nested, &b, b"333", 2).unwrap(), 1);
            nested.abort();
            c.abort();
            // The same seqs again, as if the dropped request never ran.
            assert_eq!(c.append(&t, txn, &a, b"4444", 3).unwrap(), 2);
            let mut nested = t.env.nested_write_txn(txn).unwrap();
            c.begin();
            assert_eq!(c.append(&t, &mut nested, &b, b"5", 3).unwrap(), 1);
            nested.commit().unwrap();
            c.commit();
        });
        let a = t.log_info(b"a").unwrap().unwrap();
        assert_eq!((a.next, a.count, a.bytes), (3, 2, 5));
        let b = t.log_info(b"b").unwrap().unwrap();
        assert_eq!((b.next, b.count, b.bytes), (2, 1, 1));
        assert_eq!(t.log_read(b"a", 0, 10).unwrap()[1].data, "4444");
    }
}
