//! The store handle: reads on the caller's thread, writes to the writer thread.

use crate::{
    Config, Error, Op, Outcome, Sync,
    env::{self, Tables},
    log::{LogEntry, LogInfo},
    read::{Entry, Scan},
    reply::{self, Pending},
    stats::{DbSnapshot, OpKind, Stats},
    writer::{Request, Writer},
};
use bytes::Bytes;
use std::{
    path::Path,
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::Duration,
};

/// An open store. Cheap to clone; every clone is the same store. `Send + Sync`: each worker
/// core keeps a clone and reads through it on its own thread.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    tables: Tables,
    tx: crossbeam_channel::Sender<Msg>,
    stats: Arc<Stats>,
    config: Config,
    writer: Mutex<Option<JoinHandle<()>>>,
}

pub(crate) enum Msg {
    Write(Request),
    Stop,
}

/// Marks the writer dead when its thread ends, however it ends.
struct Alive(Arc<Stats>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0
            .writer_alive
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Store {
    /// Opens (or creates) the store in `config.dir` and starts its writer thread.
    pub fn open(config: Config) -> Result<Store, Error> {
        let tables = env::open(&config, false)?;
        let (tx, rx) = crossbeam_channel::unbounded::<Msg>();
        let stats = Arc::new(Stats::new());
        let writer = Writer {
            tables: tables.clone(),
            rx,
            stats: stats.clone(),
            sync: config.sync,
            sync_interval: config.sync_interval,
            max_batch: config.max_batch.max(1),
            map_size: config.map_size,
        };
        let alive = Alive(stats.clone());
        let handle = std::thread::Builder::new()
            .name("ringwire-db-writer".into())
            .spawn(move || {
                let _alive = alive;
                writer.run();
            })
            .map_err(|e| Error::Storage(format!("cannot start the writer thread: {e}")))?;
        Ok(Store {
            inner: Arc::new(Inner {
                tables,
                tx,
                stats,
                config,
                writer: Mutex::new(Some(handle)),
            }),
        })
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Applies `ops` atomically; resolves once durable per `db.sync` (or failed). Limits are
    /// checked here, before anything travels.
    pub fn write(&self, ops: Vec<Op>) -> Pending<Result<Vec<Outcome>, Error>> {
        let inner = &self.inner;
        if let Some(e) = ops
            .iter()
            .find_map(|op| op.validate(inner.config.max_value).err())
        {
            if let Some(op) = ops.first() {
                inner.stats.count(kind(op), crate::stats::result_name(&e));
            }
            return Pending::ready(Err(e));
        }
        if !inner.stats.pending_add(inner.config.max_pending) {
            return Pending::ready(Err(Error::Busy));
        }
        let (reply, pending) = reply::channel(Err(Error::WriterGone));
        if let Err(e) = inner.tx.send(Msg::Write(Request { ops, reply })) {
            inner.stats.pending_sub(1);
            drop(e); // its reply sender answers WriterGone as it drops
        }
        pending
    }

    /// The value of `key` and its version, copied out of the map.
    pub fn get(&self, key: &[u8]) -> Result<Option<Entry>, Error> {
        self.with_value(key, |v| {
            v.map(|(version, value)| Entry {
                version,
                value: Bytes::copy_from_slice(value),
            })
        })
    }

    /// Calls `f` with the version and the bytes of `key` in the map itself (no copy), inside
    /// the read transaction; `None` when absent.
    pub fn with_value<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<(u64, &[u8])>) -> R,
    ) -> Result<R, Error> {
        let stats = &self.inner.stats;
        let r = self.inner.tables.with_value(key, |v| {
            stats.count(OpKind::Get, if v.is_some() { "ok" } else { "miss" });
            f(v)
        });
        if let Err(e) = &r {
            stats.count(OpKind::Get, crate::stats::result_name(e));
        }
        r
    }

    /// Up to `limit` keys that start with `prefix`, after `after` (exclusive), in byte order.
    pub fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Scan, Error> {
        let r = self.inner.tables.scan(prefix, after, limit);
        self.inner.stats.count(
            OpKind::Scan,
            r.as_ref().map_or_else(crate::stats::result_name, |_| "ok"),
        );
        r
    }

    /// The state of log `name` (`None` if it never had a record).
    pub fn log_info(&self, name: &[u8]) -> Result<Option<LogInfo>, Error> {
        self.inner.tables.log_info(name)
    }

    /// Up to `limit` records of log `name` from sequence `from` on.
    pub fn log_read(&self, name: &[u8], from: u64, limit: usize) -> Result<Vec<LogEntry>, Error> {
        let r = self.inner.tables.log_read(name, from, limit);
        self.inner.stats.count(
            OpKind::LogRead,
            r.as_ref().map_or_else(crate::stats::result_name, |_| "ok"),
        );
        r
    }

    /// The first seq of log `name` appended at or after `since_ms` (Unix ms): `next` if no
    /// record is that recent, 1 if the log does not exist.
    pub fn log_seek_time(&self, name: &[u8], since_ms: u64) -> Result<u64, Error> {
        let r = self.inner.tables.log_seek_time(name, since_ms);
        self.inner.stats.count(
            OpKind::LogRead,
            r.as_ref().map_or_else(crate::stats::result_name, |_| "ok"),
        );
        r
    }

    /// Up to `limit` names of existing logs that start with `prefix`, after `after`
    /// (exclusive), ascending. A log exists from its first append on, even once trimmed empty.
    pub fn log_names(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Bytes>, Error> {
        let r = self.inner.tables.log_names(prefix, after, limit);
        self.inner.stats.count(
            OpKind::Scan,
            r.as_ref().map_or_else(crate::stats::result_name, |_| "ok"),
        );
        r
    }

    /// Whether writes can be served: the writer runs and the map is not full.
    pub fn healthy(&self) -> Result<(), String> {
        let s = &self.inner.stats;
        if !s.writer_alive.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Error::WriterGone.to_string());
        }
        if s.snapshot().map_full {
            return Err(Error::MapFull {
                map_size: self.inner.config.map_size,
            }
            .to_string());
        }
        Ok(())
    }

    /// Counters, histograms and the map's use.
    pub fn snapshot(&self) -> DbSnapshot {
        let mut s = self.inner.stats.snapshot();
        fill_env(&mut s, &self.inner.tables);
        s
    }

    /// Writes a consistent, compacted copy of the store to `out` (a new file), while reads and
    /// writes go on.
    pub fn backup(&self, out: &Path) -> Result<(), Error> {
        copy(&self.inner.tables, out)
    }

    /// Stops the writer after the writes already queued, syncs, and closes the environment
    /// once no other clone holds it. This stops the writer for every clone: their later
    /// writes fail with [`Error::WriterGone`] (reads go on while a clone lives).
    pub fn close(self) {
        let _ = self.inner.tx.send(Msg::Stop);
        let handle = self.inner.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
        let closing = self.inner.tables.env.clone().prepare_for_closing();
        let last = Arc::strong_count(&self.inner) == 1;
        drop(self);
        if last {
            closing.wait_timeout(Duration::from_secs(10));
        }
    }
}

fn kind(op: &Op) -> OpKind {
    match op {
        Op::Put { .. } => OpKind::Put,
        Op::Delete { .. } => OpKind::Delete,
        Op::Append { .. } => OpKind::Append,
        Op::Trim { .. } => OpKind::Trim,
    }
}

fn fill_env(s: &mut DbSnapshot, t: &Tables) {
    let info = t.env.info();
    s.map_size = info.map_size as u64;
    s.map_used = (info.last_page_number as u64 + 1) * page_size::get() as u64;
    s.readers = info.number_of_readers as u64;
    s.max_readers = info.maximum_number_of_readers as u64;
    s.entries = t.entries().unwrap_or_else(|e| {
        tracing::warn!("db: cannot count entries: {e}");
        0
    });
}

fn copy(t: &Tables, out: &Path) -> Result<(), Error> {
    if out.exists() {
        return Err(Error::Storage(format!(
            "{} exists: not overwriting it",
            out.display()
        )));
    }
    t.env
        .copy_to_path(out, heed::CompactionOption::Enabled)
        .map_err(|e| Error::Storage(format!("backup to {}: {e}", out.display())))?;
    Ok(())
}

/// From another process (or with the server stopped): a consistent copy of the store in
/// `dir` to `out`, and the store's numbers. Opens the environment read-only.
pub fn backup(dir: &Path, out: &Path) -> Result<DbSnapshot, Error> {
    let mut config = Config::new(dir);
    config.sync = Sync::None;
    let tables = env::open(&config, true)?;
    copy(&tables, out)?;
    Ok(stats_of(&tables))
}

/// The numbers of the store in `dir`, opened read-only (`ringwire db stats`).
pub(crate) fn stats_of(t: &Tables) -> DbSnapshot {
    let mut s = Stats::new().snapshot();
    fill_env(&mut s, t);
    s
}

impl Store {
    /// The numbers of the store in `dir`, read-only, from any process.
    pub fn stats_at(dir: &Path) -> Result<DbSnapshot, Error> {
        let mut config = Config::new(dir);
        config.sync = Sync::None;
        let tables = env::open(&config, true)?;
        Ok(stats_of(&tables))
    }
}
