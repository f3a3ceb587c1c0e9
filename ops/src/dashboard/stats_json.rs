//! `/stats.json`: the per-core snapshots that `/metrics` renders, as one JSON document.
//!
//! Built from the same [`WorkerReport`]s (`State::collect`) and the same collectors, so a
//! dashboard polling it costs the workers what a `/metrics` scrape does: one closure each.

use super::db;
use crate::metrics::WorkerReport;
use hdrhistogram::Histogram;
use ringwire_net::Snapshot;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Latency quantiles reported, with their JSON keys.
pub(crate) const QUANTILES: [(&str, f64); 4] =
    [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p999", 0.999)];

/// What the control core knows besides the reports.
pub(crate) struct Context<'a> {
    /// Time since the control core started.
    pub uptime: Duration,
    /// The drain state.
    pub draining: bool,
    /// Whether each worker runs pinned to its CPU, by index.
    pub pinned: &'a [bool],
    /// Seconds since each worker last answered, by index (`None`: never).
    pub heartbeat_ages: &'a [Option<f64>],
    /// The collectors' exposition (the store's families among others).
    pub collected: &'a str,
}

/// The document for `reports` (one per worker that answered).
pub(crate) fn render(reports: &[WorkerReport], cx: &Context<'_>) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut total = Snapshot::default();
    for r in reports {
        total.merge(&r.net);
    }
    let cores: Vec<Value> = reports.iter().map(|r| core(r, cx)).collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "time": now.as_secs_f64(),
        "uptime_seconds": cx.uptime.as_secs_f64(),
        "draining": cx.draining,
        "drain_state": if cx.draining { "draining" } else { "serving" },
        "workers": cx.pinned.len(),
        "cores": cores,
        "totals": counters(&total),
        "db": db::summary(cx.collected),
    })
}

fn core(r: &WorkerReport, cx: &Context<'_>) -> Value {
    let l = &r.loop_stats;
    let mut v = counters(&r.net);
    let extra = json!({
        "core": r.core,
        "backend": l.backend.name(),
        "pinned": cx.pinned.get(r.core).copied().unwrap_or(false),
        "heartbeat_age_seconds": cx.heartbeat_ages.get(r.core).copied().flatten(),
        "loop": {
            "busy_ratio": l.busy_ratio(),
            "iterations": l.iterations,
            "syscalls": l.syscalls,
            "task_panics": l.task_panics,
        },
    });
    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
        v.extend(extra);
    }
    v
}

/// The counters and gauges shared by a core and the totals.
fn counters(s: &Snapshot) -> Value {
    let classes = ["1xx", "2xx", "3xx", "4xx", "5xx"];
    let mut by_status = serde_json::Map::new();
    for (i, class) in classes.iter().enumerate() {
        let n: u64 = s.requests.iter().map(|row| row.get(i).unwrap_or(&0)).sum();
        by_status.insert((*class).into(), n.into());
    }
    let requests: u64 = s.requests.iter().flatten().sum();
    let p = &s.stream.pubsub;
    json!({
        "requests": requests,
        "requests_by_status": by_status,
        "latency_us": latency(&s.latency_us),
        "connections": { "active": s.active, "accepted": s.accepted },
        "bytes": { "in": s.bytes_in, "out": s.bytes_out },
        "stream": {
            "connections": s.stream.connections,
            "streams_opened": s.stream.opened.iter().sum::<u64>(),
            "streams_open": s.stream.open,
            "messages_in": s.stream.messages_in,
            "resets": s.stream.resets,
        },
        "pubsub": {
            "published": p.published,
            "delivered": p.delivered,
            "subscriptions": p.subscriptions,
            "slow_consumers": p.slow_consumers,
        },
    })
}

/// Count and quantiles (microseconds) of a latency histogram; the quantiles are `null` while
/// it is empty.
pub(crate) fn latency(h: &Histogram<u64>) -> Value {
    let mut v = serde_json::Map::new();
    v.insert("count".into(), h.len().into());
    for (key, q) in QUANTILES {
        let x = (!h.is_empty()).then(|| h.value_at_quantile(q));
        v.insert(key.into(), x.into());
    }
    v.insert("max".into(), (!h.is_empty()).then(|| h.max()).into());
    Value::Object(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringwire_reactor::{BackendKind, LoopStats};

    fn report(core: usize, latencies: &[u64]) -> WorkerReport {
        let stats = ringwire_net::Stats::default();
        for &us in latencies {
            stats.record_request("GET", 200, us);
        }
        stats.record_request("POST", 404, 10);
        WorkerReport {
            core,
            net: stats.snapshot(3),
            loop_stats: LoopStats {
                backend: if core == 0 {
                    BackendKind::Uring
                } else {
                    BackendKind::Poll
                },
                iterations: 1,
                tasks_polled: 1,
                parked_seconds: 0.5,
                uptime_seconds: 1.0,
                syscalls: 1,
                submitted: 0,
                completions: 0,
                task_panics: 0,
                recv_buffers_in_use: 0,
            },
        }
    }

    #[test]
    fn one_entry_per_core_and_totals_add_up() {
        let reports = [report(0, &[100; 99]), report(1, &[5_000])];
        let cx = Context {
            uptime: Duration::from_secs(7),
            draining: true,
            pinned: &[true, false],
            heartbeat_ages: &[Some(0.1), None],
            collected: "",
        };
        let v = render(&reports, &cx);
        assert_eq!(v["drain_state"], "draining");
        assert_eq!(v["cores"].as_array().unwrap().len(), 2);
        assert_eq!(v["cores"][0]["backend"], "io_uring");
        assert_eq!(v["cores"][1]["backend"], "epoll");
        assert_eq!(v["cores"][1]["pinned"], false);
        assert_eq!(v["cores"][1]["heartbeat_age_seconds"], Value::Null);
        assert_eq!(v["cores"][0]["requests"], 100);
        assert_eq!(v["cores"][0]["requests_by_status"]["4xx"], 1);
        assert_eq!(v["totals"]["requests"], 102);
        assert_eq!(v["totals"]["connections"]["active"], 6);
        // 99 of core 0's 100 requests took 100 µs (the histogram keeps 2 digits).
        assert_eq!(v["cores"][0]["latency_us"]["p50"], 100);
        // Within the histogram's 1 % (it reports a bucket's highest equivalent value).
        let p999 = v["cores"][1]["latency_us"]["p999"].as_u64().unwrap();
        assert!((5_000..=5_050).contains(&p999), "{p999}");
        assert_eq!(v["db"], Value::Null);
        let empty = latency(&Snapshot::default().latency_us);
        assert_eq!(empty["count"], 0);
        assert_eq!(empty["p99"], Value::Null);
    }
}
