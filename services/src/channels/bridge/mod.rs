//! The cluster bridge: ephemeral channels across nodes through NATS (`cluster.nats`).
//!
//! **Where it runs.** One thread, `ringwire-nats`, with its own current-thread tokio runtime
//! and the `async-nats` client: the only tokio runtime in the process, pinned to the control
//! CPU when there is one (never a worker core's). It talks to the worker cores only through
//! the reactor's cross-core channels (the [`Outbox`] and [`Cores`] it is given), so the cores
//! never see tokio or NATS.
//!
//! **Ephemeral channels.** Every message published on this node (on any core) reaches the
//! bridge through one bounded queue and is published to NATS subject `ringwire.ch.<channel>`
//! with a `Ringwire-Node: <cluster.node_name>` header, in the order the bridge received it.
//! The bridge subscribes `ringwire.ch.<channel>` while some core of this node has a
//! subscriber to the channel (the cores announce their first and last subscriber) and hands
//! what arrives to every such core, where it is delivered to the local subscribers only,
//! never forwarded again. The connection is made with `no_echo`, and a message carrying this
//! node's own name is dropped anyway, so a node never delivers its own message twice.
//!
//! **NATS unreachable.** Local delivery goes on. The bridge reconnects forever with full
//! jitter backoff ([`RECONNECT_MIN`]..[`RECONNECT_MAX`]); meanwhile cluster publishes wait in
//! a bounded buffer ([`buffer`]: `cluster.buffer` bytes, [`BUFFER_MESSAGES`] messages) and are
//! published in order once connected again, after [`RESUME_GRACE`] so that the other nodes
//! have re-subscribed (best effort: core NATS is at most once). When the buffer is full, the bridge raises the
//! refusal flag: the cores then refuse every publish *before delivering it anywhere*, so an
//! error means "not published". The flag drops once the buffer has been sent.
//!
//! **Inbound back-pressure.** A core whose queue is full gets its messages later, in order,
//! from a per-core FIFO; when those FIFOs hold [`HELD_MESSAGES`] messages or `cluster.buffer`
//! bytes the bridge stops reading its subscriptions, the NATS client's own per-subscription
//! buffer fills and it discards messages (counted: `dropped{reason="slow_consumer"}`).

pub mod buffer;
mod inbound;
mod mesh;
mod nats;
pub mod stats;

pub use buffer::BUFFER_MESSAGES;
pub use stats::{BridgeSnapshot, BridgeStats, DropReason};

use bytes::Bytes;
use ringwire_net::trace::Traceparent;
use std::{
    future::Future,
    io,
    sync::mpsc,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64},
    },
    time::Duration,
};

/// Shortest wait before a reconnect attempt (the backoff's floor).
pub const RECONNECT_MIN: Duration = Duration::from_millis(100);
/// Longest wait before a reconnect attempt.
pub const RECONNECT_MAX: Duration = Duration::from_secs(2);
/// How long the bridge waits after (re)connecting before it sends what it buffered: core NATS
/// delivers a message only to the subscriptions that exist when it arrives, and the other
/// nodes, cut off by the same outage, re-subscribe when they reconnect, which their backoff
/// may delay by up to [`RECONNECT_MAX`]. New publishes queue behind the buffer meanwhile.
pub const RESUME_GRACE: Duration = Duration::from_secs(5);
/// The most inbound messages held for cores whose queues are full.
pub const HELD_MESSAGES: usize = 65_536;
/// The header naming the node that published a message.
pub const NODE_HEADER: &str = "Ringwire-Node";
/// The header carrying the publishing request's trace (W3C Trace Context).
pub const TRACE_HEADER: &str = "traceparent";
/// Bytes of a message's room kept for the header block besides the values the size checks
/// count themselves (the `NATS/1.0` line, the names, separators, a message id's name).
pub(crate) const HEADER_ROOM: usize = 128;

/// The payload bytes a NATS server whose `max_payload` is `server_max` takes in a message
/// whose headers carry the strings `values` (the server counts headers and payload
/// together, and closes a connection that sends more); `None` before the server said
/// (`server_max` 0: not connected yet).
pub(crate) fn payload_room(server_max: usize, values: &[&str]) -> Option<usize> {
    let values: usize = values.iter().map(|v| v.len()).sum();
    (server_max > 0).then(|| server_max.saturating_sub(HEADER_ROOM + values))
}

/// A message crossing between the cores and the bridge.
#[derive(Debug, Clone)]
pub struct Message {
    /// The channel, a valid channel name (so a valid NATS subject tail).
    pub channel: Arc<str>,
    /// The payload.
    pub payload: Bytes,
    /// Outbound: the `traceparent` of the request that published it, sent as a NATS header
    /// (W3C Trace Context, as for HTTP). Inbound messages carry none here.
    pub traceparent: Option<Box<Traceparent>>,
}

/// Core `core` gained its first (`on`) or lost its last subscriber to `channel`.
#[derive(Debug, Clone)]
pub struct Interest {
    /// The channel.
    pub channel: Arc<str>,
    /// The core.
    pub core: usize,
    /// Gained (true) or lost (false).
    pub on: bool,
}

/// Where the bridge takes this node's publishes from.
pub trait Outbox: Send + 'static {
    /// The next message published on this node, `None` once the cores are gone.
    fn recv(&self) -> impl Future<Output = Option<Message>>;
}

/// How the bridge reaches the cores.
pub trait Cores: Send + 'static {
    /// The next change of a core's interest, `None` once the cores are gone.
    fn interest(&self) -> impl Future<Output = Option<Interest>>;
    /// Queues `msg` for local delivery on `core`; hands it back if that core's queue is full
    /// (the bridge is then told through [`room`](Cores::room) when it has room).
    fn try_deliver(&self, core: usize, msg: Message) -> Result<(), Message>;
    /// Resolves when a core the bridge waited on has room, `None` once the cores are gone.
    fn room(&self) -> impl Future<Output = Option<()>>;
}

/// Everything the bridge shares with the cores.
pub struct Port<O, C> {
    /// This node's publishes.
    pub outbox: O,
    /// The cores.
    pub cores: C,
    /// Raised by the bridge while its buffer is full: the cores refuse publishes.
    pub refusing: Arc<AtomicBool>,
    /// Bumped by the cores on each refused publish.
    pub refused: Arc<AtomicU64>,
    /// Durable channels in cluster mode: the cores' JetStream requests.
    pub js: Option<super::jetstream::port::JsPort>,
}

/// The bridge's settings.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The NATS servers, `nats://host:port` each (any one is enough to join the cluster).
    pub urls: Vec<String>,
    /// Bytes of cluster publishes held while NATS is unreachable (`cluster.buffer`).
    pub buffer_bytes: usize,
    /// This node's name (`cluster.node_name`), sent with every message.
    pub node_name: String,
    /// The CPU to pin the bridge thread to (the control CPU), if any.
    pub cpu: Option<usize>,
}

/// The running bridge.
pub struct Bridge {
    stats: Arc<BridgeStats>,
    urls: Vec<String>,
    /// Asks the thread to send what it holds and end ([`close`](Bridge::close)).
    stop: Arc<tokio::sync::Notify>,
    /// Says the thread ended.
    done: mpsc::Receiver<()>,
}

impl Bridge {
    /// Starts the `ringwire-nats` thread. It runs until [`close`](Self::close)d or the cores
    /// are gone (every sender of the port dropped).
    pub fn spawn<O: Outbox, C: Cores>(config: BridgeConfig, port: Port<O, C>) -> io::Result<Self> {
        let stats = Arc::new(BridgeStats::new(port.refused.clone()));
        let urls = config.urls.clone();
        let thread_stats = stats.clone();
        let stop = Arc::new(tokio::sync::Notify::new());
        let thread_stop = stop.clone();
        let (done_tx, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("ringwire-nats".into())
            .spawn(move || {
                if let Some(cpu) = config.cpu
                    && let Err(e) = ringwire_reactor::launcher::pin_current_thread(cpu)
                {
                    tracing::warn!("cluster bridge: cannot pin to cpu {cpu}, unpinned: {e}");
                }
                nats::run(config, port, thread_stats, thread_stop);
                let _ = done_tx.send(());
            })?;
        Ok(Bridge {
            stats,
            urls,
            stop,
            done,
        })
    }

    /// The bridge's shared state.
    pub fn stats(&self) -> &Arc<BridgeStats> {
        &self.stats
    }

    /// The NATS servers it was given.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// At shutdown, once the cores are done: publishes what the cores queued and the buffer
    /// holds (if NATS is reachable), flushes the connection and ends the thread, waiting at
    /// most `limit`. False if the thread did not end in time (it is then left behind).
    pub fn close(self, limit: Duration) -> bool {
        self.stop.notify_one();
        self.done.recv_timeout(limit).is_ok()
    }
}

/// Checks one `cluster.nats` entry the way the NATS client will read it.
pub fn check_url(url: &str) -> Result<(), String> {
    if !url.starts_with("nats://") {
        return Err(format!("{url:?}: a NATS server is nats://host:port"));
    }
    url.parse::<async_nats::ServerAddr>()
        .map(|_| ())
        .map_err(|e| format!("{url:?}: {e}"))
}

/// The NATS subject of `channel`.
pub fn subject(channel: &str) -> String {
    format!("ringwire.ch.{channel}")
}

/// The channel of a NATS subject, if it is one of ours.
pub fn channel_of(subject: &str) -> Option<&str> {
    subject.strip_prefix("ringwire.ch.")
}

/// The wait before reconnect attempt `attempt` (1-based): full jitter, uniform in
/// `RECONNECT_MIN..=min(RECONNECT_MAX, RECONNECT_MIN * 2^attempt)`.
pub fn backoff(attempt: usize) -> Duration {
    let cap = RECONNECT_MIN
        .saturating_mul(1u32 << attempt.min(16))
        .min(RECONNECT_MAX);
    let span = cap.saturating_sub(RECONNECT_MIN).as_millis() as u64;
    RECONNECT_MIN + Duration::from_millis(fastrand::u64(0..=span))
}

#[cfg(test)]
mod tests;
