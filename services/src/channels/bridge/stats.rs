//! The bridge's state for readiness and metrics: atomics written by the bridge thread (and the
//! cores, for refusals), read from anywhere.

use std::{
    sync::Arc,
    sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// Why a message crossing the bridge was dropped (the `reason` label of
/// `ringwire_cluster_bridge_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// NATS refused to publish it (larger than the server's `max_payload`).
    TooLarge,
    /// Inbound: the node's subscription fell behind and the NATS client discarded messages
    /// (each event counts one; the client does not say how many).
    SlowConsumer,
    /// Inbound: a message this node published came back (it never should: `no_echo`).
    Echo,
    /// Outbound: the NATS client was closed.
    Closed,
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 4] = [
        DropReason::TooLarge,
        DropReason::SlowConsumer,
        DropReason::Echo,
        DropReason::Closed,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::TooLarge => "too_large",
            DropReason::SlowConsumer => "slow_consumer",
            DropReason::Echo => "echo",
            DropReason::Closed => "closed",
        }
    }
}

/// Shared counters and gauges of one bridge.
#[derive(Debug, Default)]
pub struct BridgeStats {
    connected: AtomicBool,
    /// Unix ms of the last connect or disconnect (0: never connected yet).
    since_ms: AtomicU64,
    refusing: AtomicBool,
    buffered_messages: AtomicU64,
    buffered_bytes: AtomicU64,
    /// Unix ms at which the oldest buffered message was pushed (0: none).
    oldest_ms: AtomicU64,
    published: AtomicU64,
    received: AtomicU64,
    dropped: [AtomicU64; 4],
    /// Written by the cores when they refuse a publish.
    refused: Arc<AtomicU64>,
    reconnects: AtomicU64,
    connects: AtomicU64,
}

/// A copy of [`BridgeStats`] at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BridgeSnapshot {
    /// Whether the NATS connection is up.
    pub connected: bool,
    /// How long it has been in that state (`None` before the first connection attempt ended).
    pub for_duration: Option<Duration>,
    /// Whether cluster publishes are being refused (buffer full).
    pub refusing: bool,
    /// Messages waiting for NATS.
    pub buffered_messages: u64,
    /// Payload bytes waiting for NATS.
    pub buffered_bytes: u64,
    /// Age of the oldest message waiting for NATS (zero when none).
    pub lag: Duration,
    /// Messages published to NATS.
    pub published: u64,
    /// Messages received from NATS and handed to the cores.
    pub received: u64,
    /// Messages dropped, by [`DropReason::ALL`] order.
    pub dropped: [u64; 4],
    /// Publishes refused because the buffer was full.
    pub refused: u64,
    /// Connections made again after one was lost.
    pub reconnects: u64,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl BridgeStats {
    /// Stats whose refusal count is `refused`, the counter the cores bump.
    pub fn new(refused: Arc<AtomicU64>) -> BridgeStats {
        BridgeStats {
            refused,
            ..BridgeStats::default()
        }
    }

    /// A copy of every value now.
    pub fn snapshot(&self) -> BridgeSnapshot {
        let now = now_ms();
        let since = self.since_ms.load(Relaxed);
        let oldest = self.oldest_ms.load(Relaxed);
        BridgeSnapshot {
            connected: self.connected.load(Relaxed),
            for_duration: (since != 0).then(|| Duration::from_millis(now.saturating_sub(since))),
            refusing: self.refusing.load(Relaxed),
            buffered_messages: self.buffered_messages.load(Relaxed),
            buffered_bytes: self.buffered_bytes.load(Relaxed),
            lag: if oldest == 0 {
                Duration::ZERO
            } else {
                Duration::from_millis(now.saturating_sub(oldest))
            },
            published: self.published.load(Relaxed),
            received: self.received.load(Relaxed),
            dropped: std::array::from_fn(|i| self.dropped[i].load(Relaxed)),
            refused: self.refused.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
        }
    }

    pub(crate) fn set_connected(&self, up: bool) {
        if up {
            if self.connects.fetch_add(1, Relaxed) > 0 {
                self.reconnects.fetch_add(1, Relaxed);
            }
        } else if !self.connected.load(Relaxed) && self.since_ms.load(Relaxed) != 0 {
            return;
        }
        self.connected.store(up, Relaxed);
        self.since_ms.store(now_ms(), Relaxed);
    }

    pub(crate) fn set_refusing(&self, on: bool) {
        self.refusing.store(on, Relaxed);
    }

    pub(crate) fn set_buffered(&self, messages: usize, bytes: usize, oldest_ms: u64) {
        self.buffered_messages.store(messages as u64, Relaxed);
        self.buffered_bytes.store(bytes as u64, Relaxed);
        self.oldest_ms.store(oldest_ms, Relaxed);
    }

    pub(crate) fn published(&self) {
        self.published.fetch_add(1, Relaxed);
    }

    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Relaxed);
    }

    pub(crate) fn dropped(&self, reason: DropReason) {
        self.dropped[reason as usize].fetch_add(1, Relaxed);
    }
}
