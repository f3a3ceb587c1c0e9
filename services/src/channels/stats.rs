//! The channels' counters of one core, read by the control core for `/metrics`
//! (`ringwire_channels_*`, docs/METRICS.md). Written by one core only, with relaxed atomics.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// One core's channel counters.
#[derive(Debug, Default)]
pub struct ChannelStats {
    /// Messages appended to durable channels (acknowledged to their publisher).
    pub durable_published: AtomicU64,
    /// Messages published on ephemeral channels through `channels` or HTTP.
    pub ephemeral_published: AtomicU64,
    /// Publishes refused (the cluster bridge unavailable).
    pub refused: AtomicU64,
    /// Store reads made by live subscribers catching up (a missed or reordered hub message, a
    /// full mailbox, or a start in the past).
    pub catch_up_reads: AtomicU64,
    /// Messages subscribers could not get because retention trimmed them first.
    pub trimmed_before_read: AtomicU64,
    /// Records removed by retention.
    pub trimmed: AtomicU64,
    /// Server-Sent Events responses open now.
    pub sse_open: AtomicI64,
    /// Server-Sent Events responses ended because an ephemeral reader fell behind.
    pub sse_slow: AtomicU64,
    /// Named consumers attached now.
    pub consumers: AtomicI64,
    /// Consumer deliveries, first ones and redeliveries.
    pub deliveries: AtomicU64,
    /// Consumer redeliveries (after `ack_wait`, a NAK, or a restart).
    pub redeliveries: AtomicU64,
    /// Acknowledgements made durable.
    pub acks: AtomicU64,
}

impl ChannelStats {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}

/// Keeps a gauge up while it lives.
pub struct Open<'a>(&'a AtomicI64);

impl<'a> Open<'a> {
    /// Raises `g` by one until dropped.
    pub fn new(g: &'a AtomicI64) -> Open<'a> {
        g.fetch_add(1, Relaxed);
        Open(g)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}
