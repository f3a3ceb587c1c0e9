//! The channels' families on `/metrics` (`ringwire_channels_*`), per core (`core="0"`, ...)
//! and summed (`core="all"`). See docs/METRICS.md.

use ringwire_ops::metrics::{
    Collector,
    text::{Exposition, Kind},
};
use ringwire_services::channels::stats::ChannelStats;
use std::sync::{
    Arc,
    atomic::{AtomicI64, AtomicU64, Ordering::Relaxed},
};

/// The counters of every core.
pub struct ChannelMetrics(pub Arc<[Arc<ChannelStats>]>);

type Counter = (&'static str, &'static str, fn(&ChannelStats) -> &AtomicU64);
type Gauge = (&'static str, &'static str, fn(&ChannelStats) -> &AtomicI64);

const COUNTERS: &[Counter] = &[
    (
        "ringwire_channels_durable_published_total",
        "Messages appended to durable channels and acknowledged to their publishers.",
        |s| &s.durable_published,
    ),
    (
        "ringwire_channels_ephemeral_published_total",
        "Messages published on ephemeral channels through the channels service or HTTP.",
        |s| &s.ephemeral_published,
    ),
    (
        "ringwire_channels_refused_total",
        "Publishes refused because the cluster bridge refuses (NATS unreachable, buffer full).",
        |s| &s.refused,
    ),
    (
        "ringwire_channels_catch_up_reads_total",
        "Store reads by durable subscribers catching up (start in the past, a missed or reordered live message, a full mailbox).",
        |s| &s.catch_up_reads,
    ),
    (
        "ringwire_channels_trimmed_before_read_total",
        "Messages durable subscribers never got because retention trimmed them first (reported to them as gaps).",
        |s| &s.trimmed_before_read,
    ),
    (
        "ringwire_channels_trimmed_total",
        "Records removed from durable channels by retention.",
        |s| &s.trimmed,
    ),
    (
        "ringwire_channels_sse_slow_total",
        "Server-Sent Events responses ended because an ephemeral reader fell stream.subscriber_queue messages behind.",
        |s| &s.sse_slow,
    ),
    (
        "ringwire_channels_deliveries_total",
        "Messages delivered to named consumers, redeliveries included.",
        |s| &s.deliveries,
    ),
    (
        "ringwire_channels_redeliveries_total",
        "Redeliveries to named consumers (ack_wait passed, a NAK, or a restart).",
        |s| &s.redeliveries,
    ),
    (
        "ringwire_channels_acks_total",
        "Consumer acknowledgements made durable.",
        |s| &s.acks,
    ),
];

const GAUGES: &[Gauge] = &[
    (
        "ringwire_channels_sse_streams",
        "Server-Sent Events responses open now.",
        |s| &s.sse_open,
    ),
    (
        "ringwire_channels_consumers",
        "Named consumers attached now.",
        |s| &s.consumers,
    ),
];

impl Collector for ChannelMetrics {
    fn collect(&self, e: &mut Exposition) {
        for (name, help, get) in COUNTERS {
            let values: Vec<f64> = self.0.iter().map(|s| get(s).load(Relaxed) as f64).collect();
            family(e, name, Kind::Counter, help, &values);
        }
        for (name, help, get) in GAUGES {
            let values: Vec<f64> = self
                .0
                .iter()
                .map(|s| get(s).load(Relaxed).max(0) as f64)
                .collect();
            family(e, name, Kind::Gauge, help, &values);
        }
    }
}

/// One family: a sample per core and their sum (`core="all"`).
fn family(e: &mut Exposition, name: &str, kind: Kind, help: &str, per_core: &[f64]) {
    e.family(name, kind, help);
    for (i, v) in per_core.iter().enumerate() {
        e.sample(name, &[("core", &i.to_string())], *v);
    }
    e.sample(name, &[("core", "all")], per_core.iter().sum());
}
