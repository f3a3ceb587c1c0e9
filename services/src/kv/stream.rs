//! The KV over the stream protocol: service `kv` (messages in `ringwire_protocol::kv`).
//!
//! On the embedded store, reads are answered at once from the worker's LMDB read
//! transaction. Writes (and, on PostgreSQL, reads too) run as local tasks, each appending its
//! answer when it is done (a write: once durable) and waking the connection, so answers come
//! out of order and many writes of one stream share a commit (or the core's connection
//! pool). A stream holds at most [`MAX_IN_FLIGHT`] writes and
//! [`MAX_BACKLOG`] bytes of unsent answers; past either it stops reading requests, and the
//! bytes it has not consumed keep the client's window closed.

use crate::{
    framed::{Inbox, Next},
    turn::{Finish, Turn},
};
use bytes::Bytes;
use ringwire_db::{Cond, Db, Error as DbError, Op, Outcome, Write};
use ringwire_net::auth::Need;
use ringwire_net::edge::{Access, Denial};
use ringwire_net::stream::{Progress, StreamHandler, StreamService, Wakeup};
use ringwire_protocol::kv::{self, Request, Response, Status};
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

/// Writes one stream may have waiting for the writer thread.
pub const MAX_IN_FLIGHT: usize = 256;
/// Answer bytes one stream may have waiting for the client's window.
pub const MAX_BACKLOG: usize = 1 << 20;
pub use crate::framed::PREPAID_PER_CORE;

/// The `kv` stream service of one core.
pub struct KvStream {
    db: Db,
    prepaid: Rc<Cell<usize>>,
}

impl KvStream {
    /// Serves `db`.
    pub fn new(db: Db) -> KvStream {
        KvStream {
            db,
            prepaid: Rc::new(Cell::new(0)),
        }
    }
}

impl StreamService for KvStream {
    fn open(&self, wakeup: Wakeup) -> Box<dyn StreamHandler> {
        self.open_for(wakeup, Access::open())
    }

    fn open_for(&self, wakeup: Wakeup, access: Access) -> Box<dyn StreamHandler> {
        Box::new(KvHandler {
            db: self.db.clone(),
            inbox: Inbox::new(self.prepaid.clone()),
            shared: Rc::new(RefCell::new(Shared::default())),
            last_write: RefCell::new(None),
            wakeup,
            access,
        })
    }
}

/// What finished writes hand back to the handler.
#[derive(Default)]
struct Shared {
    answers: Vec<u8>,
    in_flight: usize,
}

struct KvHandler {
    db: Db,
    inbox: Inbox,
    shared: Rc<RefCell<Shared>>,
    wakeup: Wakeup,
    /// The turn of this stream's latest write (PostgreSQL: writes wait for the one before).
    last_write: RefCell<Option<Rc<Turn>>>,
    /// The client, as the edge sees it: every request is checked and counted here.
    access: Access,
}

impl StreamHandler for KvHandler {
    fn receive(&mut self, data: &[u8], end: bool) {
        self.inbox.receive(data, end);
    }

    fn poll(&mut self, out: &mut Vec<u8>) -> Progress {
        {
            let mut shared = self.shared.borrow_mut();
            out.append(&mut shared.answers);
        }
        let max_message = self.db.max_value() + 1024;
        let mut partial = false;
        while !self.inbox.failed && out.len() < MAX_BACKLOG {
            if self.shared.borrow().in_flight >= MAX_IN_FLIGHT {
                break;
            }
            let (body, used) = match self.inbox.next(max_message) {
                Next::Message { body, used } => (body, used),
                Next::Partial => {
                    partial = true;
                    break;
                }
                // Refused as soon as its length is known: it could never be handled.
                Next::TooLarge { len, id } => {
                    let why = format!(
                        "a message of {len} bytes is over this server's limit of {max_message} \
                         (kv.max_value + 1 KiB)"
                    );
                    fail(&mut self.inbox, id, Status::TooLarge, &why, out);
                    break;
                }
            };
            match kv::decode_request(body) {
                Ok(req) => self.handle(req, out),
                Err(e) => {
                    let id = kv::response_id(body).unwrap_or(0);
                    fail(&mut self.inbox, id, Status::BadRequest, &e.to_string(), out);
                }
            }
            self.inbox.advance(used);
        }
        if partial && self.inbox.ended_inside_a_message() {
            let why = "the stream ended inside a message";
            fail(&mut self.inbox, 0, Status::BadRequest, why, out);
        }
        let consumed = self.inbox.consumed(partial);
        let idle = self.shared.borrow().in_flight == 0 && self.shared.borrow().answers.is_empty();
        Progress {
            consumed,
            done: (self.inbox.ended || self.inbox.failed) && self.inbox.is_drained() && idle,
        }
    }
}

/// Answers a request the edge refused; the stream goes on.
fn deny(id: u32, denial: Denial, out: &mut Vec<u8>) {
    let status = match denial {
        Denial::RateLimited(after) => {
            let retry_after_ms = u32::try_from(after.as_millis().max(1)).unwrap_or(u32::MAX);
            let answer = Response::RateLimited { id, retry_after_ms };
            return kv::encode_response(&answer, out);
        }
        Denial::MissingToken | Denial::InvalidToken => Status::Unauthorized,
        Denial::Forbidden | Denial::ProtectedMode => Status::Forbidden,
        Denial::Overloaded => Status::Busy,
    };
    let message = denial.code();
    kv::encode_response(
        &Response::Failed {
            id,
            status,
            message,
        },
        out,
    );
}

/// Answers why the stream cannot go on; the stream then ends (the next message's start is
/// unknown).
fn fail(inbox: &mut Inbox, id: u32, status: Status, why: &str, out: &mut Vec<u8>) {
    inbox.failed = true;
    kv::encode_response(
        &Response::Failed {
            id,
            status,
            message: why,
        },
        out,
    );
}

impl KvHandler {
    fn handle(&self, req: Request<'_>, out: &mut Vec<u8>) {
        let id = req.id();
        let key = match &req {
            Request::Get { key, .. } | Request::Put { key, .. } | Request::Delete { key, .. } => {
                key
            }
            Request::Scan { prefix, .. } => prefix,
        };
        let need = match &req {
            Request::Get { key, .. } => Need::KvRead(key),
            Request::Put { key, .. } | Request::Delete { key, .. } => Need::KvWrite(key),
            Request::Scan { prefix, .. } => Need::KvScan(prefix),
        };
        if let Err(denial) = self.access.request(need) {
            return deny(id, denial, out);
        }
        if super::reserved(key) {
            let message = super::RESERVED;
            let status = Status::BadRequest;
            return kv::encode_response(
                &Response::Failed {
                    id,
                    status,
                    message,
                },
                out,
            );
        }
        match req {
            Request::Get { key, .. } => {
                let Db::Embedded(store) = &self.db else {
                    let (db, key) = (self.db.clone(), key.to_vec());
                    return self.spawn(async move {
                        let mut out = Vec::new();
                        match db.get(&key).await {
                            Ok(Some(e)) => kv::encode_response(
                                &Response::Value {
                                    id,
                                    version: e.version,
                                    value: &e.value,
                                },
                                &mut out,
                            ),
                            Ok(None) => kv::encode_response(&Response::NotFound { id }, &mut out),
                            Err(e) => answer_error(id, &e, &mut out),
                        }
                        out
                    });
                };
                let r = store.with_value(key, |v| match v {
                    Some((version, value)) => {
                        kv::encode_response(&Response::Value { id, version, value }, out)
                    }
                    None => kv::encode_response(&Response::NotFound { id }, out),
                });
                if let Err(e) = r {
                    answer_error(id, &e, out);
                }
            }
            Request::Scan {
                prefix,
                after,
                limit,
                ..
            } => {
                let limit = usize::from(limit).clamp(1, super::http::MAX_LIMIT);
                let after = super::listing_after(prefix, (!after.is_empty()).then_some(after));
                if let Db::Embedded(store) = &self.db {
                    return keys(id, store.scan(prefix, after.as_deref(), limit), out);
                }
                let (db, prefix) = (self.db.clone(), prefix.to_vec());
                self.spawn(async move {
                    let mut out = Vec::new();
                    keys(
                        id,
                        db.scan(&prefix, after.as_deref(), limit).await,
                        &mut out,
                    );
                    out
                });
            }
            Request::Put {
                cond, key, value, ..
            } => {
                let op = Op::put(
                    Bytes::copy_from_slice(key),
                    Bytes::copy_from_slice(value),
                    cond_of(cond),
                );
                self.spawn_write(id, op);
            }
            Request::Delete { cond, key, .. } => {
                let op = Op::delete(Bytes::copy_from_slice(key), cond_of(cond));
                self.spawn_write(id, op);
            }
        }
    }

    /// Runs `work` as a local task; its answer bytes join the stream's answers when done.
    fn spawn(&self, work: impl std::future::Future<Output = Vec<u8>> + 'static) {
        let (shared, wakeup) = (self.shared.clone(), self.wakeup.clone());
        shared.borrow_mut().in_flight += 1;
        ringwire_reactor::spawn_local(async move {
            let answer = work.await;
            let mut s = shared.borrow_mut();
            s.in_flight -= 1;
            s.answers.extend_from_slice(&answer);
            drop(s);
            wakeup.wake();
        });
    }

    fn spawn_write(&self, id: u32, op: Op) {
        // The embedded store's writer applies one channel's writes in the order queued, so a
        // write is queued now. On PostgreSQL writes run concurrently on pooled connections, so
        // each waits for the stream's previous one: `PUT k=1; PUT k=2` ends as 2 on both.
        let (pending, order): (Option<Write>, _) = match &self.db {
            Db::Embedded(_) => (Some(self.db.write(vec![op])), None),
            Db::Postgres(..) => {
                let me = Rc::new(Turn::default());
                let prev = self.last_write.replace(Some(me.clone()));
                (None, Some((prev, Finish(me), self.db.clone(), op)))
            }
        };
        let (shared, wakeup) = (self.shared.clone(), self.wakeup.clone());
        shared.borrow_mut().in_flight += 1;
        ringwire_reactor::spawn_local(async move {
            let result = match (pending, order) {
                (Some(p), _) => p.await,
                (None, Some((prev, _finish, db, op))) => {
                    if let Some(prev) = prev {
                        prev.wait().await;
                    }
                    db.write(vec![op]).await
                }
                (None, None) => unreachable!("a write is queued or ordered"),
            };
            let mut s = shared.borrow_mut();
            s.in_flight -= 1;
            match result {
                Ok(outs) => match outs.first() {
                    Some(Outcome::Put { version, created }) => kv::encode_response(
                        &Response::Written {
                            id,
                            version: *version,
                            created: *created,
                        },
                        &mut s.answers,
                    ),
                    Some(Outcome::Delete { existed: true }) => {
                        kv::encode_response(&Response::Deleted { id }, &mut s.answers)
                    }
                    _ => kv::encode_response(&Response::NotFound { id }, &mut s.answers),
                },
                Err(e) => answer_error(id, &e, &mut s.answers),
            }
            drop(s);
            wakeup.wake();
        });
    }
}

fn keys(id: u32, page: Result<ringwire_db::Scan, DbError>, out: &mut Vec<u8>) {
    match page {
        Ok(page) => kv::encode_response(
            &Response::Keys {
                id,
                keys: page.keys.iter().map(|k| &k[..]).collect(),
                next: page.next.as_deref(),
            },
            out,
        ),
        Err(e) => answer_error(id, &e, out),
    }
}

fn cond_of(c: kv::Cond) -> Cond {
    match c {
        kv::Cond::Any => Cond::Any,
        kv::Cond::Absent => Cond::Absent,
        kv::Cond::Exists => Cond::Exists,
        kv::Cond::Version(v) => Cond::Version(v),
    }
}

fn answer_error(id: u32, e: &DbError, out: &mut Vec<u8>) {
    let status = match e {
        DbError::VersionMismatch { current } => {
            let current = current.unwrap_or(0);
            return kv::encode_response(&Response::Conflict { id, current }, out);
        }
        DbError::BadKey { .. } | DbError::BadLogName => Status::BadRequest,
        DbError::ValueTooLarge { .. } => Status::TooLarge,
        DbError::MapFull { .. } => Status::Full,
        DbError::Busy | DbError::WriterGone | DbError::Unavailable { .. } => Status::Busy,
        DbError::Storage(_) => Status::Error,
    };
    let message = e.to_string();
    kv::encode_response(
        &Response::Failed {
            id,
            status,
            message: &message,
        },
        out,
    );
}
