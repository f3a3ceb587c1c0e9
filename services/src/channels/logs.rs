//! Where durable channels keep their messages and their consumers' state: the node's store
//! (a log `ch/<channel>` and kv keys, embedded or PostgreSQL), or, in cluster mode, JetStream
//! (a stream per channel and a KV bucket, reached through the cluster bridge's thread). The
//! rest of the channels code sees only these operations.

use super::{
    core::{ChannelError, Channels, log_name},
    jetstream::JsError,
};
use crate::traced::db_for;
use bytes::Bytes;
use ringwire_db::{Cond, Error as DbError, LogEntry, LogInfo, Op, Outcome};
use ringwire_net::trace::TraceContext;

impl From<JsError> for ChannelError {
    fn from(e: JsError) -> Self {
        match e {
            JsError::Conflict => ChannelError::Conflict,
            JsError::Unavailable(why) => ChannelError::Unavailable(why),
            JsError::TooLarge { len, max } => ChannelError::TooLarge { len, max },
            JsError::Failed(why) => ChannelError::Db(DbError::Storage(why)),
        }
    }
}

/// Empty JetStream fetches below the stream's head before a read gives up (and returns what
/// it has; the reader reads again at the next wake-up).
const EMPTY_READS: u32 = 5;

impl Channels {
    /// Appends `data` to durable `channel`: its sequence number once durable. On the store the
    /// append is handed to the writer before this returns (so appends keep the call order).
    /// `trace`: the publishing request's (see [`Channels::publish`]).
    pub(crate) fn append(
        &self,
        channel: &str,
        data: Bytes,
        trace: Option<&TraceContext>,
    ) -> impl Future<Output = Result<u64, ChannelError>> + 'static + use<> {
        let store = self.js.is_none().then(|| {
            db_for(&self.db, trace).write(vec![Op::append(log_name(channel), data.clone())])
        });
        let js = self.js.clone();
        let channel = channel.to_string();
        let trace = trace.map(TraceContext::traceparent);
        async move {
            if let Some(write) = store {
                return match write.await?.first() {
                    Some(Outcome::Append { seq }) => Ok(*seq),
                    _ => Err(ChannelError::Db(DbError::Storage(
                        "an append without its outcome".into(),
                    ))),
                };
            }
            let js = js.expect("JetStream when not the store");
            Ok(js
                .call(|r| JsRequestOf::Append(channel, data, trace, r))
                .await?)
        }
    }

    /// The state of durable `channel` (never written: first = next = 1).
    pub(crate) async fn log_info(&self, channel: &str) -> Result<LogInfo, ChannelError> {
        let empty = LogInfo {
            first: 1,
            next: 1,
            count: 0,
            bytes: 0,
        };
        match &self.js {
            None => Ok(self.db.log_info(&log_name(channel)).await?.unwrap_or(empty)),
            Some(js) => {
                let ch = channel.to_string();
                let i = js.call(|r| JsRequestOf::Info(ch, r)).await?;
                Ok(LogInfo {
                    first: i.first,
                    next: i.next,
                    count: i.count,
                    bytes: i.bytes,
                })
            }
        }
    }

    /// Up to `limit` messages of durable `channel` from `from` on.
    pub(crate) async fn log_read(
        &self,
        channel: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>, ChannelError> {
        match &self.js {
            None => Ok(self.db.log_read(&log_name(channel), from, limit).await?),
            Some(js) => {
                // A JetStream fetch may come back short, even empty, before the end (what the
                // server had ready): read up to the stream's head as it was when asked, so a
                // short answer means the end, which readers rely on.
                let ch = channel.to_string();
                let head = js.call(|r| JsRequestOf::Info(ch, r)).await?.next;
                let mut out: Vec<LogEntry> = Vec::new();
                let (mut next, mut empty) = (from, 0);
                while out.len() < limit && next < head && empty < EMPTY_READS {
                    let ch = channel.to_string();
                    let want = limit - out.len();
                    let records = js.call(|r| JsRequestOf::Read(ch, next, want, r)).await?;
                    let Some(last) = records.last() else {
                        empty += 1;
                        continue;
                    };
                    next = last.0 + 1;
                    out.extend(records.into_iter().map(|(seq, time_ms, data)| LogEntry {
                        seq,
                        time_ms,
                        data,
                    }));
                }
                Ok(out)
            }
        }
    }

    /// The first sequence number of durable `channel` stored at or after `since_ms`.
    pub(crate) async fn log_seek(&self, channel: &str, since_ms: u64) -> Result<u64, ChannelError> {
        match &self.js {
            None => Ok(self.db.log_seek_time(&log_name(channel), since_ms).await?),
            Some(js) => {
                let ch = channel.to_string();
                Ok(js.call(|r| JsRequestOf::SeekTime(ch, since_ms, r)).await?)
            }
        }
    }

    /// A consumer's state and its version (compare-and-set token, never 0).
    pub(crate) async fn state_get(
        &self,
        key: &Bytes,
    ) -> Result<Option<(Bytes, u64)>, ChannelError> {
        match &self.js {
            None => Ok(self.db.get(key).await?.map(|e| (e.value, e.version))),
            Some(js) => Ok(js.call(|r| JsRequestOf::KvGet(key.clone(), r)).await?),
        }
    }

    /// Writes a consumer's state if its version is still `expect` (`None`: if it does not
    /// exist); the new version. [`ChannelError::Conflict`] when someone wrote it meanwhile.
    pub(crate) async fn state_put(
        &self,
        key: &Bytes,
        value: Vec<u8>,
        expect: Option<u64>,
    ) -> Result<u64, ChannelError> {
        match &self.js {
            None => {
                let cond = expect.map_or(Cond::Absent, Cond::Version);
                match self.db.write(vec![Op::put(key.clone(), value, cond)]).await {
                    Ok(out) => match out.first() {
                        Some(Outcome::Put { version, .. }) => Ok(*version),
                        _ => Err(ChannelError::Db(DbError::Storage(
                            "a put without its outcome".into(),
                        ))),
                    },
                    Err(DbError::VersionMismatch { .. }) => Err(ChannelError::Conflict),
                    Err(e) => Err(e.into()),
                }
            }
            Some(js) => {
                let (key, value) = (key.clone(), Bytes::from(value));
                Ok(js
                    .call(|r| JsRequestOf::KvPut(key, value, expect, r))
                    .await?)
            }
        }
    }

    /// Removes a consumer's state; whether it existed.
    pub(crate) async fn state_delete(&self, key: &Bytes) -> Result<bool, ChannelError> {
        match &self.js {
            None => {
                let out = self
                    .db
                    .write(vec![Op::delete(key.clone(), Cond::Any)])
                    .await?;
                Ok(matches!(
                    out.first(),
                    Some(Outcome::Delete { existed: true })
                ))
            }
            Some(js) => {
                if js
                    .call(|r| JsRequestOf::KvGet(key.clone(), r))
                    .await?
                    .is_none()
                {
                    return Ok(false);
                }
                js.call(|r| JsRequestOf::KvDelete(key.clone(), r)).await?;
                Ok(true)
            }
        }
    }
}

use super::jetstream::port::JsRequest as JsRequestOf;
