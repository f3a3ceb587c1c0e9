//! Finished spans of sampled requests, handed to an exporter thread (the `otlp` feature of the
//! binary). A worker only tries to put a record in a bounded queue: when the exporter falls
//! behind, the record is dropped and counted, and the request never waits.

use super::TraceContext;
use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering},
    mpsc::{Receiver, SyncSender, sync_channel},
};
use std::time::{SystemTime, UNIX_EPOCH};

/// One finished server span: a sampled request that this server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRecord {
    /// The trace id.
    pub trace_id: [u8; 16],
    /// This server's span id.
    pub span_id: [u8; 8],
    /// The caller's span id, if the trace was received.
    pub parent_id: Option<[u8; 8]>,
    /// The trace flags.
    pub flags: u8,
    /// When the request's head was parsed, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// When its response was queued, in nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// The request method.
    pub method: String,
    /// The request path (no query).
    pub path: String,
    /// The response status (0: none was sent).
    pub status: u16,
    /// The worker core that answered.
    pub core: usize,
}

struct Export {
    tx: SyncSender<SpanRecord>,
    dropped: AtomicU64,
}

static EXPORT: OnceLock<Export> = OnceLock::new();

/// Starts span export for this process: records of sampled requests go into a queue of
/// `capacity` that the caller drains from the returned receiver (on a thread of its own, never
/// a worker). `None` if export was already started.
pub fn start_export(capacity: usize) -> Option<Receiver<SpanRecord>> {
    let (tx, rx) = sync_channel(capacity);
    let mut fresh = false;
    EXPORT.get_or_init(|| {
        fresh = true;
        Export {
            tx,
            dropped: AtomicU64::new(0),
        }
    });
    fresh.then_some(rx)
}

/// Span records dropped so far because the export queue was full (or its reader gone).
pub fn dropped_spans() -> u64 {
    EXPORT
        .get()
        .map_or(0, |e| e.dropped.load(Ordering::Relaxed))
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl TraceContext {
    /// The start time of this request's span if it will be exported: sampled, with export
    /// started. One atomic load otherwise.
    pub(crate) fn export_start(&self) -> Option<u64> {
        (self.sampled() && EXPORT.get().is_some()).then(unix_nanos)
    }

    /// Queues the finished span (see [`TraceContext::export_start`]); drops it, counted, when
    /// the queue is full.
    pub(crate) fn export(&self, start: u64, req: &crate::Request<'_>, status: u16) {
        let Some(export) = EXPORT.get() else { return };
        let record = SpanRecord {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_id: self.parent_id,
            flags: self.flags,
            start_unix_nanos: start,
            end_unix_nanos: unix_nanos().max(start),
            method: req.method().as_str().to_string(),
            path: req.path().to_string(),
            status,
            core: req.core(),
        };
        if export.tx.try_send(record).is_err() {
            export.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
