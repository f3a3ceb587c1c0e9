//! The writer thread: group commit.
//!
//! It blocks for one request, takes every other request already waiting (up to
//! `max_batch`), applies them all in one write transaction and commits once, so one `fsync`
//! covers the whole batch; only then does it answer each request. A request is atomic: a
//! request of several operations runs in a nested transaction that is dropped if any of its
//! operations fails. Logs' states are read and written once per batch (`log_cache`). If the
//! map fills up mid-batch, the batch is dropped and its requests are
//! retried one transaction each, so the ones that fit still land.

use crate::{
    Cond, Error, Op, Outcome, Sync,
    encoding::{self, NEXT_VERSION, split_value, u64_at},
    env::Tables,
    log_cache::LogCache,
    reply,
    stats::{OpKind, Stats},
    store::Msg,
};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use heed::RwTxn;
use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// A write request: operations applied atomically, and where to send the outcome.
pub(crate) struct Request {
    pub ops: Vec<Op>,
    pub reply: reply::Sender<Result<Vec<Outcome>, Error>>,
}

pub(crate) struct Writer {
    pub tables: Tables,
    pub rx: Receiver<Msg>,
    pub stats: Arc<Stats>,
    pub sync: Sync,
    pub sync_interval: Duration,
    pub max_batch: usize,
    pub map_size: usize,
}

/// Why an operation stopped: a condition (the request fails alone) or the engine (the whole
/// transaction is unusable).
enum Fail {
    Request(Error),
    Txn(heed::Error),
}

impl From<heed::Error> for Fail {
    fn from(e: heed::Error) -> Self {
        Fail::Txn(e)
    }
}

impl Writer {
    pub(crate) fn run(self) {
        let mut dirty = false; // committed but not yet synced (Sync::Batch only)
        let mut last_sync = Instant::now();
        let mut batch = Vec::with_capacity(self.max_batch);
        let mut stop = false;
        while !stop {
            let first = if dirty {
                let wait = self.sync_interval.saturating_sub(last_sync.elapsed());
                match self.rx.recv_timeout(wait) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match self.rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                }
            };
            match first {
                Some(Msg::Write(r)) => batch.push(r),
                Some(Msg::Stop) => stop = true,
                None => {}
            }
            while !stop && !batch.is_empty() && batch.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(Msg::Write(r)) => batch.push(r),
                    Ok(Msg::Stop) => stop = true,
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.stats.pending_sub(batch.len());
                self.commit_batch(&mut batch);
                dirty = self.sync == Sync::Batch;
            }
            if dirty && self.sync == Sync::Batch && last_sync.elapsed() >= self.sync_interval {
                self.force_sync();
                dirty = false;
                last_sync = Instant::now();
            }
        }
        if self.sync != Sync::Always {
            self.force_sync();
        }
    }

    fn force_sync(&self) {
        let t = Instant::now();
        if let Err(e) = self.tables.env.force_sync() {
            tracing::error!("db: fsync failed: {e}");
        }
        self.stats.record_fsync(t.elapsed());
    }

    fn commit_batch(&self, batch: &mut Vec<Request>) {
        let started = Instant::now();
        let size = batch.len();
        match self.try_batch(batch) {
            Ok(results) => {
                let latency = started.elapsed();
                self.stats.record_commit(size, latency);
                if self.sync == Sync::Always {
                    self.stats.record_fsync(latency);
                }
                // Space was found if any request of the batch was written.
                if results.iter().any(Result::is_ok) {
                    self.stats.set_map_full(false);
                }
                for (req, res) in batch.drain(..).zip(results) {
                    self.count(&req.ops, &res);
                    req.reply.send(res);
                }
            }
            Err(e) if size > 1 && matches!(e, heed::Error::Mdb(heed::MdbError::MapFull)) => {
                // One at a time, so that what fits still lands.
                for req in batch.drain(..) {
                    let mut one = vec![req];
                    self.commit_batch(&mut one);
                }
            }
            Err(e) => {
                let err = Error::from_heed(e, self.map_size);
                if matches!(err, Error::MapFull { .. }) {
                    self.stats.set_map_full(true);
                    tracing::warn!("db: {err}");
                } else {
                    tracing::error!("db: commit failed: {err}");
                }
                for req in batch.drain(..) {
                    let res = Err(err.clone());
                    self.count(&req.ops, &res);
                    req.reply.send(res);
                }
            }
        }
    }

    /// One transaction for the whole batch: each request's result, or the engine's error that
    /// made the transaction unusable.
    fn try_batch(
        &self,
        batch: &[Request],
    ) -> Result<Vec<Result<Vec<Outcome>, Error>>, heed::Error> {
        let t = &self.tables;
        let mut wtxn = t.env.write_txn()?;
        let mut version = t.meta.get(&wtxn, NEXT_VERSION)?.map_or(1, |v| u64_at(v, 0));
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut results = Vec::with_capacity(batch.len());
        let mut logs = LogCache::default();
        for req in batch {
            let res = if req.ops.len() == 1 {
                // One operation either applies or changes nothing: no nested transaction.
                self.apply(&mut wtxn, &req.ops[0], now_ms, &mut version, &mut logs)
                    .map(|o| vec![o])
            } else {
                let mut nested = t.env.nested_write_txn(&mut wtxn)?;
                let mut outs = Vec::with_capacity(req.ops.len());
                let mut failed = None;
                logs.begin();
                for op in &req.ops {
                    match self.apply(&mut nested, op, now_ms, &mut version, &mut logs) {
                        Ok(o) => outs.push(o),
                        Err(f) => {
                            failed = Some(f);
                            break;
                        }
                    }
                }
                match failed {
                    None => {
                        nested.commit()?;
                        logs.commit();
                        Ok(outs)
                    }
                    Some(f) => {
                        nested.abort();
                        logs.abort();
                        Err(f)
                    }
                }
            };
            match res {
                Ok(outs) => results.push(Ok(outs)),
                Err(Fail::Request(e)) => results.push(Err(e)),
                Err(Fail::Txn(e)) => return Err(e),
            }
        }
        logs.flush(t, &mut wtxn)?;
        t.meta
            .put(&mut wtxn, NEXT_VERSION, &version.to_be_bytes())?;
        wtxn.commit()?;
        Ok(results)
    }

    fn apply(
        &self,
        txn: &mut RwTxn,
        op: &Op,
        now_ms: u64,
        version: &mut u64,
        logs: &mut LogCache,
    ) -> Result<Outcome, Fail> {
        let t = &self.tables;
        match op {
            Op::Put { key, value, cond } => {
                let current = t.kv.get(txn, key)?.and_then(split_value).map(|(v, _)| v);
                check(*cond, current)?;
                let v = *version;
                *version += 1;
                t.kv.put(txn, key, &encoding::value(v, value))?;
                Ok(Outcome::Put {
                    version: v,
                    created: current.is_none(),
                })
            }
            Op::Delete { key, cond } => {
                let current = t.kv.get(txn, key)?.and_then(split_value).map(|(v, _)| v);
                check(*cond, current)?;
                let existed = current.is_some() && t.kv.delete(txn, key)?;
                Ok(Outcome::Delete { existed })
            }
            Op::Append { log, data } => Ok(Outcome::Append {
                seq: logs.append(t, txn, log, data, now_ms)?,
            }),
            Op::Trim { log, trim } => Ok(Outcome::Trim {
                removed: logs.trim(t, txn, log, trim, now_ms)?,
            }),
        }
    }

    fn count(&self, ops: &[Op], res: &Result<Vec<Outcome>, Error>) {
        for (i, op) in ops.iter().enumerate() {
            let kind = match op {
                Op::Put { .. } => OpKind::Put,
                Op::Delete { .. } => OpKind::Delete,
                Op::Append { .. } => OpKind::Append,
                Op::Trim { .. } => OpKind::Trim,
            };
            let result = match res {
                Ok(outs) => match outs.get(i) {
                    Some(Outcome::Delete { existed: false }) => "miss",
                    _ => "ok",
                },
                Err(e) => crate::stats::result_name(e),
            };
            self.stats.count(kind, result);
        }
    }
}

fn check(cond: Cond, current: Option<u64>) -> Result<(), Fail> {
    let ok = match cond {
        Cond::Any => true,
        Cond::Absent => current.is_none(),
        Cond::Exists => current.is_some(),
        Cond::Version(v) => current == Some(v),
    };
    if ok {
        Ok(())
    } else {
        Err(Fail::Request(Error::VersionMismatch { current }))
    }
}
