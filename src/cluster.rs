//! The cluster bridge's place in the server (`cluster.nats`): started beside the workers,
//! checked by readiness, measured on `/metrics` (docs/OPERATIONS.md, Clustering).

use crate::config::Settings;
use ringwire_ops::{
    CheckResult, HealthCheck,
    metrics::{
        Collector,
        text::{Exposition, Kind},
    },
};
use ringwire_services::channels::bridge::{
    Bridge, BridgeConfig, BridgeSnapshot, BridgeStats, DropReason,
};
use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

/// Starts the bridge on its seed; `cpu` is the control CPU (never a worker's).
pub fn start(
    settings: &Settings,
    seed: ringwire_net::stream::BridgeSeed,
    js: Option<ringwire_services::channels::jetstream::port::JsPort>,
    cpu: Option<usize>,
) -> Result<Bridge, String> {
    let config = BridgeConfig {
        urls: settings.cluster.nats.clone(),
        buffer_bytes: settings.cluster.buffer,
        node_name: settings.cluster.node_name(),
        cpu,
    };
    tracing::info!(
        "cluster: node {} joins NATS at {} (cluster.buffer = {} bytes)",
        config.node_name,
        config.urls.join(","),
        config.buffer_bytes
    );
    if js.is_some() {
        tracing::info!(
            "cluster: durable channels are JetStream streams ({} replicas)",
            settings.cluster.replicas
        );
    }
    Bridge::start(config, seed, js).map_err(|e| format!("cluster bridge thread: {e}"))
}

/// How long the bridge may take at shutdown to publish what it still holds.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

/// At shutdown, after the workers: the bridge publishes what they queued and flushes.
pub fn close(bridge: Bridge) {
    if !bridge.close(CLOSE_LIMIT) {
        tracing::warn!("cluster bridge: not closed within {CLOSE_LIMIT:?}, left behind");
    }
}

/// `/health/ready`'s `cluster` check: passes while connected, and while disconnected but
/// still buffering (with a degraded message); fails only while publishes are refused.
/// Liveness never depends on it.
pub struct BridgeCheck {
    pub stats: Arc<BridgeStats>,
    pub urls: Vec<String>,
}

impl HealthCheck for BridgeCheck {
    fn name(&self) -> &str {
        "cluster"
    }

    fn check(&self) -> Pin<Box<dyn Future<Output = CheckResult> + '_>> {
        let r = verdict(&self.stats.snapshot(), &self.urls);
        Box::pin(async move { r })
    }
}

/// The readiness verdict for one snapshot.
pub fn verdict(s: &BridgeSnapshot, urls: &[String]) -> CheckResult {
    let servers = urls.join(",");
    if s.connected {
        return CheckResult::ok(format!("NATS connected ({servers})"));
    }
    let since = match s.for_duration {
        Some(d) => format!("NATS unreachable for {} s", d.as_secs()),
        None => "NATS not connected yet".to_string(),
    };
    let held = format!(
        "{} messages ({} bytes) buffered, oldest {} s",
        s.buffered_messages,
        s.buffered_bytes,
        s.lag.as_secs()
    );
    if s.refusing {
        CheckResult::fail(format!(
            "{since} ({servers}); cluster buffer full, publishes refused: {held}"
        ))
    } else {
        CheckResult::ok(format!("degraded: {since} ({servers}); {held}"))
    }
}

/// The bridge's families on `/metrics` (see docs/METRICS.md).
pub struct BridgeMetrics(pub Arc<BridgeStats>);

impl Collector for BridgeMetrics {
    fn collect(&self, e: &mut Exposition) {
        let s = self.0.snapshot();
        let gauge = |e: &mut Exposition, name: &str, help: &str, v: f64| {
            e.family(name, Kind::Gauge, help);
            e.sample(name, &[], v);
        };
        let counter = |e: &mut Exposition, name: &str, help: &str, v: u64| {
            e.family(name, Kind::Counter, help);
            e.sample(name, &[], v as f64);
        };
        gauge(
            e,
            "ringwire_cluster_bridge_connected",
            "1 while the cluster bridge is connected to NATS.",
            f64::from(u8::from(s.connected)),
        );
        gauge(
            e,
            "ringwire_cluster_bridge_buffered_messages",
            "Cluster publishes waiting for NATS.",
            s.buffered_messages as f64,
        );
        gauge(
            e,
            "ringwire_cluster_bridge_buffered_bytes",
            "Payload bytes of cluster publishes waiting for NATS (at most cluster.buffer).",
            s.buffered_bytes as f64,
        );
        gauge(
            e,
            "ringwire_cluster_bridge_lag_seconds",
            "Age of the oldest cluster publish waiting for NATS (0 when none waits).",
            s.lag.as_secs_f64(),
        );
        counter(
            e,
            "ringwire_cluster_bridge_published_total",
            "Messages published to NATS.",
            s.published,
        );
        counter(
            e,
            "ringwire_cluster_bridge_received_total",
            "Messages received from NATS for this node's subscribers.",
            s.received,
        );
        let dropped = "ringwire_cluster_bridge_dropped_total";
        e.family(
            dropped,
            Kind::Counter,
            "Messages the bridge dropped, by reason (too_large, slow_consumer, echo, closed).",
        );
        for (reason, n) in DropReason::ALL.iter().zip(s.dropped) {
            e.sample(dropped, &[("reason", reason.label())], n as f64);
        }
        counter(
            e,
            "ringwire_cluster_bridge_refused_total",
            "Publishes refused because NATS was unreachable and the cluster buffer full.",
            s.refused,
        );
        counter(
            e,
            "ringwire_cluster_bridge_reconnects_total",
            "Connections to NATS made again after one was lost.",
            s.reconnects,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_fails_only_while_refusing() {
        let urls = ["nats://127.0.0.1:4222".to_string()];
        let mut s = BridgeSnapshot {
            connected: true,
            ..BridgeSnapshot::default()
        };
        assert!(verdict(&s, &urls).healthy);
        s.connected = false;
        s.buffered_messages = 3;
        let r = verdict(&s, &urls);
        assert!(
            r.healthy && r.message.starts_with("degraded: NATS"),
            "{}",
            r.message
        );
        s.refusing = true;
        let r = verdict(&s, &urls);
        assert!(!r.healthy && r.message.contains("NATS"), "{}", r.message);
        assert!(r.message.contains("refused"), "{}", r.message);
    }
}
