//! The books of one connection pool, as a pure state machine generic over the connection
//! type: which connections are idle, how many are in use or being opened, who waits for one,
//! and what to do with a connection that becomes free. No I/O, no clock read: the async pool
//! opens, checks and closes connections, and passes `now` in.
//!
//! The bound: idle + in use + connecting never exceeds [`PoolConfig::max`]. Waiters are
//! served first come, first served; while any waits, no connection is idle.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// A pool's bounds and timers.
///
/// The defaults suit one pool per worker core: `max` 8 per core is enough for millisecond
/// queries (a core cannot keep many more busy), and cores x nodes x 8 must stay under the
/// server's `max_connections` (100 by default: 4 cores on 2 nodes use 64); `min` 1 keeps one
/// connection warm so the first request after a quiet spell does not pay for a connect. An
/// acquire timeout of 2 s leaves room inside the 5 s a client may wait with the database
/// down. Idle connections close after 60 s, and every connection after 30 min so that server
/// memory is given back and a pooler or proxy in between can rebalance (the address is
/// resolved once, at start); one idle for over 5 s is checked before
/// use, since a server restart or a firewall may have killed it meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Connections kept open (opened by [`Slots::maintain`]); at most `max`. Default 1.
    pub min: usize,
    /// Idle + in use + connecting never exceeds this; at least 1. Default 8.
    pub max: usize,
    /// How long a caller waits for a connection (the async layer enforces it). Default 2 s.
    pub acquire_timeout: Duration,
    /// A connection idle for longer than this is closed (while more than `min` are open).
    /// Default 60 s.
    pub idle_timeout: Duration,
    /// A connection older than this is closed when idle or released. Default 30 min.
    pub max_lifetime: Duration,
    /// Callers waiting at once; beyond it [`Slots::acquire`] answers [`Acquire::Full`].
    /// Default 256.
    pub max_waiters: usize,
    /// A connection idle for longer than this is health-checked on checkout
    /// ([`Acquire::Ready`]'s `check`). Default 5 s.
    pub check_after: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            min: 1,
            max: 8,
            acquire_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(30 * 60),
            max_waiters: 256,
            check_after: Duration::from_secs(5),
        }
    }
}

/// Names a queued caller.
pub type WaiterId = u64;

/// The answer to [`Slots::acquire`].
#[derive(Debug)]
pub enum Acquire<C> {
    /// An idle connection, now in use; give `created` back to [`Slots::release`].
    Ready {
        /// The connection.
        conn: C,
        /// When it was opened.
        created: Instant,
        /// It was idle longer than `check_after`: check it before use.
        check: bool,
    },
    /// Queued as waiter `id`: a connection comes through [`Handoff::ToWaiter`], or a failure
    /// through [`Slots::connect_failed`]; a caller that gives up calls [`Slots::cancel`].
    Wait {
        /// The waiter.
        id: WaiterId,
        /// The caller must open one new connection on the pool's behalf (it is counted as
        /// connecting) and report it with [`Slots::connected`] or [`Slots::connect_failed`].
        connect: bool,
    },
    /// `max_waiters` callers wait already: refuse at once.
    Full,
}

/// What to do with a connection that became free.
#[derive(Debug)]
pub enum Handoff<C> {
    /// Give it to waiter `id` (no longer queued; the connection is in use).
    ToWaiter {
        /// The oldest waiter.
        id: WaiterId,
        /// The connection.
        conn: C,
        /// When it was opened.
        created: Instant,
    },
    /// The pool keeps it idle.
    Idle,
    /// Close it (broken, or past `max_lifetime`).
    Closed(C),
}

/// What [`Slots::maintain`] asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Maintain {
    /// Connections to open now (already counted as connecting); report each with
    /// [`Slots::connected`] or [`Slots::connect_failed`].
    pub open: usize,
}

/// The pool's numbers, for gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Open and free.
    pub idle: usize,
    /// Lent to callers.
    pub in_use: usize,
    /// Being opened.
    pub connecting: usize,
    /// Callers queued.
    pub waiting: usize,
}

/// Running totals, for counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotStats {
    /// Closed for being past `max_lifetime`.
    pub closed_expired: u64,
    /// Closed for being idle past `idle_timeout`.
    pub closed_idle: u64,
    /// Closed because the caller said they were broken.
    pub closed_broken: u64,
    /// Acquires refused with [`Acquire::Full`].
    pub refused: u64,
}

#[derive(Debug)]
struct Idle<C> {
    conn: C,
    created: Instant,
    idle_since: Instant,
}

/// One pool's books: see the [module documentation](self).
#[derive(Debug)]
pub struct Slots<C> {
    cfg: PoolConfig,
    /// Least recently used first; checkout takes from the end.
    idle: Vec<Idle<C>>,
    in_use: usize,
    connecting: usize,
    /// Oldest first.
    waiters: VecDeque<WaiterId>,
    next_id: WaiterId,
    to_close: Vec<C>,
    stats: SlotStats,
}

impl<C> Slots<C> {
    /// Empty books. `max` is taken as at least 1 and `min` as at most `max`.
    pub fn new(cfg: PoolConfig) -> Slots<C> {
        let max = cfg.max.max(1);
        let cfg = PoolConfig {
            max,
            min: cfg.min.min(max),
            ..cfg
        };
        Slots {
            cfg,
            idle: Vec::new(),
            in_use: 0,
            connecting: 0,
            waiters: VecDeque::new(),
            next_id: 0,
            to_close: Vec::new(),
            stats: SlotStats::default(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &PoolConfig {
        &self.cfg
    }

    /// A connection for a caller: the most recently used idle one (those past
    /// `max_lifetime` are closed on the way, see [`Slots::take_closed`]); else a place in
    /// the queue, opening a connection when the pool has room and the connections being
    /// opened do not cover the waiters; else [`Acquire::Full`].
    pub fn acquire(&mut self, now: Instant) -> Acquire<C> {
        while let Some(e) = self.idle.pop() {
            if self.expired(e.created, now) {
                self.stats.closed_expired += 1;
                self.to_close.push(e.conn);
                continue;
            }
            self.in_use += 1;
            let check = now.saturating_duration_since(e.idle_since) > self.cfg.check_after;
            return Acquire::Ready {
                conn: e.conn,
                created: e.created,
                check,
            };
        }
        if self.waiters.len() >= self.cfg.max_waiters {
            self.stats.refused += 1;
            return Acquire::Full;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.waiters.push_back(id);
        let connect = self.connecting < self.waiters.len() && self.total() < self.cfg.max;
        if connect {
            self.connecting += 1;
        }
        Acquire::Wait { id, connect }
    }

    /// A connect finished: the connection goes to the oldest waiter, or idle.
    pub fn connected(&mut self, conn: C, now: Instant) -> Handoff<C> {
        debug_assert!(self.connecting > 0, "connected without a connect");
        self.connecting = self.connecting.saturating_sub(1);
        self.lend_or_keep(conn, now, now)
    }

    /// A connect failed: returns the oldest waiter, now out of the queue, to fail with the
    /// connect's error (a dead database answers at once instead of after the timeout).
    pub fn connect_failed(&mut self) -> Option<WaiterId> {
        debug_assert!(self.connecting > 0, "connect_failed without a connect");
        self.connecting = self.connecting.saturating_sub(1);
        self.waiters.pop_front()
    }

    /// A caller gives back a connection it had from [`Acquire::Ready`] or
    /// [`Handoff::ToWaiter`] (`created` as given there). Broken or past `max_lifetime`:
    /// [`Handoff::Closed`]; else to the oldest waiter, or idle.
    ///
    /// A closed one leaves room: if callers wait, [`Slots::connect_for_waiters`] says whether
    /// to open a replacement for them now.
    pub fn release(&mut self, conn: C, created: Instant, broken: bool, now: Instant) -> Handoff<C> {
        debug_assert!(self.in_use > 0, "release without a checkout");
        self.in_use = self.in_use.saturating_sub(1);
        if broken {
            self.stats.closed_broken += 1;
            return Handoff::Closed(conn);
        }
        if self.expired(created, now) {
            self.stats.closed_expired += 1;
            return Handoff::Closed(conn);
        }
        self.lend_or_keep(conn, created, now)
    }

    /// Waiter `id` gives up. `false` if it is not queued (any more): if it was handed a
    /// connection, the caller must release that.
    pub fn cancel(&mut self, id: WaiterId) -> bool {
        match self.waiters.iter().position(|&w| w == id) {
            Some(i) => {
                self.waiters.remove(i);
                true
            }
            None => false,
        }
    }

    /// How many connections to open now for the waiters that no connect in flight covers,
    /// within `max` (counted as connecting). Call it after a [`Handoff::Closed`] or a failed
    /// connect, so that waiters do not wait for [`Slots::maintain`].
    pub fn connect_for_waiters(&mut self) -> usize {
        let want = self.waiters.len().saturating_sub(self.connecting);
        let n = want.min(self.cfg.max.saturating_sub(self.total()));
        self.connecting += n;
        n
    }

    /// Housekeeping, every second or so: closes idle connections past `max_lifetime`, and
    /// those idle longer than `idle_timeout` (least recently used first) while more than
    /// `min` are open, into [`Slots::take_closed`]; never one in use. Then says how many to
    /// open to get back to `min`, or to serve waiters no connect covers.
    pub fn maintain(&mut self, now: Instant) -> Maintain {
        // Expired ones first, whatever `min` says (they are replaced below)...
        let mut i = 0;
        while i < self.idle.len() {
            if self.expired(self.idle[i].created, now) {
                self.stats.closed_expired += 1;
                self.to_close.push(self.idle.remove(i).conn);
            } else {
                i += 1;
            }
        }
        // ...then, least recently used first, those idle too long while above `min`.
        let mut i = 0;
        while i < self.idle.len() && self.idle.len() + self.in_use > self.cfg.min {
            if now.saturating_duration_since(self.idle[i].idle_since) > self.cfg.idle_timeout {
                self.stats.closed_idle += 1;
                self.to_close.push(self.idle.remove(i).conn);
            } else {
                i += 1;
            }
        }
        // Within `max`, since `min <= max`.
        let n = self.cfg.min.saturating_sub(self.total());
        self.connecting += n;
        Maintain {
            open: n + self.connect_for_waiters(),
        }
    }

    /// The connections the books closed (expired while idle, idle too long): the caller
    /// drops them.
    pub fn take_closed(&mut self) -> Vec<C> {
        std::mem::take(&mut self.to_close)
    }

    /// The pool's numbers now.
    pub fn counts(&self) -> Counts {
        Counts {
            idle: self.idle.len(),
            in_use: self.in_use,
            connecting: self.connecting,
            waiting: self.waiters.len(),
        }
    }

    /// Running totals since the books were made.
    pub fn stats(&self) -> SlotStats {
        self.stats
    }

    fn total(&self) -> usize {
        self.idle.len() + self.in_use + self.connecting
    }

    fn expired(&self, created: Instant, now: Instant) -> bool {
        now.saturating_duration_since(created) > self.cfg.max_lifetime
    }

    /// A free, healthy connection: to the oldest waiter, or idle.
    fn lend_or_keep(&mut self, conn: C, created: Instant, now: Instant) -> Handoff<C> {
        match self.waiters.pop_front() {
            Some(id) => {
                self.in_use += 1;
                Handoff::ToWaiter { id, conn, created }
            }
            None => {
                self.idle.push(Idle {
                    conn,
                    created,
                    idle_since: now,
                });
                Handoff::Idle
            }
        }
    }
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
