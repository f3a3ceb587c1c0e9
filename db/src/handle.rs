//! One store API over both backends.
//!
//! [`Backend`] is what the server opens once and shares (`Send + Sync`); [`Db`] is a worker
//! core's handle on it, made on that core by [`Backend::for_core`]. Services use only [`Db`],
//! so they run unchanged on the embedded store and on PostgreSQL.

use crate::{
    Entry, Error, LogEntry, LogInfo, Op, Outcome, Pending, Scan, Store,
    pg::{Answer, PgCore, PgStore, Query},
};
use bytes::Bytes;
use std::{
    borrow::Cow,
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

/// The store the server runs on, shared by every core.
#[derive(Clone)]
pub enum Backend {
    /// LMDB in the data directory.
    Embedded(Store),
    /// A PostgreSQL server.
    Postgres(PgStore),
}

impl Backend {
    /// Core `index`'s handle; call it on that core's thread.
    pub fn for_core(&self, index: usize) -> Db {
        match self {
            Backend::Embedded(s) => Db::Embedded(s.clone()),
            Backend::Postgres(p) => Db::Postgres(p.core(index), None),
        }
    }

    /// The backend's name, as `db.backend` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded(_) => "embedded",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// A core's handle on the store. Reads and writes are futures on both backends; on the
/// embedded one, reads are ready at once (an LMDB read on this thread).
#[derive(Clone)]
pub enum Db {
    /// The embedded store.
    Embedded(Store),
    /// This core's PostgreSQL pool, and the `traceparent` the calls are made for, if any
    /// (see [`Db::traced`]).
    Postgres(Rc<PgCore>, Option<Rc<str>>),
}

fn unexpected() -> Error {
    Error::Storage("the backend gave an answer of the wrong kind".into())
}

impl Db {
    /// This handle, carrying the W3C `traceparent` value of the request that its calls are
    /// made for (pass only a sampled trace's: an unsampled one records nothing downstream).
    /// On PostgreSQL the statements run under it as their session's application_name
    /// (`pg_stat_activity`, `%a` in `log_line_prefix`); the embedded store has nowhere to
    /// carry it. Borrowed, at no cost, when there is nothing to carry.
    pub fn traced(&self, traceparent: Option<&[u8]>) -> Cow<'_, Db> {
        let value = traceparent.and_then(|t| std::str::from_utf8(t).ok());
        match (self, value) {
            (Db::Postgres(p, _), Some(t)) => Cow::Owned(Db::Postgres(p.clone(), Some(Rc::from(t)))),
            _ => Cow::Borrowed(self),
        }
    }

    /// The largest value accepted (`kv.max_value`).
    pub fn max_value(&self) -> usize {
        match self {
            Db::Embedded(s) => s.config().max_value,
            Db::Postgres(p, _) => p.max_value,
        }
    }

    /// Calls `f` with the version and bytes of `key` (`None` when absent). On the embedded
    /// store the bytes are the map's own (no copy), inside the read transaction.
    pub async fn with_value<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<(u64, &[u8])>) -> R,
    ) -> Result<R, Error> {
        if key.is_empty() || key.len() > crate::MAX_KEY {
            return Err(Error::BadKey { len: key.len() });
        }
        match self {
            Db::Embedded(s) => s.with_value(key, f),
            Db::Postgres(p, t) => match p
                .run(Query::Get(Bytes::copy_from_slice(key)), t.as_deref())
                .await?
            {
                Answer::Entry(e) => Ok(f(e.as_ref().map(|e| (e.version, &e.value[..])))),
                _ => Err(unexpected()),
            },
        }
    }

    /// The value of `key` and its version.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Entry>, Error> {
        self.with_value(key, |v| {
            v.map(|(version, value)| Entry {
                version,
                value: Bytes::copy_from_slice(value),
            })
        })
        .await
    }

    /// Up to `limit` keys that start with `prefix`, after `after`, in byte order.
    pub async fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Scan, Error> {
        match self {
            Db::Embedded(s) => s.scan(prefix, after, limit),
            Db::Postgres(p, t) => {
                let q = Query::Scan {
                    prefix: Bytes::copy_from_slice(prefix),
                    after: after.map(Bytes::copy_from_slice),
                    limit,
                };
                match p.run(q, t.as_deref()).await? {
                    Answer::Scan(s) => Ok(s),
                    _ => Err(unexpected()),
                }
            }
        }
    }

    /// The state of log `name`.
    pub async fn log_info(&self, name: &[u8]) -> Result<Option<LogInfo>, Error> {
        match self {
            Db::Embedded(s) => s.log_info(name),
            Db::Postgres(p, t) => match p
                .run(Query::LogInfo(Bytes::copy_from_slice(name)), t.as_deref())
                .await?
            {
                Answer::LogInfo(i) => Ok(i),
                _ => Err(unexpected()),
            },
        }
    }

    /// Up to `limit` records of log `name` from sequence `from` on.
    pub async fn log_read(
        &self,
        name: &[u8],
        from: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>, Error> {
        match self {
            Db::Embedded(s) => s.log_read(name, from, limit),
            Db::Postgres(p, t) => {
                let q = Query::LogRead {
                    name: Bytes::copy_from_slice(name),
                    from,
                    limit,
                };
                match p.run(q, t.as_deref()).await? {
                    Answer::Log(l) => Ok(l),
                    _ => Err(unexpected()),
                }
            }
        }
    }

    /// The first seq of log `name` appended at or after `since_ms` (Unix ms): the log's
    /// `next` if no record is that recent, 1 if the log does not exist. Record times never go
    /// backwards within a log, so this is a binary search.
    pub async fn log_seek_time(&self, name: &[u8], since_ms: u64) -> Result<u64, Error> {
        match self {
            Db::Embedded(s) => s.log_seek_time(name, since_ms),
            Db::Postgres(p, t) => {
                let q = Query::LogSeekTime {
                    name: Bytes::copy_from_slice(name),
                    since_ms,
                };
                match p.run(q, t.as_deref()).await? {
                    Answer::Seq(s) => Ok(s),
                    _ => Err(unexpected()),
                }
            }
        }
    }

    /// Up to `limit` names of existing logs that start with `prefix`, after `after`
    /// (exclusive), ascending. A log exists from its first append on, even once trimmed empty.
    pub async fn log_names(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Bytes>, Error> {
        match self {
            Db::Embedded(s) => s.log_names(prefix, after, limit),
            Db::Postgres(p, t) => {
                let q = Query::LogNames {
                    prefix: Bytes::copy_from_slice(prefix),
                    after: after.map(Bytes::copy_from_slice),
                    limit,
                };
                match p.run(q, t.as_deref()).await? {
                    Answer::Names(n) => Ok(n),
                    _ => Err(unexpected()),
                }
            }
        }
    }

    /// Applies `ops` atomically; resolves once durable (embedded: per `db.sync`; PostgreSQL:
    /// committed). Limits are checked before anything travels. The future owns what it
    /// needs, so it can be spawned.
    pub fn write(&self, ops: Vec<Op>) -> Write {
        match self {
            Db::Embedded(s) => Write::Embedded(s.write(ops)),
            Db::Postgres(p, t) => {
                if let Some(e) = ops.iter().find_map(|op| op.validate(p.max_value).err()) {
                    return Write::Ready(Some(Err(e)));
                }
                let (p, t) = (p.clone(), t.clone());
                Write::Postgres(Box::pin(async move {
                    match p.run(Query::Write(ops), t.as_deref()).await? {
                        Answer::Outcomes(o) => Ok(o),
                        _ => Err(unexpected()),
                    }
                }))
            }
        }
    }
}

/// A write in flight (see [`Db::write`]).
pub enum Write {
    /// On the embedded store's writer thread.
    Embedded(Pending<Result<Vec<Outcome>, Error>>),
    /// On this core's PostgreSQL pool.
    Postgres(Pin<Box<dyn Future<Output = Result<Vec<Outcome>, Error>>>>),
    /// Refused before it started.
    Ready(Option<Result<Vec<Outcome>, Error>>),
}

impl Future for Write {
    type Output = Result<Vec<Outcome>, Error>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Write::Embedded(p) => Pin::new(p).poll(cx),
            Write::Postgres(f) => f.as_mut().poll(cx),
            Write::Ready(r) => Poll::Ready(r.take().unwrap_or_else(|| Err(unexpected()))),
        }
    }
}
