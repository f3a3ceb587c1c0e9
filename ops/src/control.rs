//! The control core: its own thread and reactor, talking to the workers only by message.
//!
//! It heartbeats every worker (a closure sent to the worker's reactor, answered with a
//! snapshot), serves the admin endpoints, turns signals into drain or reload, and keeps
//! systemd informed. A worker that stops answering fails liveness and stops the watchdog.

use crate::{
    Logging,
    admin::Admin,
    health::{self, CHECK_TIMEOUT, Entry, HealthCheck},
    metrics::WorkerReport,
    sdnotify::{self, Notifier},
    select::{Either, select},
};
use ringwire_net::Core;
use ringwire_reactor::{
    Handle, Runtime, channel,
    signal::{SIGHUP, SIGINT, SIGTERM, Signals},
    spawn_local,
    time::{self, timeout},
};
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    time::{Duration, Instant},
};

pub use crate::options::{Options, Reload, WorkerEvent, Workers};

#[derive(Default)]
struct WorkerState {
    listening: bool,
    stopped: bool,
    last_seen: Option<Instant>,
    report: Option<WorkerReport>,
}

/// Everything the admin endpoints read. Lives on the control thread only.
pub(crate) struct State {
    handles: Vec<Handle>,
    workers: RefCell<Vec<WorkerState>>,
    started: Cell<bool>,
    draining: Cell<bool>,
    start: Instant,
    checks: Vec<Box<dyn HealthCheck>>,
    pub(crate) collectors: Vec<Box<dyn crate::metrics::Collector>>,
    heartbeat_timeout: Duration,
    pub(crate) pinned: Vec<bool>,
    edge: Option<std::sync::Arc<ringwire_net::edge::Edge>>,
    pub(crate) public_metrics: bool,
    pub(crate) upgrader: Option<crate::upgrade::Upgrader>,
    on_ready: Cell<Option<Box<dyn FnOnce() + Send>>>,
    /// The drain is a hand-over to a successor (see `upgrade.rs`).
    pub(crate) handover: Cell<bool>,
}

/// What a worker reports; call it on the worker's thread.
pub fn worker_report(core: usize) -> WorkerReport {
    let net = Core::current().map(|c| c.snapshot()).unwrap_or_default();
    WorkerReport {
        core,
        net,
        loop_stats: ringwire_reactor::loop_stats(),
    }
}

fn ask_for_report(handle: &Handle, core: usize, reply: &channel::Sender<WorkerReport>) {
    let reply = reply.clone();
    handle.spawn(move || {
        let _ = reply.send(worker_report(core));
    });
}

impl State {
    pub(crate) fn uptime(&self) -> Duration {
        self.start.elapsed()
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Whether every worker answered within the heartbeat timeout (counting from start until
    /// its first answer, so a starting server is not declared dead).
    fn all_alive(&self, now: Instant) -> (bool, String) {
        let workers = self.workers.borrow();
        let late: Vec<usize> = workers
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                !w.stopped
                    && now.saturating_duration_since(w.last_seen.unwrap_or(self.start))
                        > self.heartbeat_timeout
            })
            .map(|(i, _)| i)
            .collect();
        let n = workers.len();
        if late.is_empty() {
            (
                true,
                format!(
                    "{n}/{n} workers answered within {}",
                    fmt(self.heartbeat_timeout)
                ),
            )
        } else {
            (
                false,
                format!(
                    "workers {late:?} have not answered for over {}",
                    fmt(self.heartbeat_timeout)
                ),
            )
        }
    }

    pub(crate) fn liveness(&self) -> Vec<Entry> {
        let t = Instant::now();
        let (alive, message) = self.all_alive(t);
        vec![
            Entry {
                name: "control".into(),
                healthy: true,
                message: "control core is answering".into(),
                duration: Duration::ZERO,
            },
            Entry {
                name: "workers".into(),
                healthy: alive,
                message,
                duration: t.elapsed(),
            },
        ]
    }

    pub(crate) fn startup(&self) -> Vec<Entry> {
        let started = self.started.get();
        let message = if started {
            "every worker is listening"
        } else {
            "starting"
        };
        vec![Entry {
            name: "startup".into(),
            healthy: started,
            message: message.into(),
            duration: Duration::ZERO,
        }]
    }

    pub(crate) async fn readiness(&self) -> Vec<Entry> {
        let (listening, n) = {
            let w = self.workers.borrow();
            (
                w.iter().filter(|w| w.listening && !w.stopped).count(),
                w.len(),
            )
        };
        let mut out = vec![
            Entry {
                name: "draining".into(),
                healthy: !self.draining.get(),
                message: if self.draining.get() {
                    "draining for shutdown"
                } else {
                    "serving"
                }
                .into(),
                duration: Duration::ZERO,
            },
            Entry {
                name: "listeners".into(),
                healthy: listening == n && self.started.get(),
                message: format!("{listening}/{n} workers listening"),
                duration: Duration::ZERO,
            },
        ];
        for check in &self.checks {
            let t = Instant::now();
            let result = timeout(CHECK_TIMEOUT, check.check())
                .await
                .unwrap_or_else(|_| {
                    health::CheckResult::fail(format!("no answer within {}", fmt(CHECK_TIMEOUT)))
                });
            out.push(Entry {
                name: check.name().to_string(),
                healthy: result.healthy,
                message: result.message,
                duration: t.elapsed(),
            });
        }
        out
    }

    pub(crate) fn heartbeat_ages(&self) -> Vec<Option<f64>> {
        let now = Instant::now();
        self.workers
            .borrow()
            .iter()
            .map(|w| {
                w.last_seen
                    .map(|t| now.saturating_duration_since(t).as_secs_f64())
            })
            .collect()
    }

    /// Fresh reports from every worker; a worker that does not answer within 250 ms is
    /// represented by its last heartbeat report.
    pub(crate) async fn collect(&self) -> Vec<WorkerReport> {
        let (tx, rx) = channel::channel();
        for (i, h) in self.handles.iter().enumerate() {
            ask_for_report(h, i, &tx);
        }
        drop(tx);
        let mut fresh: Vec<Option<WorkerReport>> = vec![None; self.handles.len()];
        let deadline = time::now() + Duration::from_millis(250);
        while fresh.iter().any(Option::is_none) {
            match time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => {
                    let i = r.core;
                    self.seen(r.clone());
                    fresh[i] = Some(r);
                }
                _ => break,
            }
        }
        let workers = self.workers.borrow();
        fresh
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| r.or_else(|| workers[i].report.clone()))
            .collect()
    }

    fn seen(&self, report: WorkerReport) {
        if let Some(w) = self.workers.borrow_mut().get_mut(report.core) {
            w.last_seen = Some(Instant::now());
            w.report = Some(report);
        }
    }
}

fn fmt(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// Runs the control core on the calling thread until every worker has stopped. Returns the
/// process exit code: 0 after a drain, 1 after a second signal or a control-core failure.
pub fn run(opts: Options, workers: Workers, logging: &Logging, reload: Reload) -> i32 {
    if let Some(cpu) = opts.cpu {
        if let Err(e) = ringwire_reactor::launcher::pin_current_thread(cpu) {
            tracing::warn!("control core: cannot pin to cpu {cpu}: {e}; left unpinned");
        }
    }
    let rt = match Runtime::builder().expected_sockets(256).build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("control core: {e}");
            return 1;
        }
    };
    let n = workers.handles.len();
    let state = Rc::new(State {
        handles: workers.handles,
        workers: RefCell::new((0..n).map(|_| WorkerState::default()).collect()),
        started: Cell::new(false),
        draining: Cell::new(false),
        start: Instant::now(),
        checks: opts.checks,
        collectors: opts.collectors,
        heartbeat_timeout: opts.heartbeat_timeout,
        pinned: workers.pinned,
        edge: opts.edge,
        public_metrics: opts.public_metrics,
        upgrader: opts.upgrader,
        on_ready: Cell::new(opts.on_ready),
        handover: Cell::new(false),
    });
    rt.block_on(control(
        state,
        opts.admin,
        opts.heartbeat_interval,
        opts.shutdown_timeout,
        workers.events,
        logging,
        reload,
    ))
}

async fn control(
    state: Rc<State>,
    admin: Option<std::net::TcpListener>,
    interval: Duration,
    shutdown: Duration,
    events: channel::Receiver<WorkerEvent>,
    logging: &Logging,
    reload: Reload,
) -> i32 {
    let notifier = match Notifier::from_env() {
        Ok(n) => n.map(Rc::new),
        Err(e) => {
            tracing::warn!("NOTIFY_SOCKET is set but unusable: {e}");
            None
        }
    };
    if let Some(listener) = admin {
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let admin_config = ringwire_net::Config {
            max_connections: 256,
            access_log_sample: 0.0,
            ..Default::default()
        };
        let core = Core::install(state.handles.len(), admin_config);
        if let Some(edge) = &state.edge {
            core.set_admin_edge(edge.clone());
        }
        match ringwire_reactor::net::TcpListener::from_std(listener) {
            Ok(l) => {
                tracing::info!(
                    "admin endpoints on http://{addr} (/metrics, /health/live, /health/ready, /health/startup)"
                );
                spawn_local(ringwire_net::serve_http(
                    l,
                    Rc::new(Admin {
                        state: state.clone(),
                    }),
                ));
            }
            Err(e) => tracing::error!("admin listener: {e}"),
        }
    }
    spawn_local(heartbeats(state.clone(), interval));
    if let (Some(n), Some(every)) = (notifier.clone(), sdnotify::watchdog_interval()) {
        spawn_local(watchdog(state.clone(), n, every / 2));
    }
    let signals = match Signals::new(&[SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot receive signals: {e}");
            return 1;
        }
    };
    let notify = |s: &str| {
        if let Some(n) = &notifier {
            if let Err(e) = n.notify(s) {
                tracing::warn!("sd_notify {s}: {e}");
            }
        }
    };
    // Kept across turns: dropping a pending signalfd read could lose a signal.
    let mut next_signal = Box::pin(signals.recv());
    loop {
        let next = select(next_signal.as_mut(), events.recv()).await;
        match next {
            Either::Left(sig) => {
                next_signal = Box::pin(signals.recv());
                match sig {
                    Ok(SIGHUP) => match reload() {
                        Ok((config, level)) => {
                            for h in &state.handles {
                                let config = config.clone();
                                h.spawn(move || {
                                    if let Some(core) = Core::current() {
                                        core.reload(config);
                                    }
                                });
                            }
                            match logging.set_level(&level) {
                                Ok(()) => tracing::info!(
                                    "SIGHUP: reloaded limits, timeouts and log level ({level}); listen addresses, workers, backend and stream.* settings need a restart"
                                ),
                                Err(e) => {
                                    tracing::error!("SIGHUP: limits reloaded, log level not: {e}")
                                }
                            }
                        }
                        Err(e) => tracing::error!("SIGHUP: configuration not reloaded: {e}"),
                    },
                    Ok(sig) if state.draining.get() => {
                        tracing::warn!("second signal ({sig}) during drain: exiting now");
                        return 1;
                    }
                    Ok(sig) => {
                        state.draining.set(true);
                        // After a hand-over systemd's main process is the successor.
                        if !state.handover.get() {
                            notify("STOPPING=1");
                        }
                        let deadline = Instant::now() + shutdown;
                        tracing::info!("signal {sig}: draining, deadline in {}", fmt(shutdown));
                        let handover = state.handover.get();
                        for h in &state.handles {
                            h.spawn(move || {
                                if let Some(core) = Core::current() {
                                    core.begin_drain_as(deadline, handover);
                                }
                            });
                        }
                    }
                    Err(e) => tracing::error!("signal stream: {e}"),
                }
            }
            Either::Right(Some(WorkerEvent::Listening(i))) => {
                let all = {
                    let mut w = state.workers.borrow_mut();
                    if let Some(w) = w.get_mut(i) {
                        w.listening = true;
                    }
                    w.iter().all(|w| w.listening)
                };
                if all && !state.started.replace(true) {
                    match state.on_ready.take() {
                        Some(tell) => tell(),
                        None => notify("READY=1"),
                    }
                    tracing::info!("all {} workers listening: ready", state.handles.len());
                }
            }
            Either::Right(Some(WorkerEvent::Stopped(i))) => {
                let all = {
                    let mut w = state.workers.borrow_mut();
                    if let Some(w) = w.get_mut(i) {
                        w.stopped = true;
                    }
                    w.iter().all(|w| w.stopped)
                };
                if all {
                    tracing::info!("all workers stopped");
                    return if state.draining.get() { 0 } else { 1 };
                }
            }
            Either::Right(None) => return 0,
        }
    }
}

/// Asks every worker for a report each `interval`.
async fn heartbeats(state: Rc<State>, interval: Duration) {
    let (tx, rx) = channel::channel::<WorkerReport>();
    let receiver = state.clone();
    spawn_local(async move {
        while let Some(r) = rx.recv().await {
            receiver.seen(r);
        }
    });
    loop {
        for (i, h) in state.handles.iter().enumerate() {
            ask_for_report(h, i, &tx);
        }
        time::sleep(interval).await;
    }
}

/// Pings the systemd watchdog only while every worker answers (or while draining on purpose),
/// and only after READY=1 (start-up is bounded by systemd's start timeout instead).
async fn watchdog(state: Rc<State>, notifier: Rc<Notifier>, every: Duration) {
    loop {
        let (alive, why) = state.all_alive(Instant::now());
        if !state.started.get() {
            // Not ready yet: nothing to vouch for.
        } else if alive || state.draining.get() {
            let _ = notifier.notify("WATCHDOG=1");
        } else {
            tracing::error!("watchdog withheld: {why}");
        }
        time::sleep(every).await;
    }
}
