//! One worker core's way to PostgreSQL: its pool, its circuit breaker and its retries.
//! Everything here is `Rc`/`RefCell` on the core's own thread: the request path takes no lock.

use super::{
    Fail,
    breaker::{Breaker, Outcome as Seen, Ticket},
    exec::{self, Answer, Query},
    pool::Pool,
    retry::{RetryConfig, Schedule},
    stats::CoreStats,
};
use crate::Error;
use ringwire_reactor::time;
use std::{
    cell::RefCell,
    rc::{Rc, Weak},
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

/// How long a client is told to wait after a failure the breaker has not (yet) acted on.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long past `db.query_timeout` a statement is waited for before its connection is
/// given up (the server should have cancelled it by then).
const GRACE: Duration = Duration::from_secs(1);

/// A worker core's handle on the PostgreSQL backend (`!Send`: it lives on its core).
pub struct PgCore {
    pool: Rc<Pool>,
    breaker: RefCell<Breaker>,
    retry: RetryConfig,
    query_timeout: Duration,
    pub(crate) max_value: usize,
    stats: Arc<CoreStats>,
}

impl PgCore {
    pub(crate) fn new(
        pool: Rc<Pool>,
        breaker: Breaker,
        retry: RetryConfig,
        query_timeout: Duration,
        max_value: usize,
        stats: Arc<CoreStats>,
    ) -> Rc<PgCore> {
        let core = Rc::new(PgCore {
            pool,
            breaker: RefCell::new(breaker),
            retry,
            query_timeout,
            max_value,
            stats,
        });
        // Opens up to db.pool.min now, then keeps the pool trimmed every second; ends when
        // the core's handle is gone.
        let weak: Weak<PgCore> = Rc::downgrade(&core);
        core.pool.maintain();
        ringwire_reactor::spawn_local(async move {
            loop {
                time::sleep(Duration::from_secs(1)).await;
                match weak.upgrade() {
                    Some(core) => {
                        core.pool.maintain();
                        // Lets an open breaker turn half-open in the metrics without traffic.
                        core.publish_breaker(Instant::now());
                    }
                    None => break,
                }
            }
        });
        core
    }

    /// Runs `q`: through the breaker, with a pooled connection, retried when that is safe.
    /// `trace`: the `traceparent` of the sampled request it runs for, if any (see
    /// [`exec::run`]).
    pub(crate) async fn run(&self, q: Query, trace: Option<&str>) -> Result<Answer, Error> {
        let start = Instant::now();
        let mut schedule = Schedule::new(&self.retry, start);
        // Retries included, a request never waits longer than one attempt may: the time to get
        // a connection, the statement's time, and the grace for a server that does not answer.
        let end = start + self.pool.acquire_timeout() + self.query_timeout + GRACE;
        loop {
            let now = Instant::now();
            let admit = self.breaker.borrow_mut().admit_ticket(now);
            self.publish_breaker(now);
            let ticket = match admit {
                Ok(t) => t,
                Err(retry_after) => {
                    self.stats.refused.fetch_add(1, Relaxed);
                    let last = self
                        .stats
                        .last_error
                        .lock()
                        .map(|e| e.clone())
                        .unwrap_or_default();
                    return Err(Error::Unavailable {
                        reason: format!("the circuit breaker is open after failures ({last})"),
                        retry_after,
                    });
                }
            };
            let mut permit = Permit {
                core: self,
                ticket,
                done: false,
            };
            let result = self.attempt(&q, trace, now, end).await;
            let fail = match result {
                Ok(a) => {
                    permit.record(Seen::Success);
                    return Ok(a);
                }
                Err(Fail::Request(e)) => {
                    permit.record(Seen::Success);
                    return Err(e);
                }
                Err(Fail::Db(d)) => d,
            };
            self.stats.error(&fail.class, &fail.message);
            // Too many waiters says nothing about the database: the breaker does not count it.
            permit.record(if fail.class == "busy" {
                Seen::Ignored
            } else {
                Seen::Failure
            });
            let safe = q.idempotent() || !fail.maybe_applied;
            if fail.transient && safe {
                let now = Instant::now();
                if let Some(delay) = schedule
                    .next_delay(now, fastrand::f64())
                    .filter(|d| now + *d < end)
                {
                    self.stats.retries.fetch_add(1, Relaxed);
                    time::sleep(delay).await;
                    continue;
                }
            }
            return Err(Error::Unavailable {
                reason: fail.message,
                retry_after: RETRY_AFTER,
            });
        }
    }

    async fn attempt(
        &self,
        q: &Query,
        trace: Option<&str>,
        now: Instant,
        end: Instant,
    ) -> Result<Answer, Fail> {
        let deadline = (now + self.pool.acquire_timeout()).min(end);
        let mut lease = self
            .pool
            .acquire(deadline)
            .await
            .map_err(Fail::before_sending)?;
        let t = Instant::now();
        // The server cancels a statement at query_timeout (statement_timeout); this is the
        // backstop for a server that does not answer at all.
        let limit = (t + self.query_timeout + GRACE).min(end);
        lease.started();
        let r = match time::timeout_at(limit, exec::run(lease.conn(), q, trace)).await {
            Ok(r) => r,
            Err(_) => Err(Fail::timeout(format!(
                "PostgreSQL did not answer within db.query_timeout ({:?})",
                self.query_timeout
            ))),
        };
        self.stats.queries[q.label()].record(t.elapsed());
        if r.as_ref().is_err_and(Fail::broken) {
            lease.set_broken();
        } else {
            lease.finished();
        }
        r
    }

    fn publish_breaker(&self, now: Instant) {
        let mut b = self.breaker.borrow_mut();
        self.stats.breaker.store(b.state(now).code(), Relaxed);
        for (i, n) in b.transitions().iter().enumerate() {
            self.stats.transitions[i].store(*n, Relaxed);
        }
    }
}

/// An admitted attempt: its outcome goes to the breaker exactly once, `Ignored` if the
/// request was dropped before it ended.
struct Permit<'a> {
    core: &'a PgCore,
    ticket: Ticket,
    done: bool,
}

impl Permit<'_> {
    fn record(&mut self, seen: Seen) {
        self.done = true;
        let now = Instant::now();
        self.core
            .breaker
            .borrow_mut()
            .record_ticket(now, self.ticket, seen);
        self.core.publish_breaker(now);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.record(Seen::Ignored);
        }
    }
}
