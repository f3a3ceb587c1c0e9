//! Connection-layer settings. Every limit and timeout has a default suited to a public server.

use ringwire_protocol::http1::Limits;
use std::time::Duration;

/// Limits and timeouts of the HTTP connection loop on one core.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Listen backlog of each per-core socket (capped by `net.core.somaxconn`).
    pub backlog: u32,
    /// Set `TCP_NODELAY` on connections (responses go out in one write anyway).
    pub nodelay: bool,
    /// Time from the first byte of a request to the end of its head; then 408 and close.
    pub head_timeout: Duration,
    /// Time an idle keep-alive connection may wait for its next request; then close.
    pub keepalive_timeout: Duration,
    /// Time a request body may go without a byte arriving; then 408 and close.
    pub body_timeout: Duration,
    /// Time one write may make no progress; then close.
    pub write_timeout: Duration,
    /// Connections one core serves at once; beyond that, new ones are accepted and closed
    /// (and counted as rejected).
    pub max_connections: usize,
    /// Parser limits: request line (414), head and header count (431), body (413), trailers.
    pub limits: Limits,
    /// The `Server` field value; `None` sends none.
    pub server_name: Option<String>,
    /// Share of requests written to the access log (0 = none, 1 = all).
    pub access_log_sample: f64,
    /// Share of requests without a valid `traceparent` that start a trace (0 = none).
    pub trace_sample: f64,
    /// Deadlines and keep-alive of stream-protocol connections.
    pub stream: StreamTimeouts,
    /// Security header fields added to every HTTP response (`docs/SECURITY.md`).
    pub headers: crate::SecurityHeaders,
}

/// Time limits of a stream-protocol connection (`docs/PROTOCOL.md`, "Time limits"). Its idle
/// limit is [`Config::keepalive_timeout`] and its write limit [`Config::write_timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTimeouts {
    /// Time from the connection's start (or its HTTP upgrade) to the client's whole HELLO;
    /// then GOAWAY TIMEOUT and close.
    pub handshake: Duration,
    /// Time from a frame's first byte to its last; then GOAWAY TIMEOUT and close.
    pub frame: Duration,
    /// With streams open, a PING goes out after this long without a byte from the peer.
    pub ping_interval: Duration,
    /// Time the peer has to answer that PING; then GOAWAY TIMEOUT and close.
    pub ping_timeout: Duration,
}

impl Default for StreamTimeouts {
    fn default() -> Self {
        StreamTimeouts {
            handshake: Duration::from_secs(10),
            frame: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(20),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            backlog: 1024,
            nodelay: true,
            head_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_connections: 16_384,
            limits: Limits::default(),
            server_name: Some("ringwire".into()),
            access_log_sample: 0.01,
            trace_sample: 0.0,
            stream: StreamTimeouts::default(),
            headers: crate::SecurityHeaders::default(),
        }
    }
}
