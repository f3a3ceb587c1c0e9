//! One core's connection pool: [`Slots`] keeps the books, this file does the waiting, the
//! connecting and the handing over, all on the core's own reactor (`Rc`, no lock).
//!
//! A caller that finds no idle connection queues as a waiter; if the pool is below its
//! bound, a connection is opened on the pool's behalf (in its own task, so a waiter that
//! gives up does not abort it). A connection that becomes free goes to the oldest waiter. A
//! connect that fails fails the oldest waiter at once with its error, so a dead database
//! answers fast instead of running out every waiter's acquire timeout.

use super::{
    Fail,
    conn::{self, Conn, Target},
    slots::{Acquire, Handoff, Slots, WaiterId},
    stats::CoreStats,
};
use std::{
    cell::RefCell,
    collections::HashMap,
    rc::{Rc, Weak},
    sync::{Arc, atomic::Ordering::Relaxed},
    task::{Poll, Waker},
    time::{Duration, Instant},
};

/// What a waiter is given.
enum Given {
    Conn(Conn, Instant),
    Failed(Fail),
}

#[derive(Default)]
struct Waiter {
    given: Option<Given>,
    waker: Option<Waker>,
}

pub(crate) struct Pool {
    /// Itself, for the connect tasks it spawns.
    me: Weak<Pool>,
    slots: RefCell<Slots<Conn>>,
    waiters: RefCell<HashMap<WaiterId, Waiter>>,
    target: Target,
    stats: Arc<CoreStats>,
}

/// A connection lent to one request; back to the pool on drop, closed instead if it is
/// marked broken or was not left clean (a request dropped in the middle of a statement or a
/// transaction must not hand its connection, maybe inside an open transaction, to the next).
pub(crate) struct Lease {
    pool: Rc<Pool>,
    conn: Option<Conn>,
    created: Instant,
    broken: bool,
    clean: bool,
}

impl Lease {
    pub(crate) fn conn(&self) -> &Conn {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }

    /// The connection must not be reused.
    pub(crate) fn set_broken(&mut self) {
        self.broken = true;
    }

    /// Work on the connection is starting: until [`Lease::finished`], dropping the lease
    /// closes the connection.
    pub(crate) fn started(&mut self) {
        self.clean = false;
    }

    /// The work ended with the connection in a known state (its transaction, if any, over).
    pub(crate) fn finished(&mut self) {
        self.clean = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let broken = self.broken || !self.clean || c.is_closed();
            let h = self
                .pool
                .slots
                .borrow_mut()
                .release(c, self.created, broken, Instant::now());
            self.pool.handoff(h);
        }
    }
}

impl Pool {
    pub(crate) fn new(slots: Slots<Conn>, target: Target, stats: Arc<CoreStats>) -> Rc<Pool> {
        stats.max.store(slots.config().max as u64, Relaxed);
        Rc::new_cyclic(|me| Pool {
            me: me.clone(),
            slots: RefCell::new(slots),
            waiters: RefCell::new(HashMap::new()),
            target,
            stats,
        })
    }

    /// A connection, within `deadline`; fails at once when the waiters are at their bound.
    pub(crate) async fn acquire(self: &Rc<Self>, deadline: Instant) -> Result<Lease, Fail> {
        let started = Instant::now();
        loop {
            let step = self.slots.borrow_mut().acquire(Instant::now());
            self.close_expired();
            let (conn, created) = match step {
                Acquire::Ready {
                    conn,
                    created,
                    check,
                } => {
                    // Held by a lease at once: however this ends (the check fails, times out,
                    // or the caller drops us mid-check), the books get the connection back.
                    let mut lease = self.lease(conn, created);
                    let alive = !lease.conn().is_closed()
                        && (!check
                            || matches!(
                                ringwire_reactor::time::timeout_at(deadline, lease.conn().ping())
                                    .await,
                                Ok(Ok(()))
                            ));
                    if !alive {
                        // Dead while idle (the server restarted, a firewall forgot it): drop
                        // it and look again, within the same deadline.
                        drop(lease);
                        if Instant::now() >= deadline {
                            return Err(self.timed_out());
                        }
                        continue;
                    }
                    lease.clean = true;
                    self.stats.acquire.record(started.elapsed());
                    self.publish();
                    return Ok(lease);
                }
                Acquire::Wait { id, connect } => {
                    self.waiters.borrow_mut().insert(id, Waiter::default());
                    if connect {
                        self.spawn_connect();
                    }
                    self.publish();
                    match self.wait(id, deadline).await {
                        Some(Given::Conn(c, created)) => (c, created),
                        Some(Given::Failed(f)) => return Err(f),
                        None => return Err(self.timed_out()),
                    }
                }
                Acquire::Full => {
                    self.stats.refused.fetch_add(1, Relaxed);
                    return Err(Fail::busy(format!(
                        "{} requests are already waiting for a database connection \
                         (db.pool.max_waiters)",
                        self.slots.borrow().config().max_waiters
                    )));
                }
            };
            self.stats.acquire.record(started.elapsed());
            self.publish();
            let mut lease = self.lease(conn, created);
            lease.clean = true;
            return Ok(lease);
        }
    }

    fn lease(self: &Rc<Self>, conn: Conn, created: Instant) -> Lease {
        Lease {
            pool: self.clone(),
            conn: Some(conn),
            created,
            broken: false,
            clean: false,
        }
    }

    fn timed_out(&self) -> Fail {
        Fail::timeout(format!(
            "no database connection within db.pool.acquire_timeout ({:?}): {} in use",
            self.slots.borrow().config().acquire_timeout,
            self.slots.borrow().counts().in_use
        ))
    }

    /// Waits to be handed a connection or a failure; `None` at the deadline.
    async fn wait(self: &Rc<Self>, id: WaiterId, deadline: Instant) -> Option<Given> {
        let pool = self.clone();
        // Whatever ends the wait (given, timed out, or the caller dropped), the waiter leaves.
        let guard = Cancel { pool: &pool, id };
        let got = ringwire_reactor::time::timeout_at(
            deadline,
            std::future::poll_fn(|cx| {
                let mut w = pool.waiters.borrow_mut();
                let Some(me) = w.get_mut(&id) else {
                    return Poll::Ready(None);
                };
                match me.given.take() {
                    Some(g) => Poll::Ready(Some(g)),
                    None => {
                        me.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            }),
        )
        .await;
        drop(guard);
        got.ok().flatten()
    }

    fn spawn_connect(&self) {
        let Some(pool) = self.me.upgrade() else {
            return;
        };
        ringwire_reactor::spawn_local(async move {
            let r = conn::open(&pool.target, true).await;
            match r {
                Ok(c) => {
                    pool.stats.opened.fetch_add(1, Relaxed);
                    let h = pool.slots.borrow_mut().connected(c, Instant::now());
                    pool.handoff(h);
                }
                Err(f) => {
                    let failed = pool.slots.borrow_mut().connect_failed();
                    // Waiters left without a connect of their own get one (each failure
                    // fails one waiter, so a dead database fails them one connect each).
                    pool.connect_for_waiters();
                    match (failed, &f) {
                        // The waiter's request counts it.
                        (Some(id), _) => pool.give(id, Given::Failed(f.before_sending())),
                        (None, Fail::Db(d)) => pool.stats.error(&d.class, &d.message),
                        (None, Fail::Request(_)) => {}
                    }
                }
            }
            pool.publish();
        });
    }

    /// Carries out what the books decided about a free connection.
    fn handoff(&self, h: Handoff<Conn>) {
        match h {
            Handoff::ToWaiter { id, conn, created } => self.give(id, Given::Conn(conn, created)),
            Handoff::Idle => {}
            Handoff::Closed(c) => {
                self.stats.closed.fetch_add(1, Relaxed);
                c.kill();
                self.connect_for_waiters();
            }
        }
        self.publish();
    }

    /// Opens connections for waiters that no connect in flight serves (after a connection
    /// was closed or a connect failed), instead of leaving them to the next maintenance.
    fn connect_for_waiters(&self) {
        let n = self.slots.borrow_mut().connect_for_waiters();
        for _ in 0..n {
            self.spawn_connect();
        }
    }

    fn give(&self, id: WaiterId, g: Given) {
        let mut w = self.waiters.borrow_mut();
        match w.get_mut(&id) {
            Some(me) => {
                me.given = Some(g);
                if let Some(wk) = me.waker.take() {
                    wk.wake();
                }
            }
            None => {
                drop(w);
                // The waiter left between the books and here: the connection goes back.
                if let Given::Conn(c, created) = g {
                    let h = self
                        .slots
                        .borrow_mut()
                        .release(c, created, false, Instant::now());
                    self.handoff(h);
                }
            }
        }
    }

    /// Closes idle connections past their time and opens up to `db.pool.min`; run every
    /// second by the core's maintenance task.
    pub(crate) fn maintain(self: &Rc<Self>) {
        let m = self.slots.borrow_mut().maintain(Instant::now());
        self.close_expired();
        for _ in 0..m.open {
            self.spawn_connect();
        }
        self.publish();
    }

    fn close_expired(&self) {
        let closed = self.slots.borrow_mut().take_closed();
        if !closed.is_empty() {
            self.stats.closed.fetch_add(closed.len() as u64, Relaxed);
        }
    }

    /// Copies the books' counts to the core's gauges.
    fn publish(&self) {
        let c = self.slots.borrow().counts();
        let s = &self.stats;
        s.idle.store(c.idle as u64, Relaxed);
        s.in_use.store(c.in_use as u64, Relaxed);
        s.connecting.store(c.connecting as u64, Relaxed);
        s.waiting.store(c.waiting as u64, Relaxed);
    }

    pub(crate) fn acquire_timeout(&self) -> Duration {
        self.slots.borrow().config().acquire_timeout
    }
}

struct Cancel<'a> {
    pool: &'a Rc<Pool>,
    id: WaiterId,
}

impl Drop for Cancel<'_> {
    fn drop(&mut self) {
        let queued = self.pool.slots.borrow_mut().cancel(self.id);
        let left = self.pool.waiters.borrow_mut().remove(&self.id);
        // Handed a connection nobody will take: it goes back.
        if let (
            false,
            Some(Waiter {
                given: Some(Given::Conn(c, created)),
                ..
            }),
        ) = (queued, left)
        {
            let h = self
                .pool
                .slots
                .borrow_mut()
                .release(c, created, false, Instant::now());
            self.pool.handoff(h);
        }
        self.pool.publish();
    }
}
