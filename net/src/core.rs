//! The per-core server context: configuration, stats, pools, the connection registry and the
//! drain state. One per worker thread, reached through a thread-local, never shared.

use crate::{CloseReason, Config, Snapshot, Stats};
use ringwire_protocol::http1::{HTTP_DATE_LEN, Parser, http_date};
use ringwire_reactor::JoinHandle;
use std::{
    cell::{Cell, RefCell},
    future::poll_fn,
    rc::Rc,
    task::{Poll, Waker},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Capacity of pooled output buffers; larger ones are not kept.
const OUT_BUF: usize = 4096;
/// Pooled output buffers and parsers kept per core at most.
const POOL_MAX: usize = 1024;

struct ConnEntry {
    task: Option<JoinHandle<()>>,
    /// Set while the connection waits for its next request: drain wakes it to close.
    idle: Option<Waker>,
}

/// One worker core's server state.
pub struct Core {
    index: usize,
    config: RefCell<Rc<Config>>,
    stats: Stats,
    date: DateCache,
    out_pool: RefCell<Vec<Vec<u8>>>,
    parsers: RefCell<Vec<Parser>>,
    conns: RefCell<slab::Slab<ConnEntry>>,
    draining: Cell<bool>,
    drain_deadline: Cell<Option<Instant>>,
    drain_waiters: RefCell<Vec<Waker>>,
    empty_waiter: RefCell<Option<Waker>>,
}

thread_local! {
    static CORE: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

impl Core {
    /// Creates this thread's core context (replacing any earlier one) and returns it.
    pub fn install(index: usize, config: Config) -> Rc<Core> {
        let core = Rc::new(Core {
            index,
            config: RefCell::new(Rc::new(config)),
            stats: Stats::default(),
            date: DateCache::default(),
            out_pool: RefCell::new(Vec::new()),
            parsers: RefCell::new(Vec::new()),
            conns: RefCell::new(slab::Slab::new()),
            draining: Cell::new(false),
            drain_deadline: Cell::new(None),
            drain_waiters: RefCell::new(Vec::new()),
            empty_waiter: RefCell::new(None),
        });
        CORE.with(|c| *c.borrow_mut() = Some(core.clone()));
        core
    }

    /// This thread's core context, if [`Core::install`] ran here.
    pub fn current() -> Option<Rc<Core>> {
        CORE.with(|c| c.borrow().clone())
    }

    /// Worker index of this core.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The configuration connections pick up at their next request.
    pub fn config(&self) -> Rc<Config> {
        self.config.borrow().clone()
    }

    /// Replaces the configuration (a SIGHUP reload): new limits and timeouts apply from each
    /// connection's next request; the listen address and backlog cannot change this way.
    pub fn reload(&self, config: Config) {
        *self.config.borrow_mut() = Rc::new(config);
        self.parsers.borrow_mut().clear();
    }

    /// This core's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// A `Send` copy of this core's counters.
    pub fn snapshot(&self) -> Snapshot {
        self.stats.snapshot(self.active_connections() as u64)
    }

    /// Connections open on this core.
    pub fn active_connections(&self) -> usize {
        self.conns.borrow().len()
    }

    /// Whether the core is draining (no new connections, no keep-alive).
    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Starts draining: listeners stop accepting, idle connections close, busy ones finish
    /// their request and answer it with `Connection: close`.
    pub fn start_drain(&self) {
        if self.draining.replace(true) {
            return;
        }
        let mut wake: Vec<Waker> = self.drain_waiters.borrow_mut().drain(..).collect();
        wake.extend(
            self.conns
                .borrow_mut()
                .iter_mut()
                .filter_map(|(_, c)| c.idle.take()),
        );
        wake.into_iter().for_each(Waker::wake);
    }

    /// Starts draining with a deadline for whoever finishes the drain ([`Core::drain`]).
    pub fn begin_drain(&self, deadline: Instant) {
        self.drain_deadline.set(Some(deadline));
        self.start_drain();
    }

    /// The deadline given to [`Core::begin_drain`], if any.
    pub fn drain_deadline(&self) -> Option<Instant> {
        self.drain_deadline.get()
    }

    /// Drains, and at `deadline` closes whatever is still open. Returns how many connections
    /// had to be force-closed.
    pub async fn drain(&self, deadline: Instant) -> usize {
        self.start_drain();
        let timer = ringwire_reactor::time::sleep_until(deadline);
        let mut timer = std::pin::pin!(timer);
        poll_fn(|cx| {
            if self.conns.borrow().is_empty() || timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            *self.empty_waiter.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        let left: Vec<JoinHandle<()>> = self
            .conns
            .borrow_mut()
            .iter_mut()
            .filter_map(|(_, c)| c.task.take())
            .collect();
        let forced = left.len();
        for task in left {
            self.stats.closed(CloseReason::ForceClosed);
            task.abort();
        }
        // Aborted connections deregister as their futures drop; give them a turn.
        ringwire_reactor::yield_now().await;
        forced
    }

    /// Waits until draining starts (for accept loops).
    pub(crate) async fn drained(&self) {
        poll_fn(|cx| {
            if self.draining.get() {
                Poll::Ready(())
            } else {
                self.drain_waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    pub(crate) fn register(&self) -> usize {
        self.conns.borrow_mut().insert(ConnEntry {
            task: None,
            idle: None,
        })
    }

    pub(crate) fn set_task(&self, key: usize, task: JoinHandle<()>) {
        if let Some(c) = self.conns.borrow_mut().get_mut(key) {
            c.task = Some(task);
        }
    }

    pub(crate) fn deregister(&self, key: usize) {
        let mut conns = self.conns.borrow_mut();
        if let Some(mut c) = conns.try_remove(key) {
            if let Some(t) = c.task.take() {
                drop(t); // detach: this is the task itself finishing
            }
        }
        if conns.is_empty() {
            drop(conns);
            if let Some(w) = self.empty_waiter.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// Marks connection `key` idle (with the waker drain should use) or busy (`None`).
    pub(crate) fn set_idle(&self, key: usize, waker: Option<&Waker>) {
        if let Some(c) = self.conns.borrow_mut().get_mut(key) {
            match (waker, &mut c.idle) {
                (Some(w), Some(old)) if old.will_wake(w) => {}
                (w, slot) => *slot = w.cloned(),
            }
        }
    }

    /// The Date field value for responses, recomputed once per second.
    pub(crate) fn date(&self, now: Instant) -> [u8; HTTP_DATE_LEN] {
        self.date.get(now)
    }

    pub(crate) fn take_out(&self) -> Vec<u8> {
        self.out_pool
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(OUT_BUF))
    }

    pub(crate) fn put_out(&self, mut buf: Vec<u8>) {
        let mut pool = self.out_pool.borrow_mut();
        if buf.capacity() == OUT_BUF && pool.len() < POOL_MAX {
            buf.clear();
            pool.push(buf);
        }
    }

    pub(crate) fn take_parser(&self, config: &Config) -> Parser {
        self.parsers
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Parser::new(config.limits))
    }

    pub(crate) fn put_parser(&self, parser: Parser, config: &Config) {
        let mut pool = self.parsers.borrow_mut();
        // A parser built from limits replaced by a reload is dropped, not reused.
        if pool.len() < POOL_MAX && *parser.limits() == config.limits.effective() {
            pool.push(parser);
        }
    }
}

#[derive(Default)]
struct DateCache {
    until: Cell<Option<Instant>>,
    value: Cell<[u8; HTTP_DATE_LEN]>,
}

impl DateCache {
    fn get(&self, now: Instant) -> [u8; HTTP_DATE_LEN] {
        if self.until.get().is_none_or(|u| now >= u) {
            let since = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            self.value.set(http_date(since.as_secs()));
            let to_next =
                Duration::from_secs(1) - Duration::from_nanos(since.subsec_nanos() as u64);
            self.until.set(Some(now + to_next));
        }
        self.value.get()
    }
}
