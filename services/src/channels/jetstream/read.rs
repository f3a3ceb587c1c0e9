//! Reading a durable channel back: its extent, its messages from a sequence (one "get
//! message" request each, to the stream's leader), and where a time falls (a short-lived
//! ephemeral pull consumer: portable to nats-server 2.9).

use super::{
    JetStreamLogs, JsError, MAX_SEEK_MS, REQUEST_TIMEOUT, Record, StreamInfo, is_not_found, names,
    unavailable,
};
use async_nats::jetstream::{
    ErrorCode,
    consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
    stream::{ConsumerErrorKind, RawMessageErrorKind},
};
use futures_util::StreamExt;
use std::time::{Duration, UNIX_EPOCH};

impl JetStreamLogs {
    /// `channel`'s extent; a channel never written (no stream): first = next = 1, empty.
    pub async fn info(&self, channel: &str) -> Result<StreamInfo, JsError> {
        let name = names::stream_name(channel);
        // (Getting a stream asks for its info: the state is fresh.)
        let stream = match self.js.get_stream(&name).await {
            Ok(s) => s,
            Err(e) if is_not_found(&e) => {
                return Ok(StreamInfo {
                    first: 1,
                    next: 1,
                    count: 0,
                    bytes: 0,
                });
            }
            Err(e) => return Err(unavailable(e)),
        };
        let state = &stream.cached_info().state;
        let next = state.last_sequence + 1;
        Ok(StreamInfo {
            first: if state.messages == 0 {
                next
            } else {
                state.first_sequence
            },
            next,
            count: state.messages,
            bytes: state.bytes,
        })
    }

    /// Up to `limit` messages of `channel` from sequence `from` on, in order (a `from`
    /// before the first kept message starts at the first; deleted sequences are skipped).
    /// Empty when there are none or the channel was never written.
    ///
    /// Each message is one "get message" request to the stream's leader, all of a page at
    /// once: no consumer is made, so a read needs only the stream's leader (making a reader
    /// consumer after a NATS server died could wait for a peer that is gone).
    pub async fn read(
        &self,
        channel: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<Record>, JsError> {
        let info = self.info(channel).await?;
        let from = from.max(info.first).max(1);
        let to = info.next.min(from.saturating_add(limit as u64));
        if from >= to {
            return Ok(Vec::new());
        }
        let name = names::stream_name(channel);
        let get = async {
            let stream = self
                .js
                .get_stream_no_info(&name)
                .await
                .map_err(unavailable)?;
            let gets = (from..to).map(|seq| {
                let stream = &stream;
                async move { stream.get_raw_message(seq).await }
            });
            let mut out = Vec::with_capacity((to - from) as usize);
            for r in futures_util::future::join_all(gets).await {
                match r {
                    Ok(m) => {
                        let ms =
                            u64::try_from(m.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
                        out.push((m.sequence, ms, m.payload));
                    }
                    // Trimmed (or deleted) meanwhile.
                    Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => {}
                    Err(e) => return Err(unavailable(e)),
                }
            }
            Ok(out)
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, get).await {
            Ok(r) => r,
            Err(_) => Err(JsError::Unavailable(format!("reading {channel} timed out"))),
        }
    }

    /// The sequence of `channel`'s first kept message published at or after `since_ms`
    /// (Unix ms), or the next sequence if there is none.
    pub async fn seek_time(&self, channel: &str, since_ms: u64) -> Result<u64, JsError> {
        // Past any time a message could carry (and past what the time crate takes).
        if since_ms >= MAX_SEEK_MS {
            return Ok(self.info(channel).await?.next);
        }
        let start = DeliverPolicy::ByStartTime {
            start_time: (UNIX_EPOCH + Duration::from_millis(since_ms)).into(),
        };
        match self.fetch(channel, start, 1).await?.first() {
            Some((seq, _, _)) => Ok(*seq),
            None => Ok(self.info(channel).await?.next),
        }
    }

    /// Reads through a short-lived ephemeral pull consumer (portable to nats-server 2.9,
    /// which has no batched direct get): one no-wait fetch, then the consumer is deleted.
    async fn fetch(
        &self,
        channel: &str,
        start: DeliverPolicy,
        limit: usize,
    ) -> Result<Vec<Record>, JsError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let name = names::stream_name(channel);
        let config = pull::Config {
            deliver_policy: start,
            ack_policy: AckPolicy::None,
            // Removed by the server if this node dies before deleting it.
            inactive_threshold: Duration::from_secs(30),
            num_replicas: 1,
            memory_storage: true,
            ..Default::default()
        };
        let consumer: PullConsumer = match self.js.create_consumer_on_stream(config, &name).await {
            Ok(c) => c,
            Err(e) => {
                if let ConsumerErrorKind::JetStream(js) = e.kind()
                    && js.error_code() == ErrorCode::STREAM_NOT_FOUND
                {
                    return Ok(Vec::new());
                }
                return Err(unavailable(e));
            }
        };
        let result = tokio::time::timeout(REQUEST_TIMEOUT, collect(&consumer, limit)).await;
        let consumer_name = consumer.cached_info().name.clone();
        if let Err(e) = self
            .js
            .delete_consumer_from_stream(&consumer_name, &name)
            .await
        {
            tracing::debug!("JetStream: reader {consumer_name} on {name} not deleted: {e}");
        }
        match result {
            Ok(records) => records,
            Err(_) => Err(JsError::Unavailable(format!("reading {channel} timed out"))),
        }
    }
}

async fn collect(consumer: &PullConsumer, limit: usize) -> Result<Vec<Record>, JsError> {
    let mut batch = consumer
        .fetch()
        .max_messages(limit)
        .messages()
        .await
        .map_err(unavailable)?;
    let mut out = Vec::with_capacity(limit.min(256));
    while let Some(msg) = batch.next().await {
        let msg = msg.map_err(|e| JsError::Unavailable(e.to_string()))?;
        let info = msg
            .info()
            .map_err(|e| JsError::Failed(format!("delivery without its metadata: {e}")))?;
        let ms = u64::try_from(info.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let seq = info.stream_sequence;
        out.push((seq, ms, msg.message.payload.clone()));
    }
    Ok(out)
}
