//! The store's operations as prepared statements on one connection.

use super::{
    Fail,
    conn::{self, Conn, both},
    sql::{self, Stmt, txn},
};
use crate::{Cond, Entry, Error, LogEntry, LogInfo, Op, Outcome, Scan, TRIM_SLICE, Trim};
use bytes::Bytes;

/// What one attempt does.
#[derive(Debug, Clone)]
pub(crate) enum Query {
    Get(Bytes),
    Scan {
        prefix: Bytes,
        after: Option<Bytes>,
        limit: usize,
    },
    LogInfo(Bytes),
    LogRead {
        name: Bytes,
        from: u64,
        limit: usize,
    },
    LogSeekTime {
        name: Bytes,
        since_ms: u64,
    },
    LogNames {
        prefix: Bytes,
        after: Option<Bytes>,
        limit: usize,
    },
    Write(Vec<Op>),
}

impl Query {
    /// Running it twice does what running it once does: only reads. (A write retried after
    /// its connection broke might apply twice; see `Fail::maybe_applied`.)
    pub(crate) fn idempotent(&self) -> bool {
        !matches!(self, Query::Write(_))
    }

    /// The label its latency is recorded under.
    pub(crate) fn label(&self) -> usize {
        match self {
            Query::Get(_) => 0,
            Query::Scan { .. } | Query::LogNames { .. } => 1,
            Query::LogInfo(_) | Query::LogRead { .. } | Query::LogSeekTime { .. } => 2,
            Query::Write(ops) => match ops.first() {
                Some(Op::Put { .. }) if ops.len() == 1 => 3,
                Some(Op::Delete { .. }) if ops.len() == 1 => 4,
                Some(Op::Append { .. } | Op::Trim { .. }) if ops.len() == 1 => 5,
                _ => 6,
            },
        }
    }
}

/// Labels of [`Query::label`].
pub(crate) const LABELS: [&str; 7] = [
    "get",
    "scan",
    "log_read",
    "put",
    "delete",
    "log_write",
    "batch",
];

/// What it gave.
#[derive(Debug)]
pub(crate) enum Answer {
    Entry(Option<Entry>),
    Scan(Scan),
    LogInfo(Option<LogInfo>),
    Log(Vec<LogEntry>),
    Seq(u64),
    Names(Vec<Bytes>),
    Outcomes(Vec<Outcome>),
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The first key after every key that starts with `prefix`, if there is one.
pub(crate) fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xff {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// Runs `q` on `c` for a request whose sampled trace is `trace` (a `traceparent` value), if
/// any. The trace names the session (application_name) in a statement sent just before `q`'s
/// own, in the same flight (tokio-postgres pipelines requests polled together): no extra
/// round trip. The next untraced query on the connection gives the name back the same way, so
/// a request without a trace never runs under another request's.
pub(crate) async fn run(c: &Conn, q: &Query, trace: Option<&str>) -> Result<Answer, Fail> {
    if trace.is_none() && !c.traced.get() {
        return answer(c, q).await;
    }
    // Until the name is known to be set (or given back), assume it may name a trace.
    c.traced.set(true);
    let (named, answered) = match trace {
        Some(t) => {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&t];
            both(c.client.execute(c.stmt(Stmt::Trace), &params), answer(c, q)).await
        }
        None => {
            let reset = c.client.batch_execute(sql::UNTRACE);
            let (r, a) = both(reset, answer(c, q)).await;
            (r.map(|()| 0), a)
        }
    };
    match named {
        Ok(_) => c.traced.set(trace.is_some()),
        // The answer decides: a write applied is reported as applied. A broken connection
        // fails `q` too. Otherwise (no known cause: application_name takes any text) `q` ran
        // under the name the session had, and `traced` stays set so the next query tries
        // again.
        Err(e) => tracing::debug!("postgres: naming the session for a trace: {e}"),
    }
    answered
}

async fn answer(c: &Conn, q: &Query) -> Result<Answer, Fail> {
    let pg = Fail::from_pg;
    match q {
        Query::Get(key) => {
            let row = c
                .client
                .query_opt(c.stmt(Stmt::Get), &[&&key[..]])
                .await
                .map_err(pg)?;
            Ok(Answer::Entry(row.map(|r| Entry {
                version: r.get::<_, i64>(0) as u64,
                value: Bytes::copy_from_slice(r.get::<_, &[u8]>(1)),
            })))
        }
        Query::Scan {
            prefix,
            after,
            limit,
        } => {
            let upper = successor(prefix);
            let rows = c
                .client
                .query(
                    c.stmt(Stmt::Scan),
                    &[
                        &&prefix[..],
                        &upper.as_deref(),
                        &after.as_deref(),
                        &int((*limit as u64).saturating_add(1)),
                    ],
                )
                .await
                .map_err(pg)?;
            let mut out = Scan::default();
            for r in &rows {
                if out.keys.len() == *limit {
                    out.next = out.keys.last().cloned();
                    break;
                }
                out.keys.push(Bytes::copy_from_slice(r.get::<_, &[u8]>(0)));
            }
            Ok(Answer::Scan(out))
        }
        Query::LogInfo(name) => {
            let row = c
                .client
                .query_opt(c.stmt(Stmt::LogInfo), &[&&name[..]])
                .await
                .map_err(pg)?;
            Ok(Answer::LogInfo(row.map(|r| LogInfo {
                first: r.get::<_, i64>(0) as u64,
                next: r.get::<_, i64>(1) as u64,
                count: r.get::<_, i64>(2) as u64,
                bytes: r.get::<_, i64>(3) as u64,
            })))
        }
        Query::LogRead { name, from, limit } => {
            let rows = c
                .client
                .query(
                    c.stmt(Stmt::LogRead),
                    &[&&name[..], &int(*from), &int(*limit as u64)],
                )
                .await
                .map_err(pg)?;
            Ok(Answer::Log(
                rows.iter()
                    .map(|r| LogEntry {
                        seq: r.get::<_, i64>(0) as u64,
                        time_ms: r.get::<_, i64>(1) as u64,
                        data: Bytes::copy_from_slice(r.get::<_, &[u8]>(2)),
                    })
                    .collect(),
            ))
        }
        Query::LogSeekTime { name, since_ms } => {
            let row = c
                .client
                .query_one(c.stmt(Stmt::LogSeekTime), &[&&name[..], &int(*since_ms)])
                .await
                .map_err(pg)?;
            Ok(Answer::Seq(row.get::<_, i64>(0) as u64))
        }
        Query::LogNames {
            prefix,
            after,
            limit,
        } => {
            let upper = successor(prefix);
            let rows = c
                .client
                .query(
                    c.stmt(Stmt::LogNames),
                    &[
                        &&prefix[..],
                        &upper.as_deref(),
                        &after.as_deref(),
                        &int(*limit as u64),
                    ],
                )
                .await
                .map_err(pg)?;
            Ok(Answer::Names(
                rows.iter()
                    .map(|r| Bytes::copy_from_slice(r.get::<_, &[u8]>(0)))
                    .collect(),
            ))
        }
        Query::Write(ops) if ops.len() == 1 => Ok(Answer::Outcomes(vec![apply(c, &ops[0]).await?])),
        Query::Write(ops) => {
            // Several operations: all or none, in one transaction.
            conn::txn(c, txn::BEGIN).await?;
            let mut outs = Vec::with_capacity(ops.len());
            for op in ops {
                match apply(c, op).await {
                    Ok(o) => outs.push(o),
                    Err(f) => {
                        if !f.broken() {
                            conn::txn(c, txn::ROLLBACK).await?;
                        }
                        return Err(f);
                    }
                }
            }
            conn::txn(c, txn::COMMIT).await?;
            Ok(Answer::Outcomes(outs))
        }
    }
}

async fn current(c: &Conn, key: &[u8]) -> Result<Option<u64>, Fail> {
    let row = c
        .client
        .query_opt(c.stmt(Stmt::Version), &[&key])
        .await
        .map_err(Fail::from_pg)?;
    Ok(row.map(|r| r.get::<_, i64>(0) as u64))
}

async fn mismatch(c: &Conn, key: &[u8]) -> Fail {
    match current(c, key).await {
        Ok(current) => Fail::Request(Error::VersionMismatch { current }),
        Err(f) => f,
    }
}

/// One row's first column as a version, or the condition failed.
async fn one(
    c: &Conn,
    s: Stmt,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<tokio_postgres::Row>, Fail> {
    c.client
        .query_opt(c.stmt(s), params)
        .await
        .map_err(Fail::from_pg)
}

async fn apply(c: &Conn, op: &Op) -> Result<Outcome, Fail> {
    match op {
        Op::Put { key, value, cond } => {
            let (k, v) = (&key[..], &value[..]);
            let row = match cond {
                Cond::Any => {
                    let r = one(c, Stmt::PutAny, &[&k, &v]).await?;
                    return match r {
                        Some(r) => Ok(Outcome::Put {
                            version: r.get::<_, i64>(0) as u64,
                            created: r.get::<_, bool>(1),
                        }),
                        None => Err(Fail::io_msg("an upsert returned no row")),
                    };
                }
                Cond::Absent => one(c, Stmt::PutAbsent, &[&k, &v]).await?,
                Cond::Exists => one(c, Stmt::PutIfExists, &[&k, &v]).await?,
                Cond::Version(want) => match i64::try_from(*want) {
                    Ok(want) => one(c, Stmt::PutIfVersion, &[&k, &v, &want]).await?,
                    Err(_) => None,
                },
            };
            match row {
                Some(r) => Ok(Outcome::Put {
                    version: r.get::<_, i64>(0) as u64,
                    created: *cond == Cond::Absent,
                }),
                None => Err(mismatch(c, k).await),
            }
        }
        Op::Delete { key, cond } => {
            let k = &key[..];
            let row = match cond {
                Cond::Absent => {
                    return match current(c, k).await? {
                        None => Ok(Outcome::Delete { existed: false }),
                        Some(v) => Err(Fail::Request(Error::VersionMismatch { current: Some(v) })),
                    };
                }
                Cond::Any => {
                    let r = one(c, Stmt::DeleteAny, &[&k]).await?;
                    return Ok(Outcome::Delete {
                        existed: r.is_some(),
                    });
                }
                Cond::Exists => one(c, Stmt::DeleteAny, &[&k]).await?,
                Cond::Version(want) => match i64::try_from(*want) {
                    Ok(want) => one(c, Stmt::DeleteIfVersion, &[&k, &want]).await?,
                    Err(_) => None,
                },
            };
            match row {
                Some(_) => Ok(Outcome::Delete { existed: true }),
                None => Err(mismatch(c, k).await),
            }
        }
        Op::Append { log, data } => {
            let r = one(c, Stmt::LogAppend, &[&&log[..], &&data[..]]).await?;
            match r {
                Some(r) => Ok(Outcome::Append {
                    seq: r.get::<_, i64>(0) as u64,
                }),
                None => Err(Fail::io_msg("an append returned no row")),
            }
        }
        Op::Trim { log, trim } => {
            let Trim {
                max_count,
                max_bytes,
                max_age,
            } = *trim;
            let age = max_age.map(|a| int(a.as_millis() as u64));
            let r = one(
                c,
                Stmt::LogTrim,
                &[
                    &&log[..],
                    &max_count.map(int),
                    &max_bytes.map(int),
                    &age,
                    &int(TRIM_SLICE),
                ],
            )
            .await?;
            Ok(Outcome::Trim {
                removed: r.map_or(0, |r| r.get::<_, i64>(0) as u64),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::successor;

    #[test]
    fn the_successor_of_a_prefix_bounds_its_keys() {
        assert_eq!(successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff\xff"), None);
        assert_eq!(successor(b""), None);
    }
}
