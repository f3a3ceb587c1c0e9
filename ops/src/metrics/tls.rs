//! TLS families: handshakes by result and version, their duration, resumptions and where the
//! cores encrypt records.

use super::{
    histogram::histogram,
    text::{Exposition, Kind},
};
use ringwire_net::tls::{HandshakeResult, TlsSnapshot};

/// Handshake durations' bucket bounds in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

pub(super) fn render_tls(e: &mut Exposition, t: &TlsSnapshot) {
    e.family(
        "ringwire_tls_handshakes_total",
        Kind::Counter,
        "TLS handshakes, by result (ok, failed: the client broke TLS or shared no version, suite or ALPN; timeout: not done in tls.handshake_timeout; closed: the socket ended first).",
    );
    for (i, r) in HandshakeResult::ALL.iter().enumerate() {
        e.sample(
            "ringwire_tls_handshakes_total",
            &[("result", r.label())],
            t.handshakes.get(i).copied().unwrap_or(0) as f64,
        );
    }
    e.family(
        "ringwire_tls_handshakes_completed_total",
        Kind::Counter,
        "Completed TLS handshakes, by protocol version.",
    );
    for (version, n) in [("1.3", t.tls13), ("1.2", t.tls12)] {
        e.sample(
            "ringwire_tls_handshakes_completed_total",
            &[("version", version)],
            n as f64,
        );
    }
    e.single(
        "ringwire_tls_resumed_total",
        Kind::Counter,
        "Completed TLS handshakes that resumed a session (ticket or session id): the resumption rate is this over the completed handshakes.",
        &[],
        t.resumed as f64,
    );
    histogram(
        e,
        "ringwire_tls_handshake_duration_seconds",
        "Time from accepting a TLS connection to its completed handshake.",
        &t.latency_us,
        &BUCKETS,
        1e6,
    );
    e.family(
        "ringwire_tls_mode",
        Kind::Gauge,
        "Worker cores serving TLS, by where records are encrypted (kernel: kTLS; user: rustls).",
    );
    for (mode, n) in [("kernel", t.kernel_cores), ("user", t.user_cores)] {
        e.sample("ringwire_tls_mode", &[("mode", mode)], n as f64);
    }
    e.single(
        "ringwire_tls_ktls_sessions_total",
        Kind::Counter,
        "TLS connections whose record layer the kernel took over after the handshake (kTLS).",
        &[],
        t.kernel_sessions as f64,
    );
    e.single(
        "ringwire_tls_ktls_fallbacks_total",
        Kind::Counter,
        "TLS connections on a kTLS core that stayed in user space (a record still arriving at the switch, the peer already closed, or the kernel refused the tls ULP; the debug log says which).",
        &[],
        t.ktls_fallbacks as f64,
    );
}
