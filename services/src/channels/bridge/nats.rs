//! The bridge thread's runtime, its NATS connection and the outbound half (this node's
//! publishes to NATS, through the buffer while disconnected).

use super::super::jetstream::{self, JetStreamLogs};
use super::{
    BridgeConfig, BridgeStats, Cores, DropReason, Message, NODE_HEADER, Outbox, Port, RESUME_GRACE,
    backoff,
    buffer::{BUFFER_MESSAGES, OutBuffer, Refused},
    inbound, stats,
};
use async_nats::{Client, ConnectOptions, Event, HeaderMap, client::PublishErrorKind};
use futures_util::FutureExt;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::{Notify, watch};

/// Runs the bridge until the cores are gone.
pub(super) fn run<O: Outbox, C: Cores>(
    config: BridgeConfig,
    port: Port<O, C>,
    stats: Arc<BridgeStats>,
    stop: Arc<Notify>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cluster bridge: cannot start its runtime: {e}");
            port.refusing.store(true, Ordering::Release);
            stats.set_refusing(true);
            return;
        }
    };
    // Entered for the whole thread, so that what the tasks still own when the `LocalSet` is
    // dropped (a subscription unsubscribes from its drop, by spawning) finds the runtime.
    let _context = rt.enter();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let (up_tx, up_rx) = watch::channel(false);
        let Some(client) = connect(&config, stats.clone(), up_tx).await else {
            // Nothing will ever be published: say so to every publisher.
            port.refusing.store(true, Ordering::Release);
            stats.set_refusing(true);
            return;
        };
        let Port {
            outbox,
            cores,
            refusing,
            refused: _,
            js,
        } = port;
        // Durable channels in cluster mode: the cores' JetStream requests, on this runtime.
        let jetstream = js.map(|js| {
            let logs =
                JetStreamLogs::new(client.clone(), js.replicas, js.durable, &config.node_name);
            tokio::task::spawn_local(jetstream::port::serve(logs, js.requests))
        });
        let held_bytes = config.buffer_bytes;
        let inbound = tokio::task::spawn_local(inbound::run(
            client.clone(),
            cores,
            config.node_name.clone(),
            stats.clone(),
            held_bytes,
        ));
        let out = Outbound {
            client,
            node: config.node_name,
            buffer: OutBuffer::new(config.buffer_bytes, BUFFER_MESSAGES),
            stats,
            refusing,
        };
        out.run(outbox, up_rx, &stop).await;
        inbound.abort();
        if let Some(js) = jetstream {
            js.abort();
        }
    });
}

/// Connects (in the background: the first attempt may fail and is retried forever).
async fn connect(
    config: &BridgeConfig,
    stats: Arc<BridgeStats>,
    up: watch::Sender<bool>,
) -> Option<Client> {
    let up = Arc::new(up);
    let events = stats.clone();
    // Set once an outage has been logged, so that each retry is not.
    let quiet = Arc::new(AtomicBool::new(false));
    let options = ConnectOptions::new()
        .name(format!("ringwire {}", config.node_name))
        .no_echo()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(backoff)
        .connection_timeout(Duration::from_secs(5))
        .ping_interval(Duration::from_secs(10))
        .event_callback(move |event| {
            let (stats, up, quiet) = (events.clone(), up.clone(), quiet.clone());
            async move {
                match event {
                    Event::Connected => {
                        tracing::info!("cluster bridge: connected to NATS");
                        quiet.store(false, Ordering::Relaxed);
                        stats.set_connected(true);
                        up.send_replace(true);
                    }
                    Event::Disconnected | Event::Closed => {
                        tracing::warn!("cluster bridge: NATS {event}, reconnecting");
                        quiet.store(true, Ordering::Relaxed);
                        stats.set_connected(false);
                        up.send_replace(false);
                    }
                    Event::SlowConsumer(_) => stats.dropped(DropReason::SlowConsumer),
                    // A failed connection attempt: said once per outage, not per attempt.
                    Event::ClientError(e) => {
                        if !quiet.swap(true, Ordering::Relaxed) {
                            tracing::warn!("cluster bridge: cannot reach NATS ({e}), retrying");
                        } else {
                            tracing::debug!("cluster bridge: NATS {e}");
                        }
                    }
                    other => tracing::warn!("cluster bridge: NATS {other}"),
                }
            }
        });
    match options.connect(config.urls.as_slice()).await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!("cluster bridge: {e} (cluster.nats = {:?})", config.urls);
            None
        }
    }
}

struct Outbound {
    client: Client,
    node: String,
    buffer: OutBuffer,
    stats: Arc<BridgeStats>,
    refusing: Arc<AtomicBool>,
}

impl Outbound {
    async fn run<O: Outbox>(mut self, outbox: O, mut up: watch::Receiver<bool>, stop: &Notify) {
        // A message that did not fit the full buffer: the next to go, and until then no more
        // are taken from the cores (which refuse new ones meanwhile).
        let mut stalled: Option<Message> = None;
        // Since when (connected) buffered messages may go.
        let mut resume_at: Option<Instant> = None;
        loop {
            let connected = *up.borrow_and_update();
            if !connected {
                resume_at = None;
            } else if resume_at.is_none() {
                let waiting = !self.buffer.is_empty() || stalled.is_some();
                resume_at = Some(
                    Instant::now()
                        + if waiting {
                            RESUME_GRACE
                        } else {
                            Duration::ZERO
                        },
                );
            }
            let flowing = resume_at.is_some_and(|t| Instant::now() >= t);
            if flowing {
                if let Some(msg) = self.buffer.pop() {
                    self.publish(msg).await;
                    self.show_buffer();
                    continue;
                }
                if let Some(msg) = stalled.take() {
                    self.publish(msg).await;
                    continue;
                }
                if self.refusing.swap(false, Ordering::AcqRel) {
                    tracing::info!("cluster bridge: buffer sent, publishes accepted again");
                    self.stats.set_refusing(false);
                }
            }
            let grace = tokio::time::sleep_until(resume_at.unwrap_or_else(Instant::now).into());
            tokio::select! {
                biased;
                changed = up.changed() => if changed.is_err() { return },
                () = stop.notified() => return self.finish(&outbox, stalled, connected).await,
                () = grace, if connected && !flowing => {}
                msg = outbox.recv(), if stalled.is_none() => {
                    let Some(msg) = msg else { return };
                    if flowing && self.buffer.is_empty() {
                        self.publish(msg).await;
                    } else if let Err(Refused(msg)) = self.buffer.push(msg, Instant::now()) {
                        stalled = Some(msg);
                        if !self.refusing.swap(true, Ordering::AcqRel) {
                            tracing::warn!(
                                "cluster bridge: buffer full ({} messages, {} bytes), \
                                 refusing publishes until NATS is back",
                                self.buffer.len(),
                                self.buffer.bytes()
                            );
                            self.stats.set_refusing(true);
                        }
                    } else {
                        self.show_buffer();
                    }
                }
            }
        }
    }

    /// At shutdown: publishes the buffer, then what the cores queued, and flushes; or, with
    /// NATS unreachable, says what is lost.
    async fn finish<O: Outbox>(mut self, outbox: &O, stalled: Option<Message>, connected: bool) {
        let mut rest: Vec<Message> = stalled.into_iter().collect();
        while let Some(Some(msg)) = outbox.recv().now_or_never() {
            rest.push(msg);
        }
        if !connected {
            let lost = self.buffer.len() + rest.len();
            if lost > 0 {
                tracing::warn!(
                    "cluster bridge: stopping with {lost} messages not published (NATS unreachable)"
                );
            }
            return;
        }
        while let Some(msg) = self.buffer.pop() {
            self.publish(msg).await;
        }
        for msg in rest {
            self.publish(msg).await;
        }
        self.show_buffer();
        if let Err(e) = self.client.flush().await {
            tracing::warn!("cluster bridge: flush at shutdown: {e}");
        }
    }

    async fn publish(&self, msg: Message) {
        let trace = msg
            .traceparent
            .as_deref()
            .and_then(|t| std::str::from_utf8(t).ok());
        // Only `Client::publish` checks max_payload, not `publish_with_headers`, and a server
        // that gets more closes the connection (losing what else was in flight): check here.
        let values = [self.node.as_str(), trace.unwrap_or_default()];
        let max = super::payload_room(self.client.server_info().max_payload, &values);
        if let Some(max) = max.filter(|&m| msg.payload.len() > m) {
            tracing::warn!(
                "cluster bridge: message on {} not published: {} bytes, the NATS servers take \
                 {max} (max_payload less the headers)",
                msg.channel,
                msg.payload.len()
            );
            self.stats.dropped(DropReason::TooLarge);
            return;
        }
        let mut headers = HeaderMap::new();
        headers.insert(NODE_HEADER, self.node.as_str());
        if let Some(tp) = trace {
            headers.insert(super::TRACE_HEADER, tp);
        }
        let subject = super::subject(&msg.channel);
        match self
            .client
            .publish_with_headers(subject, headers, msg.payload)
            .await
        {
            Ok(()) => self.stats.published(),
            Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                tracing::warn!(
                    "cluster bridge: message on {} not published: {e}",
                    msg.channel
                );
                self.stats.dropped(DropReason::TooLarge);
            }
            Err(e) => {
                tracing::warn!(
                    "cluster bridge: message on {} not published: {e}",
                    msg.channel
                );
                self.stats.dropped(DropReason::Closed);
            }
        }
    }

    /// Publishes the buffer's size and its oldest message's age to the stats.
    fn show_buffer(&mut self) {
        let oldest = self.buffer.front().map_or(0, |(at, _)| {
            let age = Instant::now().saturating_duration_since(*at);
            stats::now_ms()
                .saturating_sub(age.as_millis() as u64)
                .max(1)
        });
        self.stats
            .set_buffered(self.buffer.len(), self.buffer.bytes(), oldest);
    }
}
