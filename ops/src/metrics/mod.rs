//! `/metrics`: per-core snapshots gathered by message, merged, rendered as Prometheus text.
//! Counters add across cores; latency histograms merge exactly (hdrhistogram) and are then
//! cut into fixed cumulative `le` buckets.

mod histogram;
pub mod process;
pub mod text;
mod tls;

pub use histogram::{Collector, histogram};

use ringwire_net::{CloseReason, METHODS, Snapshot};
use ringwire_reactor::LoopStats;
use text::{Exposition, Kind};

/// What one worker core reports (on a heartbeat, or when /metrics asks).
#[derive(Debug, Clone)]
pub struct WorkerReport {
    /// Worker index.
    pub core: usize,
    /// Connection and request counters.
    pub net: Snapshot,
    /// Event-loop counters.
    pub loop_stats: LoopStats,
}

/// Upper bounds (seconds) of the request duration buckets, `+Inf` added on output.
pub const BUCKETS: [f64; 17] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

const STATUS: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Renders the exposition for `reports` (one per worker that answered); `heartbeat_age` is the
/// age in seconds of each worker's last heartbeat (`None`: never); `pinned` says, by worker,
/// whether it runs pinned to its CPU.
pub fn render(
    reports: &[WorkerReport],
    heartbeat_age: &[Option<f64>],
    pinned: &[bool],
    draining: bool,
) -> String {
    let mut total = Snapshot::default();
    for r in reports {
        total.merge(&r.net);
    }
    let mut e = Exposition::default();
    e.single(
        "ringwire_build_info",
        Kind::Gauge,
        "Build information (constant 1).",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    e.family(
        "ringwire_backend_info",
        Kind::Gauge,
        "The I/O backend each worker core runs on (constant 1).",
    );
    for r in reports {
        let core = r.core.to_string();
        e.sample(
            "ringwire_backend_info",
            &[("core", &core), ("backend", r.loop_stats.backend.name())],
            1.0,
        );
    }
    e.family(
        "ringwire_worker_pinned",
        Kind::Gauge,
        "1 if the worker core runs pinned to its CPU, 0 if it runs unpinned (pinning denied).",
    );
    for (core, p) in pinned.iter().enumerate() {
        let v = if *p { 1.0 } else { 0.0 };
        e.sample("ringwire_worker_pinned", &[("core", &core.to_string())], v);
    }
    e.single(
        "ringwire_draining",
        Kind::Gauge,
        "1 while the server drains for shutdown.",
        &[],
        if draining { 1.0 } else { 0.0 },
    );

    e.family(
        "ringwire_http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by protocol, method and status class.",
    );
    for (m, row) in total.requests.iter().enumerate() {
        for (c, n) in row.iter().enumerate() {
            if *n > 0 {
                let labels = [
                    ("protocol", "http1"),
                    ("method", METHODS[m]),
                    ("status", STATUS[c]),
                ];
                e.sample("ringwire_http_requests_total", &labels, *n as f64);
            }
        }
    }
    render_latency(&mut e, &total);

    e.single(
        "ringwire_connections_active",
        Kind::Gauge,
        "Open client connections.",
        &[],
        total.active as f64,
    );
    e.single(
        "ringwire_connections_accepted_total",
        Kind::Counter,
        "Client connections accepted.",
        &[],
        total.accepted as f64,
    );
    e.family(
        "ringwire_connections_closed_total",
        Kind::Counter,
        "Client connections closed, by reason.",
    );
    for (i, reason) in CloseReason::ALL.iter().enumerate() {
        e.sample(
            "ringwire_connections_closed_total",
            &[("reason", reason.label())],
            total.closed[i] as f64,
        );
    }
    e.single(
        "ringwire_received_bytes_total",
        Kind::Counter,
        "Bytes received from clients.",
        &[],
        total.bytes_in as f64,
    );
    e.single(
        "ringwire_sent_bytes_total",
        Kind::Counter,
        "Bytes sent to clients.",
        &[],
        total.bytes_out as f64,
    );
    e.family(
        "ringwire_http_errors_total",
        Kind::Counter,
        "Requests refused by the protocol layer, by the status sent.",
    );
    let mut errors = total.protocol_errors.clone();
    errors.sort();
    for (status, n) in errors {
        e.sample(
            "ringwire_http_errors_total",
            &[("status", &status.to_string())],
            n as f64,
        );
    }
    render_stream(&mut e, &total.stream);
    tls::render_tls(&mut e, &total.tls);
    render_stream_gauges(&mut e, reports);
    render_loops(&mut e, reports, heartbeat_age);
    render_process(&mut e);
    e.finish()
}

fn render_latency(e: &mut Exposition, total: &Snapshot) {
    histogram(
        e,
        "ringwire_http_request_duration_seconds",
        "Time from a request's head being parsed to its response being written.",
        &total.latency_us,
        &BUCKETS,
        1e6,
    );
}

fn render_stream(e: &mut Exposition, s: &ringwire_net::StreamSnapshot) {
    e.single(
        "ringwire_stream_connections_total",
        Kind::Counter,
        "Stream-protocol connections (own port or HTTP Upgrade).",
        &[],
        s.connections as f64,
    );
    e.family(
        "ringwire_stream_streams_opened_total",
        Kind::Counter,
        "Streams opened, by service (other: unknown service, refused).",
    );
    for (i, service) in ringwire_net::STREAM_SERVICES.iter().enumerate() {
        e.sample(
            "ringwire_stream_streams_opened_total",
            &[("service", service)],
            s.opened.get(i).copied().unwrap_or(0) as f64,
        );
    }
    e.single(
        "ringwire_stream_messages_received_total",
        Kind::Counter,
        "DATA frames received.",
        &[],
        s.messages_in as f64,
    );
    e.single(
        "ringwire_stream_resets_total",
        Kind::Counter,
        "Streams reset by the peer or after a stream error.",
        &[],
        s.resets as f64,
    );
    e.single(
        "ringwire_stream_goaways_total",
        Kind::Counter,
        "GOAWAY frames sent for a drain.",
        &[],
        s.goaways as f64,
    );
    e.family(
        "ringwire_stream_protocol_errors_total",
        Kind::Counter,
        "Stream connections closed for a protocol error, by error code.",
    );
    let mut errors = s.errors.clone();
    errors.sort();
    for (code, n) in errors {
        let name = ringwire_protocol::stream::ErrorCode(code)
            .name()
            .unwrap_or("UNKNOWN");
        e.sample(
            "ringwire_stream_protocol_errors_total",
            &[("code", name)],
            n as f64,
        );
    }
    let p = &s.pubsub;
    e.single(
        "ringwire_stream_pubsub_published_total",
        Kind::Counter,
        "Messages published.",
        &[],
        p.published as f64,
    );
    e.single(
        "ringwire_stream_pubsub_delivered_total",
        Kind::Counter,
        "Messages queued for a subscriber.",
        &[],
        p.delivered as f64,
    );
    e.single(
        "ringwire_stream_pubsub_slow_consumers_total",
        Kind::Counter,
        "Subscriptions reset with SLOW_CONSUMER for falling behind.",
        &[],
        p.slow_consumers as f64,
    );
    e.single(
        "ringwire_stream_pubsub_forwarded_total",
        Kind::Counter,
        "Messages sent to another core's pub/sub queue (only cores with subscribers).",
        &[],
        p.forwarded as f64,
    );
    e.single(
        "ringwire_stream_pubsub_held_total",
        Kind::Counter,
        "Publishes held (publisher's window not returned) because a core's queue was full.",
        &[],
        p.held as f64,
    );
}

/// The per-core stream gauges: open streams, subscriptions, the bounded cross-core queue.
fn render_stream_gauges(e: &mut Exposition, reports: &[WorkerReport]) {
    type Gauge = fn(&ringwire_net::StreamSnapshot) -> u64;
    let gauges: [(&str, &str, Gauge); 4] = [
        (
            "ringwire_stream_streams_open",
            "Streams open now (being served), per core.",
            |s| s.open,
        ),
        (
            "ringwire_stream_pubsub_subscriptions",
            "Pub/sub subscriptions open now, per core.",
            |s| s.pubsub.subscriptions,
        ),
        (
            "ringwire_stream_pubsub_inbox_messages",
            "Messages from other cores waiting in this core's bounded pub/sub queue.",
            |s| s.pubsub.inbox_messages,
        ),
        (
            "ringwire_stream_pubsub_inbox_bytes",
            "Payload bytes from other cores waiting in this core's bounded pub/sub queue.",
            |s| s.pubsub.inbox_bytes,
        ),
    ];
    for (name, help, get) in gauges {
        e.family(name, Kind::Gauge, help);
        for r in reports {
            e.sample(
                name,
                &[("core", &r.core.to_string())],
                get(&r.net.stream) as f64,
            );
        }
    }
}

fn render_loops(e: &mut Exposition, reports: &[WorkerReport], heartbeat_age: &[Option<f64>]) {
    type Get = fn(&LoopStats) -> f64;
    let series: [(&str, Kind, &str, Get); 8] = [
        (
            "ringwire_loop_iterations_total",
            Kind::Counter,
            "Event-loop turns, per worker core.",
            |l| l.iterations as f64,
        ),
        (
            "ringwire_loop_parked_seconds_total",
            Kind::Counter,
            "Seconds the event loop spent parked in the kernel waiting for events, per core.",
            |l| l.parked_seconds,
        ),
        (
            "ringwire_loop_busy_ratio",
            Kind::Gauge,
            "Share of time the event loop was not parked in the kernel, since start.",
            |l| l.busy_ratio(),
        ),
        (
            "ringwire_loop_syscalls_total",
            Kind::Counter,
            "Driver system calls (io_uring_enter or epoll_wait), per core.",
            |l| l.syscalls as f64,
        ),
        (
            "ringwire_uring_submissions_total",
            Kind::Counter,
            "SQEs submitted to io_uring, per core (0 on epoll).",
            |l| l.submitted as f64,
        ),
        (
            "ringwire_uring_submissions_per_syscall",
            Kind::Gauge,
            "SQEs per io_uring_enter since start, per core (0 on epoll).",
            |l| l.submissions_per_syscall(),
        ),
        (
            "ringwire_task_panics_total",
            Kind::Counter,
            "Task panics caught, per core.",
            |l| l.task_panics as f64,
        ),
        (
            "ringwire_recv_buffers_in_use",
            Kind::Gauge,
            "Receive buffers holding unprocessed bytes, per core.",
            |l| l.recv_buffers_in_use as f64,
        ),
    ];
    for (name, kind, help, get) in series {
        e.family(name, kind, help);
        for r in reports {
            e.sample(name, &[("core", &r.core.to_string())], get(&r.loop_stats));
        }
    }
    e.family(
        "ringwire_worker_heartbeat_age_seconds",
        Kind::Gauge,
        "Seconds since each worker core last answered the control core.",
    );
    for (core, age) in heartbeat_age.iter().enumerate() {
        e.sample(
            "ringwire_worker_heartbeat_age_seconds",
            &[("core", &core.to_string())],
            age.unwrap_or(f64::INFINITY),
        );
    }
}

fn render_process(e: &mut Exposition) {
    let p = process::read();
    e.single(
        "process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory size in bytes.",
        &[],
        p.resident_bytes,
    );
    e.single(
        "process_open_fds",
        Kind::Gauge,
        "Number of open file descriptors.",
        &[],
        p.open_fds,
    );
    e.single(
        "process_max_fds",
        Kind::Gauge,
        "Maximum number of open file descriptors.",
        &[],
        p.max_fds,
    );
    e.single(
        "process_cpu_seconds_total",
        Kind::Counter,
        "Total user and system CPU time spent in seconds.",
        &[],
        p.cpu_seconds,
    );
    e.single(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since unix epoch in seconds.",
        &[],
        p.start_time_seconds,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(core: usize, latencies: &[u64]) -> WorkerReport {
        let stats = ringwire_net::Stats::default();
        for &us in latencies {
            stats.record_request("GET", 200, us);
        }
        WorkerReport {
            core,
            net: stats.snapshot(1),
            loop_stats: LoopStats {
                backend: ringwire_reactor::BackendKind::Poll,
                iterations: 10,
                tasks_polled: 5,
                parked_seconds: 1.0,
                uptime_seconds: 2.0,
                syscalls: 10,
                submitted: 0,
                completions: 3,
                task_panics: 0,
                recv_buffers_in_use: 0,
            },
        }
    }

    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
    }

    #[test]
    fn counters_add_and_histogram_buckets_are_cumulative() {
        let text = render(
            &[report(0, &[40, 900, 3_000_000]), report(1, &[80])],
            &[Some(0.1), Some(0.2)],
            &[true, false],
            false,
        );
        assert_eq!(value(&text, "ringwire_worker_pinned{core=\"0\"}"), 1.0);
        assert_eq!(value(&text, "ringwire_worker_pinned{core=\"1\"}"), 0.0);
        assert_eq!(
            value(
                &text,
                "ringwire_http_requests_total{protocol=\"http1\",method=\"GET\",status=\"2xx\"}"
            ),
            4.0
        );
        assert_eq!(value(&text, "ringwire_connections_active"), 2.0);
        let b = "ringwire_http_request_duration_seconds_bucket";
        assert_eq!(value(&text, &format!("{b}{{le=\"0.00005\"}}")), 1.0);
        assert_eq!(value(&text, &format!("{b}{{le=\"0.0001\"}}")), 2.0);
        assert_eq!(value(&text, &format!("{b}{{le=\"0.001\"}}")), 3.0);
        assert_eq!(value(&text, &format!("{b}{{le=\"2.5\"}}")), 3.0);
        assert_eq!(value(&text, &format!("{b}{{le=\"5\"}}")), 4.0);
        assert_eq!(
            value(&text, &format!("{b}{{le=\"+Inf\"}}")),
            value(&text, "ringwire_http_request_duration_seconds_count")
        );
        let mut last = 0.0;
        for l in text.lines().filter(|l| l.starts_with(b)) {
            let v: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(v >= last, "buckets must not decrease: {l}");
            last = v;
        }
    }
}
