//! The per-core server context: configuration, stats, pools, the connection registry and the
//! drain state. One per worker thread, reached through a thread-local, never shared.

use crate::conn::Kit;
use crate::edge::{Edge, EdgeLocal};
use crate::limit::ConnPermit;
use crate::{CloseReason, Config, Snapshot, Stats};
use ringwire_protocol::http1::{HTTP_DATE_LEN, http_date};
use ringwire_reactor::JoinHandle;
use std::{
    cell::{Cell, RefCell},
    future::poll_fn,
    net::IpAddr,
    rc::Rc,
    sync::Arc,
    task::{Poll, Waker},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Burst kits (parser, output buffer) kept per core at most.
const POOL_MAX: usize = 1024;

struct ConnEntry {
    task: Option<JoinHandle<()>>,
    /// When the connection started waiting for its next request (`None` while busy). The
    /// sweeper closes it once this is older than the keep-alive timeout, and drain closes it
    /// at once: an idle connection needs no timer of its own.
    idle_since: Option<Instant>,
    /// The client's address (read once at accept).
    peer: Option<IpAddr>,
    /// Its place in the edge's connection limits, given back when the entry goes.
    _permit: Option<ConnPermit>,
}

/// One worker core's server state.
pub struct Core {
    index: usize,
    config: RefCell<Rc<Config>>,
    stats: Stats,
    date: DateCache,
    kits: RefCell<Vec<Kit>>,
    conns: RefCell<slab::Slab<ConnEntry>>,
    draining: Cell<bool>,
    /// The drain hands the listeners to a successor process (see [`Core::begin_drain_as`]).
    handover: Cell<bool>,
    drain_deadline: Cell<Option<Instant>>,
    sweeping: Cell<bool>,
    sampler: crate::access::Sampler,
    stream_server: RefCell<Option<Rc<crate::stream::StreamServer>>>,
    requests_seen: Cell<u64>,
    drain_waiters: RefCell<Vec<Waker>>,
    /// Busy connections that must hear of a drain at once (stream connections send GOAWAY),
    /// by registry key.
    drain_watchers: RefCell<std::collections::HashMap<usize, Waker>>,
    empty_waiter: RefCell<Option<Waker>>,
    edge: RefCell<Rc<EdgeLocal>>,
}

thread_local! {
    static CORE: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

impl Core {
    /// Creates this thread's core context (replacing any earlier one) and returns it.
    pub fn install(index: usize, config: Config) -> Rc<Core> {
        // Sized up front: a growing table leaves its old copy resident in the allocator.
        let capacity = config.max_connections.min(1 << 20);
        let core = Rc::new(Core {
            index,
            config: RefCell::new(Rc::new(config)),
            stats: Stats::default(),
            date: DateCache::default(),
            kits: RefCell::new(Vec::new()),
            conns: RefCell::new(slab::Slab::with_capacity(capacity)),
            draining: Cell::new(false),
            handover: Cell::new(false),
            drain_deadline: Cell::new(None),
            sweeping: Cell::new(false),
            sampler: Default::default(),
            stream_server: RefCell::new(None),
            requests_seen: Cell::new(0),
            drain_waiters: RefCell::new(Vec::new()),
            drain_watchers: RefCell::new(Default::default()),
            empty_waiter: RefCell::new(None),
            edge: RefCell::new(EdgeLocal::new(Edge::protected())),
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
        self.kits.borrow_mut().clear();
    }

    /// Puts this core behind `edge` (tokens, protected mode, limits, shedding); before this,
    /// a core is in protected mode with no limits.
    pub fn set_edge(&self, edge: Arc<Edge>) {
        *self.edge.borrow_mut() = EdgeLocal::new(edge);
    }

    /// Puts this (admin listener's) core behind `edge` for tokens and scopes only: no
    /// connection limits, rate limits or shedding there.
    pub fn set_admin_edge(&self, edge: Arc<Edge>) {
        *self.edge.borrow_mut() = EdgeLocal::for_admin(edge);
    }

    /// This core's side of the edge.
    pub fn edge(&self) -> Rc<EdgeLocal> {
        self.edge.borrow().clone()
    }

    /// The address of connection `key`'s client.
    pub(crate) fn peer(&self, key: usize) -> Option<IpAddr> {
        self.conns.borrow().get(key).and_then(|c| c.peer)
    }

    /// The access-log sampler of this core.
    pub(crate) fn sampler(&self) -> &crate::access::Sampler {
        &self.sampler
    }

    /// A new request id, unique across cores and restarts: a per-process random prefix, the
    /// core, and a per-core counter (32 hex digits, like a W3C trace id).
    pub(crate) fn next_request_id(&self) -> crate::problem::RequestId<'static> {
        let n = self.requests_seen.get().wrapping_add(1);
        self.requests_seen.set(n);
        crate::problem::RequestId::own(process_nonce(), self.index, n)
    }

    /// This core's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// A `Send` copy of this core's counters.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = self.stats.snapshot(self.active_connections() as u64);
        if let Some(hub) = self.stream_server().and_then(|srv| srv.hub_stats()) {
            s.stream.pubsub = hub;
        }
        s
    }

    /// Enables the stream protocol on this core: [`crate::stream::serve_stream`] and HTTP
    /// `Upgrade: ringwire-stream/1` use `server`.
    pub fn set_stream_server(&self, server: Rc<crate::stream::StreamServer>) {
        *self.stream_server.borrow_mut() = Some(server);
    }

    /// The stream server of this core, if the stream protocol is on.
    pub fn stream_server(&self) -> Option<Rc<crate::stream::StreamServer>> {
        self.stream_server.borrow().clone()
    }

    /// Connections open on this core.
    pub fn active_connections(&self) -> usize {
        self.conns.borrow().len()
    }

    /// Whether the core is draining (no new connections, no keep-alive).
    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Whether the drain hands over to a successor process ([`Core::begin_drain_as`]).
    pub fn is_handover(&self) -> bool {
        self.handover.get()
    }

    /// Starts draining: listeners stop accepting, idle connections close, busy ones finish
    /// their request and answer it with `Connection: close`.
    pub fn start_drain(&self) {
        if self.draining.replace(true) {
            return;
        }
        let wake: Vec<Waker> = self.drain_waiters.borrow_mut().drain(..).collect();
        wake.into_iter().for_each(Waker::wake);
        let watchers: Vec<Waker> = self
            .drain_watchers
            .borrow_mut()
            .drain()
            .map(|(_, w)| w)
            .collect();
        watchers.into_iter().for_each(Waker::wake);
        // Idle keep-alive connections close now (as nginx does). A request that arrived in
        // the same instant is lost with its connection, which is what a client of a
        // keep-alive connection must be ready for anyway. Not in a hand-over: there the
        // successor serves new connections, and nothing forces a close before the next request.
        if self.handover.get() {
            return;
        }
        let idle: Vec<JoinHandle<()>> = self
            .conns
            .borrow_mut()
            .iter_mut()
            .filter(|(_, c)| c.idle_since.is_some())
            .filter_map(|(_, c)| c.task.take())
            .collect();
        for task in idle {
            self.stats.closed(CloseReason::Drain);
            task.abort();
        }
    }

    /// Starts draining with a deadline for whoever finishes the drain ([`Core::drain`]).
    pub fn begin_drain(&self, deadline: Instant) {
        self.begin_drain_as(deadline, false);
    }

    /// [`Core::begin_drain`]; `handover`: a successor process serves the same listeners, so
    /// idle keep-alive connections are not closed at once (a request already on its way on
    /// one would be lost): each answers its next request with `Connection: close`, or closes
    /// at its keep-alive timeout, whichever comes first.
    pub fn begin_drain_as(&self, deadline: Instant, handover: bool) {
        self.handover.set(handover);
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

    /// Waits until draining starts (for accept loops, and long responses that must end).
    pub async fn drained(&self) {
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

    pub(crate) fn register(&self, peer: Option<IpAddr>, permit: Option<ConnPermit>) -> usize {
        self.conns.borrow_mut().insert(ConnEntry {
            task: None,
            idle_since: None,
            peer,
            _permit: permit,
        })
    }

    pub(crate) fn set_task(&self, key: usize, task: JoinHandle<()>) {
        if let Some(c) = self.conns.borrow_mut().get_mut(key) {
            c.task = Some(task);
        }
    }

    /// Wakes `waker` when draining starts; connection `key` replaces its earlier waker.
    pub(crate) fn watch_drain(&self, key: usize, waker: &Waker) {
        let mut watchers = self.drain_watchers.borrow_mut();
        match watchers.get(&key) {
            Some(w) if w.will_wake(waker) => {}
            _ => {
                watchers.insert(key, waker.clone());
            }
        }
    }

    pub(crate) fn deregister(&self, key: usize) {
        self.drain_watchers.borrow_mut().remove(&key);
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

    /// Marks connection `key` idle since `since` (waiting for its next request), or busy.
    pub(crate) fn set_idle(&self, key: usize, since: Option<Instant>) {
        if let Some(c) = self.conns.borrow_mut().get_mut(key) {
            c.idle_since = since;
        }
    }

    /// Closes idle connections whose keep-alive time ran out, every quarter of that timeout
    /// (at most once a second). One task per core replaces a timer per connection.
    pub(crate) async fn sweep_idle(&self) {
        loop {
            let keepalive = self.config().keepalive_timeout;
            let period = (keepalive / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
            ringwire_reactor::time::sleep(period).await;
            let now = ringwire_reactor::time::now();
            let expired: Vec<JoinHandle<()>> = self
                .conns
                .borrow_mut()
                .iter_mut()
                .filter(|(_, c)| {
                    c.idle_since
                        .is_some_and(|t| now.saturating_duration_since(t) >= keepalive)
                })
                .filter_map(|(_, c)| c.task.take())
                .collect();
            for task in expired {
                self.stats.closed(CloseReason::KeepAliveTimeout);
                task.abort();
            }
        }
    }

    /// Starts this core's idle sweeper once.
    pub(crate) fn ensure_sweeper(self: &Rc<Self>) {
        if !self.sweeping.replace(true) {
            let core = self.clone();
            ringwire_reactor::spawn_local(async move { core.sweep_idle().await });
            let edge = self.edge();
            if edge.edge().shedder().enabled() {
                let index = self.index;
                drop(ringwire_reactor::spawn_local(edge.probe(index)));
            }
        }
    }

    /// The Date field value for responses, recomputed once per second.
    pub(crate) fn date(&self, now: Instant) -> [u8; HTTP_DATE_LEN] {
        self.date.get(now)
    }

    pub(crate) fn take_kit(&self, config: &Config) -> Kit {
        self.kits
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Kit::new(config))
    }

    pub(crate) fn put_kit(&self, kit: Kit, config: &Config) {
        let mut pool = self.kits.borrow_mut();
        // A parser built from limits replaced by a reload is dropped, not reused.
        if pool.len() < POOL_MAX && *kit.parser.limits() == config.limits.effective() {
            pool.push(kit);
        }
    }
}

/// Random bits fixed at process start, so request ids from different runs differ.
fn process_nonce() -> u64 {
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NONCE.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        // RandomState is seeded from the OS; hashing the time and pid adds uniqueness.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        h.write_u32(std::process::id());
        h.finish()
    })
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
