//! Named consumers' state across nodes: the JetStream KV bucket `RW_CONSUMERS`.
//!
//! The bucket is laid out as NATS KV buckets are (stream `KV_RW_CONSUMERS`, subjects
//! `$KV.RW_CONSUMERS.<key>`, one message kept per key), so `nats kv` tools can inspect it,
//! but it is driven through the stream API, which nats-server 2.9 fully supports: a key's
//! value is the last message on its subject and its **revision** is that message's stream
//! sequence. A create publishes with `Nats-Expected-Last-Subject-Sequence: 0`, an update
//! with the revision it read: JetStream's leader checks it against the subject's last
//! sequence, so two nodes racing on one consumer cannot both win (compare-and-set). A delete
//! purges the key's subject. Keys are any bytes (consumer keys start with NUL), written as
//! unpadded URL-safe base64 ([`names::kv_subject`]).
//!
//! Writes carry a `Nats-Msg-Id` and are retried on timeouts like appends; if a first try
//! was stored after all, the retry is answered as a duplicate with the first one's revision.

use super::{APPEND_ATTEMPTS, JetStreamLogs, JsError, RETRY_MAX, failed, names, unavailable};
use async_nats::jetstream::{
    ErrorCode,
    context::CreateStreamErrorKind,
    stream::{self, DiscardPolicy, LastRawMessageErrorKind, StorageType, Stream},
};
use bytes::Bytes;
use std::{sync::atomic::Ordering, time::Duration};

/// The bucket's stream.
pub const BUCKET_STREAM: &str = "KV_RW_CONSUMERS";

impl JetStreamLogs {
    /// The value of consumer-state `key` and its revision, `None` if it has none.
    pub async fn kv_get(&self, key: &[u8]) -> Result<Option<(Bytes, u64)>, JsError> {
        let bucket = self.bucket().await?;
        match bucket
            .get_last_raw_message_by_subject(&names::kv_subject(key))
            .await
        {
            Ok(msg) => {
                // A KV delete or purge marker (written by `nats kv`, never by us): no value.
                let op = msg.headers.get("KV-Operation").map(|v| v.as_str());
                if matches!(op, Some("DEL" | "PURGE")) {
                    return Ok(None);
                }
                Ok(Some((msg.payload, msg.sequence)))
            }
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Stores `value` under `key` if the key has no value; returns its revision.
    /// [`JsError::Conflict`] if it has one.
    pub async fn kv_create(&self, key: &[u8], value: Bytes) -> Result<u64, JsError> {
        self.kv_put(key, value, 0).await
    }

    /// Replaces `key`'s value if its revision is still `revision`; returns the new revision.
    /// [`JsError::Conflict`] if someone wrote or deleted it meanwhile.
    pub async fn kv_update(&self, key: &[u8], value: Bytes, revision: u64) -> Result<u64, JsError> {
        if revision == 0 {
            return Err(JsError::Failed("revision 0 is no revision".into()));
        }
        self.kv_put(key, value, revision).await
    }

    /// Removes `key` (and its value) whatever its revision; nothing if it has none.
    pub async fn kv_delete(&self, key: &[u8]) -> Result<(), JsError> {
        let bucket = self.bucket().await?;
        bucket
            .purge()
            .filter(names::kv_subject(key))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn kv_put(&self, key: &[u8], value: Bytes, expect: u64) -> Result<u64, JsError> {
        if key.is_empty() {
            return Err(JsError::Failed("empty key".into()));
        }
        let subject = names::kv_subject(key);
        let id = self.next_msg_id();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match self.bucket().await {
                Ok(_) => {
                    self.publish(&subject, &id, value.clone(), Some(expect), None)
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Err(JsError::Unavailable(why)) if attempt < APPEND_ATTEMPTS => {
                    tracing::debug!("JetStream: consumer state write (try {attempt}): {why}");
                    self.bucket_ready.store(false, Ordering::Relaxed);
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = Duration::from_millis(100).saturating_mul(1 << attempt.min(5));
                    tokio::time::sleep(wait.min(RETRY_MAX)).await;
                }
                other => return other,
            }
        }
    }

    /// The bucket's stream, created on first use.
    async fn bucket(&self) -> Result<Stream<()>, JsError> {
        if !self.bucket_ready.load(Ordering::Relaxed) {
            let config = stream::Config {
                name: BUCKET_STREAM.into(),
                description: Some("ringwire named consumers' state".into()),
                subjects: vec![format!("$KV.{}.>", names::CONSUMER_BUCKET)],
                max_messages_per_subject: 1,
                max_messages: -1,
                max_bytes: -1,
                storage: StorageType::File,
                num_replicas: self.replicas,
                discard: DiscardPolicy::New,
                allow_rollup: true,
                deny_delete: true,
                duplicate_window: super::DEDUPE_WINDOW,
                ..Default::default()
            };
            match self.js.create_stream(config).await {
                Ok(_) => {}
                Err(e) => match e.kind() {
                    // Made already (by this node earlier, or another one).
                    CreateStreamErrorKind::JetStream(js)
                        if js.error_code() == ErrorCode::STREAM_NAME_EXIST => {}
                    CreateStreamErrorKind::JetStream(_) => return Err(failed(e)),
                    _ => return Err(unavailable(e)),
                },
            }
            self.bucket_ready.store(true, Ordering::Relaxed);
        }
        self.js
            .get_stream_no_info(BUCKET_STREAM)
            .await
            .map_err(failed)
    }
}
