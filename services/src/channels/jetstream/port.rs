//! How the worker cores reach JetStream: requests over a bounded queue to the bridge thread,
//! where each runs as a task on its tokio runtime, and one-shot answers the cores await on
//! their own reactor (tokio's `sync` channels need no runtime to be awaited).

use super::{JetStreamLogs, JsError, Record, StreamInfo};
use bytes::Bytes;
use ringwire_net::trace::Traceparent;
use std::{rc::Rc, time::Duration};
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for the bridge thread, from all cores together; more are refused
/// (`UNAVAILABLE`) rather than queued.
pub const MAX_QUEUED: usize = 4096;
/// The longest a core waits for an answer (JetStream retries on its side, within this).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

type Reply<T> = oneshot::Sender<Result<T, JsError>>;

/// One request of a core.
pub enum JsRequest {
    /// [`JetStreamLogs::append`].
    /// Channel, data, the publishing request's `traceparent`.
    Append(String, Bytes, Option<Traceparent>, Reply<u64>),
    /// [`JetStreamLogs::info`].
    Info(String, Reply<StreamInfo>),
    /// [`JetStreamLogs::read`].
    Read(String, u64, usize, Reply<Vec<Record>>),
    /// [`JetStreamLogs::seek_time`].
    SeekTime(String, u64, Reply<u64>),
    /// [`JetStreamLogs::kv_get`].
    KvGet(Bytes, Reply<Option<(Bytes, u64)>>),
    /// [`JetStreamLogs::kv_create`] (revision `None`) or [`JetStreamLogs::kv_update`].
    KvPut(Bytes, Bytes, Option<u64>, Reply<u64>),
    /// [`JetStreamLogs::kv_delete`].
    KvDelete(Bytes, Reply<()>),
}

/// The bridge thread's end: the queue and what it needs to build [`JetStreamLogs`].
pub struct JsPort {
    /// Requests from the cores.
    pub requests: mpsc::Receiver<JsRequest>,
    /// JetStream replicas per stream (`cluster.replicas`).
    pub replicas: usize,
    /// Which channels are durable and their retention (`pubsub.durable`).
    pub durable: super::super::policy::Durability,
}

/// The cores' end (`Send` + `Clone`: one per core).
#[derive(Clone)]
pub struct JsHandle {
    tx: mpsc::Sender<JsRequest>,
}

/// A connected pair: the handle for the cores and the port for the bridge.
pub fn js_port(replicas: usize, durable: super::super::policy::Durability) -> (JsHandle, JsPort) {
    let (tx, requests) = mpsc::channel(MAX_QUEUED);
    (
        JsHandle { tx },
        JsPort {
            requests,
            replicas,
            durable,
        },
    )
}

impl JsHandle {
    /// Sends the request `make` builds around its reply and awaits the answer, at most
    /// [`ANSWER_TIMEOUT`] (on the calling core's reactor).
    pub async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> JsRequest) -> Result<T, JsError> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(make(reply)).map_err(|e| {
            JsError::Unavailable(match e {
                mpsc::error::TrySendError::Full(_) => {
                    format!("{MAX_QUEUED} requests already wait for the cluster bridge")
                }
                mpsc::error::TrySendError::Closed(_) => "the cluster bridge has stopped".into(),
            })
        })?;
        let mut answer = std::pin::pin!(answer);
        let mut timer = std::pin::pin!(ringwire_reactor::time::sleep(ANSWER_TIMEOUT));
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(r) = answer.as_mut().poll(cx) {
                return std::task::Poll::Ready(r.unwrap_or_else(|_| {
                    Err(JsError::Unavailable(
                        "the cluster bridge has stopped".into(),
                    ))
                }));
            }
            timer.as_mut().poll(cx).map(|()| {
                Err(JsError::Unavailable(format!(
                    "no answer from JetStream in {} s",
                    ANSWER_TIMEOUT.as_secs()
                )))
            })
        })
        .await
    }
}

/// Serves the cores' requests on the bridge thread until every handle is gone. Each request
/// is a task of its own, so a slow one does not hold the others.
pub async fn serve(logs: JetStreamLogs, mut requests: mpsc::Receiver<JsRequest>) {
    let logs = Rc::new(logs);
    while let Some(req) = requests.recv().await {
        let logs = logs.clone();
        tokio::task::spawn_local(async move {
            match req {
                JsRequest::Append(ch, data, trace, r) => {
                    let _ = r.send(logs.append_traced(&ch, data, trace.as_ref()).await);
                }
                JsRequest::Info(ch, r) => {
                    let _ = r.send(logs.info(&ch).await);
                }
                JsRequest::Read(ch, from, limit, r) => {
                    let _ = r.send(logs.read(&ch, from, limit).await);
                }
                JsRequest::SeekTime(ch, ms, r) => {
                    let _ = r.send(logs.seek_time(&ch, ms).await);
                }
                JsRequest::KvGet(key, r) => {
                    let _ = r.send(logs.kv_get(&key).await);
                }
                JsRequest::KvPut(key, value, None, r) => {
                    let _ = r.send(logs.kv_create(&key, value).await);
                }
                JsRequest::KvPut(key, value, Some(rev), r) => {
                    let _ = r.send(logs.kv_update(&key, value, rev).await);
                }
                JsRequest::KvDelete(key, r) => {
                    let _ = r.send(logs.kv_delete(&key).await);
                }
            }
        });
    }
}
