//! Counters and histograms of the store, read by the control core as a [`DbSnapshot`].
//!
//! Operation counters are atomics bumped by whichever thread did the operation (a worker for
//! reads, the writer for writes). The histograms belong to the writer thread; the control core
//! takes a copy under their mutex when it renders metrics, which the writer meets at most once
//! per batch, never on a worker.

use crate::Error;
use hdrhistogram::Histogram;
use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed},
    },
    time::Duration,
};

/// Kinds of operation, as the metrics label them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// A read of one key.
    Get,
    /// A write of one key.
    Put,
    /// A removal of one key.
    Delete,
    /// A prefix scan.
    Scan,
    /// An append to a log.
    Append,
    /// A read of a log range.
    LogRead,
    /// A trim of a log.
    Trim,
}

impl OpKind {
    /// Every kind, in label order.
    pub const ALL: [OpKind; 7] = [
        OpKind::Get,
        OpKind::Put,
        OpKind::Delete,
        OpKind::Scan,
        OpKind::Append,
        OpKind::LogRead,
        OpKind::Trim,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::Delete => "delete",
            OpKind::Scan => "scan",
            OpKind::Append => "append",
            OpKind::LogRead => "log_read",
            OpKind::Trim => "trim",
        }
    }
}

/// Result labels: `ok`, `miss` (absent key), `conflict` (version mismatch), `full` (map
/// full), `invalid` (a limit), `error` (anything else).
pub const RESULTS: [&str; 6] = ["ok", "miss", "conflict", "full", "invalid", "error"];

pub(crate) fn result_name(e: &Error) -> &'static str {
    match e {
        Error::VersionMismatch { .. } => "conflict",
        Error::MapFull { .. } => "full",
        Error::BadKey { .. } | Error::ValueTooLarge { .. } | Error::BadLogName => "invalid",
        _ => "error",
    }
}

pub(crate) struct Stats {
    ops: [[AtomicU64; RESULTS.len()]; OpKind::ALL.len()],
    hist: Mutex<Hists>,
    pending: AtomicUsize,
    pub(crate) writer_alive: AtomicBool,
    map_full: AtomicBool,
}

struct Hists {
    batch: Histogram<u64>,
    commit_us: Histogram<u64>,
    fsync_us: Histogram<u64>,
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 2).expect("static histogram bounds")
}

impl Stats {
    pub(crate) fn new() -> Stats {
        Stats {
            ops: Default::default(),
            hist: Mutex::new(Hists {
                batch: hist(),
                commit_us: hist(),
                fsync_us: hist(),
            }),
            pending: AtomicUsize::new(0),
            writer_alive: AtomicBool::new(true),
            map_full: AtomicBool::new(false),
        }
    }

    pub(crate) fn count(&self, kind: OpKind, result: &str) {
        let k = OpKind::ALL.iter().position(|x| *x == kind).unwrap_or(0);
        let r = RESULTS
            .iter()
            .position(|x| *x == result)
            .unwrap_or(RESULTS.len() - 1);
        self.ops[k][r].fetch_add(1, Relaxed);
    }

    pub(crate) fn record_commit(&self, batch: usize, latency: Duration) {
        let mut h = self.hist.lock().unwrap_or_else(|p| p.into_inner());
        h.batch.saturating_record(batch as u64);
        h.commit_us.saturating_record(latency.as_micros() as u64);
    }

    pub(crate) fn record_fsync(&self, latency: Duration) {
        let mut h = self.hist.lock().unwrap_or_else(|p| p.into_inner());
        h.fsync_us.saturating_record(latency.as_micros() as u64);
    }

    /// Reserves a place in the writer's queue; `false` when `max` are already waiting.
    pub(crate) fn pending_add(&self, max: usize) -> bool {
        self.pending
            .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1))
            .is_ok()
    }

    pub(crate) fn pending_sub(&self, n: usize) {
        self.pending
            .fetch_sub(n.min(self.pending.load(Relaxed)), Relaxed);
    }

    pub(crate) fn set_map_full(&self, full: bool) {
        self.map_full.store(full, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> DbSnapshot {
        let h = self.hist.lock().unwrap_or_else(|p| p.into_inner());
        DbSnapshot {
            ops: OpKind::ALL
                .iter()
                .enumerate()
                .flat_map(|(k, kind)| {
                    RESULTS
                        .iter()
                        .enumerate()
                        .map(move |(r, res)| (*kind, *res, k, r))
                })
                .map(|(kind, res, k, r)| (kind, res, self.ops[k][r].load(Relaxed)))
                .filter(|(_, _, n)| *n > 0)
                .collect(),
            batch: h.batch.clone(),
            commit_us: h.commit_us.clone(),
            fsync_us: h.fsync_us.clone(),
            pending: self.pending.load(Relaxed),
            writer_alive: self.writer_alive.load(Relaxed),
            map_full: self.map_full.load(Relaxed),
            map_size: 0,
            map_used: 0,
            readers: 0,
            max_readers: 0,
            entries: 0,
        }
    }
}

/// The store's numbers at one moment.
#[derive(Debug, Clone)]
pub struct DbSnapshot {
    /// Operations by kind and result (only non-zero ones).
    pub ops: Vec<(OpKind, &'static str, u64)>,
    /// Requests per commit.
    pub batch: Histogram<u64>,
    /// Commit latency, microseconds (with `db.sync = always` it includes the fsyncs).
    pub commit_us: Histogram<u64>,
    /// fsync latency, microseconds (`always`: the commit's; `batch`: each periodic sync).
    pub fsync_us: Histogram<u64>,
    /// Write requests waiting for the writer.
    pub pending: usize,
    /// Whether the writer thread runs.
    pub writer_alive: bool,
    /// Whether the last write failed for lack of space.
    pub map_full: bool,
    /// The memory map's size, bytes.
    pub map_size: u64,
    /// Bytes of the map in use (pages up to the last one used).
    pub map_used: u64,
    /// Reader slots in use.
    pub readers: u64,
    /// Reader slots available.
    pub max_readers: u64,
    /// Keys stored.
    pub entries: u64,
}
