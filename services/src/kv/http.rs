//! The KV over HTTP: `/kv/{key}` and `/kv/?prefix=...` (see the module above for the table).

use super::query::{Tags, decode, etag, param, parse_etags};
use crate::traced::db_for;
use bytes::{Bytes, BytesMut};
use ringwire_db::{Cond, Db, Error as DbError, Op, Outcome};
use ringwire_net::{
    Error, Request, Responder,
    auth::Need,
    problem::{method_not_allowed, send_error},
};
use ringwire_protocol::http1::Framing;

const BINARY: (&str, &[u8]) = ("Content-Type", b"application/octet-stream");
const JSON: (&str, &[u8]) = ("Content-Type", b"application/json");

/// Listings return at most this many keys, whatever `limit` asks.
pub const MAX_LIMIT: usize = 1000;
const DEFAULT_LIMIT: usize = 100;

/// The KV service for one worker core (the core's handle on the store).
pub struct KvHttp {
    db: Db,
}

impl KvHttp {
    /// Serves `db`.
    pub fn new(db: Db) -> KvHttp {
        KvHttp { db }
    }

    /// Answers a request for `/kv/{rest}`.
    pub async fn handle(
        &self,
        req: &mut Request<'_>,
        res: &mut Responder<'_>,
        rest: &str,
    ) -> Result<(), Error> {
        let method = req.method().as_str();
        if rest.is_empty() {
            return match method {
                "GET" | "HEAD" => self.list(req, res).await,
                _ => {
                    req.authorize(Need::Data)?;
                    method_not_allowed(req, res, b"GET, HEAD")
                }
            };
        }
        let key = decode(rest);
        // The edge decides before anything about the key is told (reserved, too long...).
        req.authorize(match method {
            "GET" | "HEAD" => Need::KvRead(&key),
            "PUT" | "DELETE" => Need::KvWrite(&key),
            _ => Need::Data,
        })?;
        if super::reserved(&key) {
            return reserved(req, res);
        }
        match method {
            "GET" | "HEAD" => self.get(req, res, &key).await,
            "PUT" => self.put(req, res, key).await,
            "DELETE" => self.delete(req, res, key).await,
            _ => method_not_allowed(req, res, b"GET, HEAD, PUT, DELETE"),
        }
    }

    async fn get(
        &self,
        req: &Request<'_>,
        res: &mut Responder<'_>,
        key: &[u8],
    ) -> Result<(), Error> {
        if key.len() > ringwire_db::MAX_KEY {
            return db_error(req, res, &DbError::BadKey { len: key.len() });
        }
        let none_match = req
            .header("if-none-match")
            .and_then(|f| parse_etags(f, false));
        // On the embedded store the value is copied straight from the map into the response:
        // one copy, no Bytes.
        let db = db_for(&self.db, req.trace());
        let r = db.with_value(key, |found| match found {
            None => not_found(req, res),
            Some((version, value)) => {
                let tag = etag(version);
                let fresh = match &none_match {
                    Some(Tags::Any) => true,
                    Some(Tags::List(l)) => l.contains(&version),
                    None => false,
                };
                if fresh {
                    res.send(304, &[("ETag", tag.as_bytes())], b"")
                } else {
                    res.send(200, &[BINARY, ("ETag", tag.as_bytes())], value)
                }
            }
        });
        let r = r.await;
        match r {
            Ok(sent) => sent,
            Err(e) => db_error(req, res, &e),
        }
    }

    async fn put(
        &self,
        req: &mut Request<'_>,
        res: &mut Responder<'_>,
        key: Vec<u8>,
    ) -> Result<(), Error> {
        let db = db_for(&self.db, req.trace());
        let cond = match condition(req, &db, &key, true).await {
            Ok(c) => c,
            Err(r) => return refused(req, res, r),
        };
        let max = self.db.max_value();
        let value = match read_body(req, max).await? {
            Some(v) => v,
            None => {
                res.close_connection();
                let msg = format!("the value is over the limit of {max} bytes (kv.max_value)");
                return send_error(req, res, 413, "kv.value_too_large", &msg, &[]);
            }
        };
        match db.write(vec![Op::put(key, value, cond)]).await {
            Ok(out) => match out.first() {
                Some(Outcome::Put { version, created }) => {
                    let tag = etag(*version);
                    let status = if *created { 201 } else { 204 };
                    res.send(status, &[("ETag", tag.as_bytes())], b"")
                }
                other => {
                    let e = DbError::Storage(format!("unexpected outcome {other:?}"));
                    db_error(req, res, &e)
                }
            },
            Err(e) => db_error(req, res, &e),
        }
    }

    async fn delete(
        &self,
        req: &mut Request<'_>,
        res: &mut Responder<'_>,
        key: Vec<u8>,
    ) -> Result<(), Error> {
        let db = db_for(&self.db, req.trace());
        let cond = match condition(req, &db, &key, false).await {
            Ok(c) => c,
            Err(r) => return refused(req, res, r),
        };
        match db.write(vec![Op::delete(key, cond)]).await {
            Ok(out) => match out.first() {
                Some(Outcome::Delete { existed: true }) => res.send(204, &[], b""),
                _ => not_found(req, res),
            },
            Err(e) => db_error(req, res, &e),
        }
    }

    async fn list(&self, req: &Request<'_>, res: &mut Responder<'_>) -> Result<(), Error> {
        let q = req.query();
        let prefix = param(q, "prefix").unwrap_or_default();
        req.authorize(Need::KvScan(&prefix))?;
        let after = param(q, "after").filter(|a| !a.is_empty());
        let limit = match param(q, "limit") {
            None => DEFAULT_LIMIT,
            Some(l) => match std::str::from_utf8(&l)
                .ok()
                .and_then(|l| l.parse::<usize>().ok())
            {
                Some(n) if n >= 1 => n.min(MAX_LIMIT),
                _ => {
                    let msg = "limit must be a whole number from 1";
                    return send_error(req, res, 400, "kv.bad_request", msg, &[]);
                }
            },
        };
        if super::reserved(&prefix) {
            return reserved(req, res);
        }
        let after = super::listing_after(&prefix, after.as_deref());
        let db = db_for(&self.db, req.trace());
        let page = match db.scan(&prefix, after.as_deref(), limit).await {
            Ok(p) => p,
            Err(e) => return db_error(req, res, &e),
        };
        let text = |k: &Bytes| String::from_utf8_lossy(k).into_owned();
        let body = serde_json::json!({
            "keys": page.keys.iter().map(text).collect::<Vec<_>>(),
            "next": page.next.as_ref().map(text),
        });
        res.send(200, &[JSON], body.to_string().as_bytes())
    }
}

/// Why a conditional write is not attempted.
enum Refused {
    /// 400: a malformed precondition field.
    Malformed,
    /// 412: a precondition is false now.
    Failed,
    /// The store could not be read.
    Db(DbError),
}

/// The write's condition from `If-Match` and `If-None-Match` (RFC 9110 13.2.2: If-Match
/// first, then If-None-Match). A list of tags cannot be one compare-and-set in the store, so
/// the key's current version is read first and the write is made conditional on exactly that
/// version: if the key changes in between, the write fails with 412 as if the precondition
/// had been false, and nothing is written under a condition that no longer holds.
async fn condition(req: &Request<'_>, db: &Db, key: &[u8], put: bool) -> Result<Cond, Refused> {
    let if_match = match req.header("if-match") {
        Some(f) => Some(parse_etags(f, true).ok_or(Refused::Malformed)?),
        None => None,
    };
    let if_none = match req.header("if-none-match") {
        Some(f) if put => Some(parse_etags(f, false).ok_or(Refused::Malformed)?),
        _ => None,
    };
    match (&if_match, &if_none) {
        (None, None) => return Ok(Cond::Any),
        (Some(Tags::Any), None) => return Ok(Cond::Exists),
        (None, Some(Tags::Any)) => return Ok(Cond::Absent),
        (Some(Tags::List(l)), None) if l.len() == 1 => return Ok(Cond::Version(l[0])),
        _ => {}
    }
    let current = db
        .with_value(key, |v| v.map(|(version, _)| version))
        .await
        .map_err(Refused::Db)?;
    let holds = |tags: &Tags| match (tags, current) {
        (Tags::Any, v) => v.is_some(),
        (Tags::List(l), Some(v)) => l.contains(&v),
        (Tags::List(_), None) => false,
    };
    if if_match.as_ref().is_some_and(|t| !holds(t)) || if_none.as_ref().is_some_and(holds) {
        return Err(Refused::Failed);
    }
    Ok(match current {
        Some(v) => Cond::Version(v),
        None => Cond::Absent,
    })
}

/// The whole body, or `None` if it is over `max` bytes.
pub(crate) async fn read_body(req: &mut Request<'_>, max: usize) -> Result<Option<Bytes>, Error> {
    let mut buf = match req.body().framing() {
        Framing::Length(n) if n > max as u64 => return Ok(None),
        // Grown as bytes arrive: a header alone must not reserve the whole value.
        Framing::Length(n) => BytesMut::with_capacity((n as usize).min(64 * 1024)),
        _ => BytesMut::new(),
    };
    while let Some(piece) = req.body().chunk().await? {
        if buf.len() + piece.len() > max {
            return Ok(None);
        }
        buf.extend_from_slice(piece);
    }
    Ok(Some(buf.freeze()))
}

fn refused(req: &Request<'_>, res: &mut Responder<'_>, r: Refused) -> Result<(), Error> {
    match r {
        Refused::Malformed => {
            let msg = "malformed If-Match or If-None-Match";
            send_error(req, res, 400, "kv.bad_request", msg, &[])
        }
        Refused::Failed => {
            let msg = "a precondition (If-Match or If-None-Match) is false";
            send_error(req, res, 412, "kv.precondition_failed", msg, &[])
        }
        Refused::Db(e) => db_error(req, res, &e),
    }
}

fn not_found(req: &Request<'_>, res: &mut Responder<'_>) -> Result<(), Error> {
    send_error(req, res, 404, "kv.not_found", "no such key", &[])
}

fn reserved(req: &Request<'_>, res: &mut Responder<'_>) -> Result<(), Error> {
    send_error(req, res, 400, "kv.reserved_key", super::RESERVED, &[])
}

/// A store error as an answer. Only errors about the request itself keep their text; the
/// others are logged with the request id and answered with a code and a generic message.
fn db_error(req: &Request<'_>, res: &mut Responder<'_>, e: &DbError) -> Result<(), Error> {
    let (status, code) = match e {
        DbError::BadKey { .. } | DbError::BadLogName => (400, "kv.bad_key"),
        DbError::ValueTooLarge { .. } => (413, "kv.value_too_large"),
        DbError::VersionMismatch { .. } => (412, "kv.precondition_failed"),
        DbError::MapFull { .. } => (507, "kv.store_full"),
        DbError::Busy | DbError::WriterGone | DbError::Unavailable { .. } => {
            (503, "kv.unavailable")
        }
        DbError::Storage(_) => (500, "kv.internal"),
    };
    let message = match e {
        DbError::BadKey { .. }
        | DbError::BadLogName
        | DbError::ValueTooLarge { .. }
        | DbError::VersionMismatch { .. } => e.to_string(),
        DbError::MapFull { .. } => "the store is full: the operator must grow it".into(),
        DbError::Storage(_) => "the store failed; quote the request id to the operator".into(),
        _ => "the store is unavailable: retry after Retry-After seconds".into(),
    };
    if status >= 500 {
        tracing::error!(
            path = req.path(),
            request_id = req.request_id(),
            "kv request failed: {e}"
        );
    }
    if status == 503 {
        let after = match e {
            DbError::Unavailable { retry_after, .. } => retry_after.as_secs_f64().ceil().max(1.0),
            _ => 1.0,
        };
        let after = format!("{after}");
        let headers = [("Retry-After", after.as_bytes())];
        send_error(req, res, status, code, &message, &headers)
    } else {
        send_error(req, res, status, code, &message, &[])
    }
}
