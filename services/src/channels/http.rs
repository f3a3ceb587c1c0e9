//! Channels over HTTP (`docs/HTTP.md`, "Channels"):
//!
//! | request | answer |
//! |---|---|
//! | `POST /channels/{name}` (body = message) | durable: `200 {"channel","seq"}` once durable; ephemeral: `204` |
//! | `GET /channels/{name}/messages?from=N&limit=M` | `200 {"channel","first","next","messages":[...]}` (durable only) |
//! | `GET /channels/{name}/events` | Server-Sent Events until the client goes or the server drains |
//!
//! Errors are the server's structured errors (`docs/ERRORS.md`): JSON or text by `Accept`.

use super::{
    core::{ChannelError, Channels},
    feed::{Feed, FeedError, Item},
    sse,
    stats::{ChannelStats, Open},
};
use crate::kv::{http::read_body, query::param};
use base64::Engine as _;
use ringwire_db::Error as DbError;
use ringwire_net::{
    Core, Error, Request, Responder,
    auth::Need,
    problem::{method_not_allowed, send_error},
    stream::Wakeup,
};
use ringwire_protocol::channels::Start;
use std::{future::poll_fn, pin::pin, rc::Rc, task::Poll};

/// Most messages one `/messages` page returns.
pub const MAX_PAGE: usize = 1000;
/// Messages a `/messages` page returns unless `limit` says otherwise.
pub const DEFAULT_PAGE: usize = 100;
/// What an EventSource waits before reconnecting (sent as `retry:`), in milliseconds.
pub const SSE_RETRY_MS: u64 = 2000;
/// Messages written to an event stream per wake-up before it flushes.
const SSE_BATCH: usize = 256;

const JSON: (&str, &[u8]) = ("Content-Type", b"application/json");

/// The `/channels/` routes of one core.
pub struct ChannelsHttp {
    channels: Rc<Channels>,
}

impl ChannelsHttp {
    /// Serves `channels`.
    pub fn new(channels: Rc<Channels>) -> ChannelsHttp {
        ChannelsHttp { channels }
    }

    /// Handles `/channels/{rest}`.
    pub async fn handle(
        &self,
        req: &mut Request<'_>,
        res: &mut Responder<'_>,
        rest: &str,
    ) -> Result<(), Error> {
        let method = req.method().as_str();
        let (name, what) = match rest.split_once('/') {
            Some((name, what)) => (name, Some(what)),
            None => (rest, None),
        };
        // The edge decides first: publishing needs pub:, reading sub:.
        req.authorize(match (method, what) {
            ("POST", None) => Need::Pub(name),
            (_, Some("messages" | "events")) => Need::Sub(name),
            _ => Need::Data,
        })?;
        if let Err(e) = self.channels.durable(name) {
            return send_error(req, res, 400, "channels.bad_name", &e.to_string(), &[]);
        }
        match (method, what) {
            ("POST", None) => self.publish(req, res, name).await,
            ("GET" | "HEAD", Some("messages")) => self.messages(req, res, name).await,
            ("GET", Some("events")) => self.events(req, res, name).await,
            (_, None) => method_not_allowed(req, res, b"POST"),
            (_, Some("messages")) => method_not_allowed(req, res, b"GET, HEAD"),
            (_, Some("events")) => method_not_allowed(req, res, b"GET"),
            _ => send_error(
                req,
                res,
                404,
                "route.not_found",
                "no such channel route",
                &[],
            ),
        }
    }

    async fn publish(
        &self,
        req: &mut Request<'_>,
        res: &mut Responder<'_>,
        name: &str,
    ) -> Result<(), Error> {
        let max = self.channels.db().max_value();
        let Some(body) = read_body(req, max).await? else {
            let detail = format!("a message is at most {max} bytes (kv.max_value)");
            return send_error(req, res, 413, "channels.message_too_large", &detail, &[]);
        };
        let published = match self.channels.publish(name, body, req.trace()) {
            Ok(p) => p.await,
            Err(e) => Err(e),
        };
        match published {
            Ok(0) => res.send(204, &[], b""),
            Ok(seq) => {
                let body = serde_json::json!({ "channel": name, "seq": seq });
                res.send(200, &[JSON], body.to_string().as_bytes())
            }
            Err(e) => channel_error(req, res, &e),
        }
    }

    async fn messages(
        &self,
        req: &mut Request<'_>,
        res: &mut Responder<'_>,
        name: &str,
    ) -> Result<(), Error> {
        let q = req.query();
        let (Some(from), Some(limit)) = (number(q, "from"), number(q, "limit")) else {
            let detail = "from and limit are whole numbers";
            return send_error(req, res, 400, "channels.bad_request", detail, &[]);
        };
        let limit = limit.map_or(DEFAULT_PAGE, |l| (l as usize).clamp(1, MAX_PAGE));
        let info = match self.channels.info(name).await {
            Ok(i) => i,
            Err(e) => return channel_error(req, res, &e),
        };
        let from = from.unwrap_or(info.first).max(info.first);
        let entries = match self.channels.read(name, from, limit).await {
            Ok(e) => e,
            Err(e) => return channel_error(req, res, &e),
        };
        let messages: Vec<_> = entries
            .iter()
            .map(|e| match std::str::from_utf8(&e.data) {
                Ok(text) => serde_json::json!({"seq": e.seq, "time_ms": e.time_ms, "data": text}),
                Err(_) => serde_json::json!({
                    "seq": e.seq,
                    "time_ms": e.time_ms,
                    "data_base64": base64::engine::general_purpose::STANDARD.encode(&e.data),
                }),
            })
            .collect();
        let body = serde_json::json!({
            "channel": name,
            "first": info.first,
            "next": info.next,
            "messages": messages,
        });
        res.send(200, &[JSON], body.to_string().as_bytes())
    }

    async fn events(
        &self,
        req: &mut Request<'_>,
        res: &mut Responder<'_>,
        name: &str,
    ) -> Result<(), Error> {
        let q = req.query();
        let start = match start_of(req.header("last-event-id"), q) {
            Ok(s) => s,
            Err(why) => return send_error(req, res, 400, "channels.bad_request", why, &[]),
        };
        let wakeup = Wakeup::new();
        // Subscribed before the start is looked up, so nothing published in between is lost.
        let mut feed = Feed::join(&self.channels, name, wakeup);
        feed.routed().await;
        if feed.durable() {
            match self.channels.start_seq(name, start).await {
                Ok(seq) => feed.start_at(seq),
                Err(e) => return channel_error(req, res, &e),
            }
        } else if start != Start::New {
            return channel_error(req, res, &ChannelError::NotDurable);
        }
        let Some(core) = Core::current() else {
            return Err(Error::Service("no core on this thread".into()));
        };
        let stats = self.channels.stats().clone();
        let _open = Open::new(&stats.sse_open);
        res.close_connection();
        res.start(
            200,
            &[
                ("Content-Type", b"text/event-stream"),
                ("Cache-Control", b"no-store"),
                ("X-Accel-Buffering", b"no"),
            ],
            None,
        )?;
        let mut out = Vec::new();
        sse::retry(&mut out, SSE_RETRY_MS);
        res.write(&out).await?;
        // The head goes out now: an EventSource is "open" when it has it.
        res.flush().await?;
        let heartbeat = self.channels.settings().sse_heartbeat;
        // The feed's next items stay one future across heartbeats: a store read in flight is
        // never cancelled (on PostgreSQL that would drop its pooled connection).
        let mut next = Box::pin(next_items(feed));
        loop {
            let event = {
                let mut beat = pin!(ringwire_reactor::time::sleep(heartbeat));
                let mut drained = pin!(core.drained());
                poll_fn(|cx| {
                    if drained.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    if let Poll::Ready((feed, items)) = next.as_mut().poll(cx) {
                        next.set(next_items(feed));
                        return Poll::Ready(Some(items));
                    }
                    beat.as_mut().poll(cx).map(|()| Some(Ok(Vec::new())))
                })
                .await
            };
            out.clear();
            match event {
                None => break,
                Some(Ok(items)) if items.is_empty() => sse::heartbeat(&mut out),
                Some(Ok(items)) => {
                    for item in items {
                        match item {
                            Item::Message { seq, data } => {
                                sse::event(&mut out, (seq != 0).then_some(seq), &data)
                            }
                            Item::Gap { from, to } => {
                                let data = format!("{{\"from\":{from},\"to\":{to}}}");
                                sse::named(&mut out, "gap", &data);
                            }
                        }
                    }
                }
                Some(Err(FeedError::Slow)) => {
                    ChannelStats::add(&stats.sse_slow, 1);
                    let why = "this reader fell stream.subscriber_queue messages behind";
                    sse::named(&mut out, "slow", why);
                    res.write(&out).await?;
                    break;
                }
                Some(Err(FeedError::Store(e))) => {
                    sse::named(&mut out, "error", &format!("the store failed: {e}"));
                    res.write(&out).await?;
                    break;
                }
            }
            // A write stalled for timeouts.write fails here, and the connection closes.
            res.write(&out).await?;
            res.flush().await?;
        }
        res.finish().await?;
        res.flush().await
    }
}

/// The feed's next items, the feed handed back with them.
async fn next_items(mut feed: Feed) -> (Feed, Result<Vec<Item>, FeedError>) {
    let items = feed.next(SSE_BATCH).await;
    (feed, items)
}

/// Where an event stream starts: `Last-Event-ID` (resumes after it) beats `?from=`,
/// `?last=` and `?since=` (Unix milliseconds); by default new messages only.
fn start_of(last_event_id: Option<&[u8]>, q: Option<&str>) -> Result<Start, &'static str> {
    if let Some(id) = last_event_id.and_then(sse::last_event_id) {
        return Ok(Start::From(id.saturating_add(1)));
    }
    let bad = "from, last and since are whole numbers";
    for (key, make) in [
        ("from", Start::From as fn(u64) -> Start),
        ("last", Start::Last),
        ("since", Start::SinceMs),
    ] {
        match number(q, key) {
            None => return Err(bad),
            Some(Some(n)) => return Ok(make(n)),
            Some(None) => {}
        }
    }
    Ok(Start::New)
}

/// `Some(None)`: absent; `None`: present but not a number.
fn number(q: Option<&str>, key: &str) -> Option<Option<u64>> {
    match param(q, key) {
        None => Some(None),
        Some(v) => std::str::from_utf8(&v).ok()?.parse().ok().map(Some),
    }
}

/// A channel error as an answer: errors about the request keep their text; server-side ones
/// are logged with the request id and answered with a code and a generic message.
fn channel_error(
    req: &Request<'_>,
    res: &mut Responder<'_>,
    e: &ChannelError,
) -> Result<(), Error> {
    let (status, code) = match e {
        ChannelError::BadName => (400, "channels.bad_name"),
        ChannelError::TooLarge { .. } => (413, "channels.message_too_large"),
        ChannelError::NotDurable => (409, "channels.not_durable"),
        ChannelError::Unavailable(_) => (503, "channels.unavailable"),
        ChannelError::Conflict | ChannelError::TakenOver => (409, "channels.conflict"),
        ChannelError::Db(DbError::MapFull { .. }) => (507, "channels.store_full"),
        ChannelError::Db(DbError::Busy | DbError::WriterGone | DbError::Unavailable { .. }) => {
            (503, "channels.unavailable")
        }
        ChannelError::Db(_) => (500, "channels.internal"),
    };
    let message = match status {
        507 => "the store is full: the operator must grow it".to_string(),
        503 => "the channel is unavailable: retry after Retry-After seconds".to_string(),
        500 => "the store failed; quote the request id to the operator".to_string(),
        _ => e.to_string(),
    };
    if status >= 500 {
        tracing::error!(
            path = req.path(),
            request_id = req.request_id(),
            "channel request failed: {e}"
        );
    }
    let retry: &[(&str, &[u8])] = if status == 503 {
        &[("Retry-After", b"1")]
    } else {
        &[]
    };
    send_error(req, res, status, code, &message, retry)
}
