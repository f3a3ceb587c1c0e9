//! Durable channels in cluster mode: each is a JetStream stream, so replay, consumers and
//! acknowledgements work from any node (`cluster.nats` set).
//!
//! **Where it runs.** On the bridge thread (`ringwire-nats`, see [`bridge`](super::bridge)):
//! every method is an `async fn` for its current-thread tokio runtime, on the bridge's
//! `async-nats` client. Nothing here touches the cores.
//!
//! **One stream per durable channel**, created on first use by any node
//! ([`JetStreamLogs::get_or_create_stream`], idempotent and race-free between nodes): named
//! by [`names::stream_name`] (`RW_` + the channel, reversibly escaped), one subject
//! `ringwire.ds.<channel>`, file storage, `replicas` copies, the channel's retention from
//! `pubsub.durable` as `max_msgs`/`max_bytes`/`max_age` with the oldest messages discarded.
//! A stream that exists keeps its replicas; its limits are brought to the configured ones.
//! Because a stream has one subject, a message's stream sequence is the channel's sequence.
//!
//! **Appends** ([`JetStreamLogs::append`]) wait for JetStream's acknowledgement, which comes
//! once a majority of the replicas stored the message. Each carries a `Nats-Msg-Id` unique
//! to this process (node name, a random incarnation, a counter), so a retry after a timeout
//! or during a leader election (up to [`APPEND_ATTEMPTS`] tries) is stored once and answered
//! with the first copy's sequence (within the [`DEDUPE_WINDOW`]).
//!
//! **Live delivery.** The stream's subject is a plain NATS subject too: a core-NATS
//! subscription on it ([`JetStreamLogs::subscribe_live`]) receives every message published
//! to the channel, but *without its sequence* (nats-server 2.9 adds no header to the plain
//! copy; it carries only the publisher's headers: `Nats-Msg-Id`, `Ringwire-Node` and, for a
//! traced publish, `traceparent`), and
//! possibly before it is stored, or even a retried duplicate or a message the stream then
//! refused. So the live path treats each one only as "something new on this channel": it
//! catches up with [`JetStreamLogs::read`] from the next sequence it expects, and the
//! stream stays the truth, as the store is on a single node. A client made with `no_echo`
//! (the bridge's) does not hear its own appends this way: it knows their sequences already.
//!
//! **Consumer state** lives in the KV bucket [`names::CONSUMER_BUCKET`] (the `kv` submodule: [`JetStreamLogs::kv_get`] and the
//! other `kv_` methods).

mod kv;
pub mod names;
pub mod port;
mod read;

use super::bridge::{TRACE_HEADER, payload_room};
use super::policy::{Durability, Retention};
use async_nats::{
    Client, HeaderMap, Subscriber,
    jetstream::{
        self, Context, ErrorCode,
        context::{
            CreateStreamError, CreateStreamErrorKind, GetStreamError, GetStreamErrorKind,
            PublishError, PublishErrorKind,
        },
        message::PublishMessage,
        stream::{self, DiscardPolicy, StorageType},
    },
};
use bytes::Bytes;
use ringwire_net::trace::Traceparent;
use std::{
    collections::HashSet,
    fmt,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

/// How many times an append is tried when JetStream times out or has no leader.
pub const APPEND_ATTEMPTS: u32 = 8;
/// The longest wait between two tries of an append.
pub const RETRY_MAX: Duration = Duration::from_secs(2);
/// How long a stream remembers a `Nats-Msg-Id` to drop a retried duplicate.
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(120);
/// How long one JetStream request or acknowledgement may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Seeking to this time (Unix ms, the year 9000) or later finds no message.
pub const MAX_SEEK_MS: u64 = 221_845_392_000_000;
/// The header carrying the publishing node's name (the bridge's, too).
pub const NODE_HEADER: &str = super::bridge::NODE_HEADER;

/// Why a JetStream operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsError {
    /// A consumer-state key exists ([`JetStreamLogs::kv_create`]) or is not at the revision
    /// given ([`JetStreamLogs::kv_update`]): someone else wrote it. Status `CONFLICT`.
    Conflict,
    /// NATS did not answer in time, or the stream has no leader right now: nothing is known
    /// to be stored; try again later. Status `UNAVAILABLE`.
    Unavailable(String),
    /// A message over the NATS servers' `max_payload` (with its headers): not sent, since
    /// the server would close the connection. Status `TOO_LARGE`.
    TooLarge {
        /// The message's length.
        len: usize,
        /// The most data a message may carry.
        max: usize,
    },
    /// JetStream refused (a bad config, a full account, ...). Status `ERROR`.
    Failed(String),
}

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsError::Conflict => f.write_str("written meanwhile by someone else"),
            JsError::Unavailable(why) => write!(f, "JetStream unavailable: {why}"),
            JsError::TooLarge { len, max } => {
                write!(
                    f,
                    "a message of {len} bytes is over the NATS limit of {max}"
                )
            }
            JsError::Failed(why) => write!(f, "JetStream refused: {why}"),
        }
    }
}

impl std::error::Error for JsError {}

/// A stored message read back: (sequence, publish time in Unix ms, data).
pub type Record = (u64, u64, Bytes);

/// A durable channel's extent: like the store's `log_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamInfo {
    /// The first kept sequence (`next` when empty).
    pub first: u64,
    /// The sequence the next append gets.
    pub next: u64,
    /// Messages kept.
    pub count: u64,
    /// Bytes kept as JetStream counts them (data plus subject and headers).
    pub bytes: u64,
}

/// The durable channels of a cluster, on one node's NATS client.
pub struct JetStreamLogs {
    js: Context,
    client: Client,
    replicas: usize,
    durable: Durability,
    node: String,
    /// This process's part of every `Nats-Msg-Id` (a restarted node reusing its name must
    /// not have its new messages dropped as duplicates of the old ones).
    incarnation: u64,
    counter: AtomicU64,
    /// Appends and consumer-state writes tried again.
    retries: AtomicU64,
    /// Streams known to exist with the configured limits.
    ready: Mutex<HashSet<String>>,
    /// Whether the consumer-state bucket is known to exist.
    bucket_ready: AtomicBool,
}

impl JetStreamLogs {
    /// Durable channels on `client` (connected or connecting): `replicas` copies of every
    /// stream (1..=5, at most the cluster's size), retention from `durable`, message ids
    /// from `node` (`cluster.node_name`).
    pub fn new(client: Client, replicas: usize, durable: Durability, node: &str) -> Self {
        let js = jetstream::ContextBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .build(client.clone());
        JetStreamLogs {
            js,
            client,
            replicas: replicas.clamp(1, 5),
            durable,
            node: node.to_string(),
            incarnation: fastrand::u64(..),
            counter: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            ready: Mutex::new(HashSet::new()),
            bucket_ready: Default::default(),
        }
    }

    /// The retention `channel` is kept with (unbounded if it matches no durable pattern).
    pub fn retention(&self, channel: &str) -> Retention {
        self.durable.lookup(channel).copied().unwrap_or_default()
    }

    /// Makes sure `channel`'s stream exists with the configured limits (creates it, or
    /// brings the limits of an existing one to the configuration). Idempotent; cheap once
    /// done (remembered until an append finds the stream gone).
    pub async fn get_or_create_stream(&self, channel: &str) -> Result<(), JsError> {
        let name = names::stream_name(channel);
        if self.ready.lock().unwrap().contains(&name) {
            return Ok(());
        }
        let want = self.stream_config(channel);
        match self.js.get_stream(&name).await {
            Ok(found) => {
                let have = &found.cached_info().config;
                if (have.max_messages, have.max_bytes, have.max_age)
                    != (want.max_messages, want.max_bytes, want.max_age)
                {
                    let mut update = have.clone();
                    update.max_messages = want.max_messages;
                    update.max_bytes = want.max_bytes;
                    update.max_age = want.max_age;
                    self.js.update_stream(update).await.map_err(failed)?;
                    tracing::info!("JetStream: stream {name}: limits brought to the config");
                }
            }
            Err(e) if is_not_found(&e) => match self.js.create_stream(want).await {
                Ok(_) => tracing::info!("JetStream: created stream {name} for {channel}"),
                // Another node created it first: fine, same name, same subject.
                Err(e) if is_name_taken(&e) => {}
                Err(e) if e.kind() == CreateStreamErrorKind::TimedOut => {
                    return Err(JsError::Unavailable(e.to_string()));
                }
                Err(e) => return Err(failed(e)),
            },
            Err(e) => return Err(unavailable(e)),
        }
        self.ready.lock().unwrap().insert(name);
        Ok(())
    }

    fn stream_config(&self, channel: &str) -> stream::Config {
        let r = self.retention(channel);
        let limit = |v: Option<u64>| v.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        stream::Config {
            name: names::stream_name(channel),
            description: Some(format!("ringwire durable channel {channel}")),
            subjects: vec![names::subject(channel)],
            storage: StorageType::File,
            num_replicas: self.replicas,
            max_messages: limit(r.max_count),
            max_bytes: limit(r.max_bytes),
            max_age: r.max_age.unwrap_or_default(),
            discard: DiscardPolicy::Old,
            duplicate_window: DEDUPE_WINDOW,
            ..Default::default()
        }
    }

    /// How many times an append or a consumer-state write was tried again (a metric: they
    /// happen on timeouts and leader elections).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// A fresh `Nats-Msg-Id`: unique to this process and message.
    pub fn next_msg_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}/{:016x}/{n}", self.node, self.incarnation)
    }

    /// Appends `data` to `channel` (creating its stream if need be) and returns its sequence
    /// once JetStream acknowledged it. Retried on timeouts and leader elections.
    pub async fn append(&self, channel: &str, data: Bytes) -> Result<u64, JsError> {
        self.append_traced(channel, data, None).await
    }

    /// [`append`](Self::append) for a request with a trace: its `traceparent` goes with the
    /// message as a header.
    pub async fn append_traced(
        &self,
        channel: &str,
        data: Bytes,
        trace: Option<&Traceparent>,
    ) -> Result<u64, JsError> {
        let id = self.next_msg_id();
        self.append_with_id(channel, &id, data, trace).await
    }

    /// [`append`](Self::append) with the caller's `Nats-Msg-Id`: a second append with the
    /// same id within [`DEDUPE_WINDOW`] is not stored again and returns the first one's seq.
    pub async fn append_with_id(
        &self,
        channel: &str,
        msg_id: &str,
        data: Bytes,
        trace: Option<&Traceparent>,
    ) -> Result<u64, JsError> {
        let subject = names::subject(channel);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match self.get_or_create_stream(channel).await {
                Ok(()) => {
                    self.publish(&subject, msg_id, data.clone(), None, trace)
                        .await
                }
                Err(e) => Err(e),
            };
            let err = match result {
                Ok(seq) => return Ok(seq),
                Err(JsError::Unavailable(why)) if attempt < APPEND_ATTEMPTS => why,
                Err(e) => return Err(e),
            };
            tracing::debug!("JetStream: append to {channel} (try {attempt}): {err}");
            self.retries.fetch_add(1, Ordering::Relaxed);
            // Maybe the stream was deleted: check again before the next try.
            self.ready
                .lock()
                .unwrap()
                .remove(&names::stream_name(channel));
            let wait = Duration::from_millis(100).saturating_mul(1 << attempt.min(5));
            tokio::time::sleep(wait.min(RETRY_MAX)).await;
        }
    }

    /// One publish and its acknowledgement; `expect`: the subject's last sequence must be
    /// this (0: no message on the subject), else [`JsError::Conflict`].
    async fn publish(
        &self,
        subject: &str,
        msg_id: &str,
        data: Bytes,
        expect: Option<u64>,
        trace: Option<&Traceparent>,
    ) -> Result<u64, JsError> {
        // JetStream publishes skip the client's own size check, and a server that gets one
        // over `max_payload` closes the connection: check here (0: not connected yet).
        let trace = trace.and_then(|t| std::str::from_utf8(t).ok());
        let values = [msg_id, self.node.as_str(), trace.unwrap_or_default()];
        let room = payload_room(self.client.server_info().max_payload, &values);
        if let Some(max) = room.filter(|&m| data.len() > m) {
            return Err(JsError::TooLarge {
                len: data.len(),
                max,
            });
        }
        let mut headers = HeaderMap::new();
        headers.insert(NODE_HEADER, self.node.as_str());
        if let Some(t) = trace {
            headers.insert(TRACE_HEADER, t);
        }
        let mut message = PublishMessage::build()
            .payload(data)
            .headers(headers)
            .message_id(msg_id);
        if let Some(seq) = expect {
            message = message.expected_last_subject_sequence(seq);
        }
        let ack = self
            .js
            .send_publish(subject.to_string(), message)
            .await
            .map_err(publish_error)?
            .await
            .map_err(publish_error)?;
        Ok(ack.sequence)
    }

    /// A core-NATS subscription to `channel`'s subject: a message on it means "something was
    /// published to `channel`", without its sequence (see the module docs). A new
    /// subscription may miss copies published in its first moments (interest spreads through
    /// the cluster asynchronously; seen with nats-server 2.9), and copies published while this
    /// node is disconnected never arrive: so the caller reads the stream *after* subscribing
    /// and again after each reconnect, never relying on the copies for completeness.
    pub async fn subscribe_live(&self, channel: &str) -> Result<Subscriber, JsError> {
        let sub = self
            .client
            .subscribe(names::subject(channel))
            .await
            .map_err(unavailable)?;
        self.client.flush().await.map_err(unavailable)?;
        Ok(sub)
    }
}

fn is_not_found(e: &GetStreamError) -> bool {
    matches!(e.kind(), GetStreamErrorKind::JetStream(js) if js.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

fn is_name_taken(e: &CreateStreamError) -> bool {
    matches!(e.kind(), CreateStreamErrorKind::JetStream(js) if js.error_code() == ErrorCode::STREAM_NAME_EXIST)
}

fn publish_error(e: PublishError) -> JsError {
    match e.kind() {
        PublishErrorKind::TimedOut
        | PublishErrorKind::StreamNotFound
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::MaxAckPending => JsError::Unavailable(e.to_string()),
        PublishErrorKind::WrongLastSequence => JsError::Conflict,
        _ => match js_error_of(&e) {
            // 503: JetStream (or the stream's Raft group) is not available right now.
            Some(js) if js.code() == 503 => JsError::Unavailable(js.to_string()),
            Some(js) => JsError::Failed(js.to_string()),
            None => JsError::Failed(e.to_string()),
        },
    }
}

/// The JetStream API error inside `e`, if it is one.
fn js_error_of<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a jetstream::Error> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(js) = s.downcast_ref::<jetstream::Error>() {
            return Some(js);
        }
        source = s.source();
    }
    None
}

fn unavailable(e: impl fmt::Display) -> JsError {
    JsError::Unavailable(e.to_string())
}

fn failed(e: impl fmt::Display) -> JsError {
    JsError::Failed(e.to_string())
}
