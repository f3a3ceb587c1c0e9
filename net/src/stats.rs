//! Per-core connection and request statistics, recorded with plain writes on the core's own
//! thread (no locks, no shared atomics). The control core asks each core for a [`Snapshot`]
//! and merges them.

use hdrhistogram::Histogram;
use std::cell::{Cell, RefCell};

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The client closed it.
    ClientClosed,
    /// A response said `Connection: close` (the client asked, or HTTP/1.0).
    ConnectionClose,
    /// Idle too long between requests.
    KeepAliveTimeout,
    /// The request head or body did not arrive in time (408).
    ReadTimeout,
    /// A write made no progress in time.
    WriteTimeout,
    /// The client broke the protocol or a limit (4xx/5xx and close).
    ProtocolError,
    /// The server was draining.
    Drain,
    /// Still open at the drain deadline.
    ForceClosed,
    /// A socket error (reset, broken pipe...).
    IoError,
    /// Refused: over the per-core connection limit or the edge's connection limits, or shed
    /// (accepted and closed at once); or a stream handshake the edge refused (GOAWAY).
    Rejected,
    /// Switched to the stream protocol (HTTP `Upgrade`); its end is counted as a stream
    /// connection's, not here.
    Upgraded,
    /// The TLS handshake failed, timed out or was abandoned (`ringwire_tls_handshakes_total`
    /// says which).
    TlsHandshake,
}

impl CloseReason {
    /// Every reason, in a fixed order (the index of [`Snapshot::closed`]).
    pub const ALL: [CloseReason; 12] = [
        CloseReason::ClientClosed,
        CloseReason::ConnectionClose,
        CloseReason::KeepAliveTimeout,
        CloseReason::ReadTimeout,
        CloseReason::WriteTimeout,
        CloseReason::ProtocolError,
        CloseReason::Drain,
        CloseReason::ForceClosed,
        CloseReason::IoError,
        CloseReason::Rejected,
        CloseReason::Upgraded,
        CloseReason::TlsHandshake,
    ];

    /// A stable label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::ConnectionClose => "connection_close",
            CloseReason::KeepAliveTimeout => "keepalive_timeout",
            CloseReason::ReadTimeout => "read_timeout",
            CloseReason::WriteTimeout => "write_timeout",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::Drain => "drain",
            CloseReason::ForceClosed => "force_closed",
            CloseReason::IoError => "io_error",
            CloseReason::Rejected => "rejected",
            CloseReason::Upgraded => "upgraded",
            CloseReason::TlsHandshake => "tls_handshake",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Stream services counted separately (`other` is an unknown service, refused).
/// Index 3 counts the services plugged in from above (`StreamServer::with_services`); today
/// that is only `kv`.
pub const STREAM_SERVICES: [&str; 4] = ["echo", "pubsub", "other", "kv"];

/// Stream-protocol counters of one core.
#[derive(Default)]
struct StreamCounters {
    connections: Cell<u64>,
    opened: [Cell<u64>; 4],
    open: Cell<u64>,
    messages_in: Cell<u64>,
    resets: Cell<u64>,
    goaways: Cell<u64>,
    errors: RefCell<Vec<(u32, u64)>>,
}

/// A copy of the stream-protocol counters (merged like the rest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSnapshot {
    /// Stream-protocol connections (own port or upgraded).
    pub connections: u64,
    /// Streams opened, by [`STREAM_SERVICES`] index.
    pub opened: Vec<u64>,
    /// Streams open now: being served, from their opening to their removal however it
    /// happened (end, reset, the connection closed or dropped, drain). A gauge.
    pub open: u64,
    /// DATA frames received.
    pub messages_in: u64,
    /// Streams reset (by the peer, or by the codec after a stream error).
    pub resets: u64,
    /// GOAWAY frames sent for a drain.
    pub goaways: u64,
    /// Connections closed for a protocol error, by error code.
    pub errors: Vec<(u32, u64)>,
    /// Pub/sub counters of the core's hub.
    pub pubsub: crate::stream::HubStats,
}

/// Request method classes counted separately.
pub const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OTHER"];

/// Index of `method` in [`METHODS`].
pub fn method_class(method: &str) -> usize {
    METHODS[..5].iter().position(|m| *m == method).unwrap_or(5)
}

/// Status classes 1xx..5xx, index `status / 100 - 1`.
fn status_class(status: u16) -> usize {
    (status as usize / 100).clamp(1, 5) - 1
}

/// Histogram range: 1 µs to 60 s, 2 significant digits (1 % precision): 17 KiB per core,
/// cheap to copy into a snapshot on every heartbeat (3 digits would be 139 KiB).
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 2).expect("static histogram bounds")
}

/// One core's counters.
pub struct Stats {
    accepted: Cell<u64>,
    closed: [Cell<u64>; CloseReason::ALL.len()],
    requests: [[Cell<u64>; 5]; METHODS.len()],
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    errors: RefCell<Vec<(u16, u64)>>,
    latency_us: RefCell<Histogram<u64>>,
    stream: StreamCounters,
    tls: crate::tls::TlsCounters,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            accepted: Cell::new(0),
            closed: Default::default(),
            requests: Default::default(),
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
            errors: RefCell::new(Vec::new()),
            latency_us: RefCell::new(new_histogram()),
            stream: StreamCounters::default(),
            tls: Default::default(),
        }
    }
}

fn add(c: &Cell<u64>, n: u64) {
    c.set(c.get().wrapping_add(n));
}

impl Stats {
    pub(crate) fn accepted(&self) {
        add(&self.accepted, 1);
    }

    pub(crate) fn closed(&self, reason: CloseReason) {
        add(&self.closed[reason.index()], 1);
    }

    /// Counts one finished request and its duration.
    pub(crate) fn request(&self, method: usize, status: u16, micros: u64) {
        add(&self.requests[method][status_class(status)], 1);
        let _ = self.latency_us.borrow_mut().record(micros.max(1));
    }

    /// Counts a request by method name (for services and tools that account on their own).
    pub fn record_request(&self, method: &str, status: u16, micros: u64) {
        self.request(method_class(method), status, micros);
    }

    pub(crate) fn bytes_in(&self, n: usize) {
        add(&self.bytes_in, n as u64);
    }

    pub(crate) fn bytes_out(&self, n: usize) {
        add(&self.bytes_out, n as u64);
    }

    /// A request rejected by the protocol layer with `status` (400, 408, 413, ...).
    pub(crate) fn protocol_error(&self, status: u16) {
        let mut errors = self.errors.borrow_mut();
        match errors.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => errors.push((status, 1)),
        }
    }

    pub(crate) fn stream_connection(&self) {
        add(&self.stream.connections, 1);
    }

    pub(crate) fn stream_opened(&self, service: usize) {
        add(&self.stream.opened[service.min(3)], 1);
    }

    /// A stream starts being served: counted open until the guard is dropped, so every way
    /// the stream goes (removed, or dropped with its connection) takes it off the gauge.
    pub(crate) fn open_stream(&self) -> OpenStream<'_> {
        add(&self.stream.open, 1);
        OpenStream(self)
    }

    pub(crate) fn stream_message_in(&self) {
        add(&self.stream.messages_in, 1);
    }

    pub(crate) fn stream_reset(&self) {
        add(&self.stream.resets, 1);
    }

    pub(crate) fn stream_goaway(&self) {
        add(&self.stream.goaways, 1);
    }

    pub(crate) fn stream_error(&self, code: u32) {
        let mut errors = self.stream.errors.borrow_mut();
        match errors.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => errors.push((code, 1)),
        }
    }

    /// A copy of everything, with `active` connections filled in by the caller.
    pub fn snapshot(&self, active: u64) -> Snapshot {
        Snapshot {
            accepted: self.accepted.get(),
            active,
            closed: self.closed.iter().map(Cell::get).collect(),
            requests: self
                .requests
                .iter()
                .map(|row| row.iter().map(Cell::get).collect())
                .collect(),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            protocol_errors: self.errors.borrow().clone(),
            latency_us: self.latency_us.borrow().clone(),
            stream: StreamSnapshot {
                connections: self.stream.connections.get(),
                opened: self.stream.opened.iter().map(Cell::get).collect(),
                open: self.stream.open.get(),
                messages_in: self.stream.messages_in.get(),
                resets: self.stream.resets.get(),
                goaways: self.stream.goaways.get(),
                errors: self.stream.errors.borrow().clone(),
                pubsub: Default::default(),
            },
            tls: self.tls.snapshot(),
        }
    }

    /// The TLS counters.
    pub(crate) fn tls(&self) -> &crate::tls::TlsCounters {
        &self.tls
    }
}

/// One stream in its core's open-streams gauge ([`Stats::open_stream`]); dropping it takes
/// the stream off.
pub(crate) struct OpenStream<'a>(&'a Stats);

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        let open = &self.0.stream.open;
        debug_assert!(open.get() > 0, "an open stream was counted");
        open.set(open.get().saturating_sub(1));
    }
}

/// A `Send` copy of one core's counters (or, after [`Snapshot::merge`], of several).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections open now.
    pub active: u64,
    /// Connections closed, by [`CloseReason::ALL`] index.
    pub closed: Vec<u64>,
    /// Requests answered, by [`METHODS`] index, then status class (1xx..5xx).
    pub requests: Vec<Vec<u64>>,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Requests refused by the protocol layer, by status code.
    pub protocol_errors: Vec<(u16, u64)>,
    /// Request durations in microseconds, head parsed to response written.
    pub latency_us: Histogram<u64>,
    /// The stream protocol's counters.
    pub stream: StreamSnapshot,
    /// TLS handshakes and mode.
    pub tls: crate::tls::TlsSnapshot,
}

impl Default for Snapshot {
    fn default() -> Self {
        Stats::default().snapshot(0)
    }
}

impl Snapshot {
    /// Adds `other` into `self`: counters add, histograms merge.
    pub fn merge(&mut self, other: &Snapshot) {
        self.accepted += other.accepted;
        self.active += other.active;
        for (a, b) in self.closed.iter_mut().zip(&other.closed) {
            *a += b;
        }
        for (ra, rb) in self.requests.iter_mut().zip(&other.requests) {
            for (a, b) in ra.iter_mut().zip(rb) {
                *a += b;
            }
        }
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        for &(status, n) in &other.protocol_errors {
            match self.protocol_errors.iter_mut().find(|(s, _)| *s == status) {
                Some((_, m)) => *m += n,
                None => self.protocol_errors.push((status, n)),
            }
        }
        let _ = self.latency_us.add(&other.latency_us);
        self.tls.merge(&other.tls);
        let (s, o) = (&mut self.stream, &other.stream);
        s.connections += o.connections;
        for (a, b) in s.opened.iter_mut().zip(&o.opened) {
            *a += b;
        }
        s.open += o.open;
        s.messages_in += o.messages_in;
        s.resets += o.resets;
        s.goaways += o.goaways;
        for &(code, n) in &o.errors {
            match s.errors.iter_mut().find(|(c, _)| *c == code) {
                Some((_, m)) => *m += n,
                None => s.errors.push((code, n)),
            }
        }
        let (p, q) = (&mut s.pubsub, &o.pubsub);
        p.published += q.published;
        p.delivered += q.delivered;
        p.slow_consumers += q.slow_consumers;
        p.subscriptions += q.subscriptions;
        p.forwarded += q.forwarded;
        p.received += q.received;
        p.held += q.held;
        p.inbox_messages += q.inbox_messages;
        p.inbox_bytes += q.inbox_bytes;
    }

    /// Total requests answered.
    pub fn total_requests(&self) -> u64 {
        self.requests.iter().flatten().sum()
    }

    /// Connections closed for `reason`.
    pub fn closed_for(&self, reason: CloseReason) -> u64 {
        self.closed[reason.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_and_status_class_and_merges() {
        let a = Stats::default();
        a.request(method_class("GET"), 200, 10);
        a.request(method_class("GET"), 404, 10);
        a.request(method_class("PATCH"), 503, 1000);
        a.protocol_error(400);
        a.closed(CloseReason::Drain);
        let b = Stats::default();
        b.request(method_class("POST"), 201, 5);
        b.protocol_error(400);
        b.protocol_error(431);
        let mut s = a.snapshot(2);
        s.merge(&b.snapshot(1));
        assert_eq!(s.total_requests(), 4);
        assert_eq!(s.requests[0][1], 1, "GET 2xx");
        assert_eq!(s.requests[0][3], 1, "GET 4xx");
        assert_eq!(s.requests[5][4], 1, "OTHER 5xx");
        assert_eq!(s.requests[2][1], 1, "POST 2xx");
        assert_eq!(s.active, 3);
        assert_eq!(s.latency_us.len(), 4);
        assert_eq!(s.closed_for(CloseReason::Drain), 1);
        let mut errs = s.protocol_errors.clone();
        errs.sort();
        assert_eq!(errs, vec![(400, 2), (431, 1)]);
    }

    #[test]
    fn open_streams_gauge_counts_live_guards_and_merges() {
        let a = Stats::default();
        let b = Stats::default();
        let mut streams = vec![a.open_stream(), a.open_stream(), a.open_stream()];
        let other = b.open_stream();
        assert_eq!(a.snapshot(0).stream.open, 3);
        streams.swap_remove(0);
        let mut s = a.snapshot(0);
        s.merge(&b.snapshot(0));
        assert_eq!(s.stream.open, 3, "2 on a, 1 on b");
        drop((streams, other));
        assert_eq!(a.snapshot(0).stream.open + b.snapshot(0).stream.open, 0);
    }
}
