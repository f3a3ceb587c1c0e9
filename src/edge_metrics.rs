//! The edge's families on `/metrics` (`ringwire_edge_*`): refusals by reason, connection
//! refusals, shedding. See docs/METRICS.md.

use ringwire_net::edge::{DenialKind, Edge};
use ringwire_ops::metrics::{
    Collector,
    text::{Exposition, Kind},
};
use std::sync::Arc;

/// The process's edge counters (shared by the cores).
pub struct EdgeMetrics(pub Arc<Edge>);

impl Collector for EdgeMetrics {
    fn collect(&self, e: &mut Exposition) {
        let edge = &self.0;
        let c = edge.counters();
        let name = "ringwire_edge_denied_total";
        e.family(
            name,
            Kind::Counter,
            "Requests (HTTP) and streams or handshakes (stream protocol) refused by the edge, by reason: missing_token, invalid_token, forbidden, protected_mode, rate_limited, overloaded.",
        );
        for kind in DenialKind::ALL {
            e.sample(name, &[("reason", kind.label())], c.denials(kind) as f64);
        }
        let (per_ip, total) = c.connections_refused();
        let name = "ringwire_edge_connections_refused_total";
        e.family(
            name,
            Kind::Counter,
            "Connections accepted and closed at once: over limits.max_connections_per_ip (per_ip), over limits.max_connections_total (total), or while the core sheds (shed).",
        );
        e.sample(name, &[("reason", "per_ip")], per_ip as f64);
        e.sample(name, &[("reason", "total")], total as f64);
        e.sample(name, &[("reason", "shed")], c.connections_shed() as f64);
        e.single(
            "ringwire_edge_rate_table_full_total",
            Kind::Counter,
            "Requests admitted without a rate-limit decision because the shared rate table was full.",
            &[],
            edge.rate_table_full() as f64,
        );
        e.single(
            "ringwire_edge_loop_lag_seconds",
            Kind::Gauge,
            "How late the latest shedding probe ran on its core (the queueing delay a new request sees).",
            &[],
            edge.shedder().lag_us() as f64 / 1e6,
        );
        e.single(
            "ringwire_edge_memory_over",
            Kind::Gauge,
            "1 while resident memory is past shed.memory (every core sheds).",
            &[],
            f64::from(u8::from(edge.shedder().memory_over())),
        );
    }
}
