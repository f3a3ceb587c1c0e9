//! What the binary hands the control core: its settings ([`Options`]), the workers it watches
//! ([`Workers`], [`WorkerEvent`]) and the configuration reload ([`Reload`]).

use crate::{health::HealthCheck, metrics::Collector, upgrade::Upgrader};
use ringwire_reactor::{Handle, channel};
use std::time::Duration;

/// What workers tell the control core about themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerEvent {
    /// Worker `n` is listening and serving.
    Listening(usize),
    /// Worker `n` finished (after a drain, or because it could not start).
    Stopped(usize),
}

/// The workers the control core watches.
pub struct Workers {
    /// One handle per worker core, by index.
    pub handles: Vec<Handle>,
    /// Listening/stopped events from the workers.
    pub events: channel::Receiver<WorkerEvent>,
    /// Whether each worker runs pinned to its CPU, by index.
    pub pinned: Vec<bool>,
}

/// Re-reads the configuration for SIGHUP: the workers' new connection settings and the new
/// log level, or why the reload was refused.
pub type Reload = Box<dyn Fn() -> Result<(ringwire_net::Config, String), String>>;

/// Control-core settings.
pub struct Options {
    /// The admin listener (already bound), or `None` for no admin endpoints.
    pub admin: Option<std::net::TcpListener>,
    /// CPU to pin the control thread to.
    pub cpu: Option<usize>,
    /// How often workers are asked for a heartbeat.
    pub heartbeat_interval: Duration,
    /// A worker silent for longer fails liveness and stops the watchdog.
    pub heartbeat_timeout: Duration,
    /// How long a drain may take before connections are force-closed.
    pub shutdown_timeout: Duration,
    /// Dependency checks for readiness.
    pub checks: Vec<Box<dyn HealthCheck>>,
    /// Metrics of other parts (the store), appended to `/metrics`.
    pub collectors: Vec<Box<dyn Collector>>,
    /// The workers' edge: the admin actions (drain, reload) need a token with the `admin`
    /// scope (or, without keys, a loopback client). `None`: protected mode, no limits.
    pub edge: Option<std::sync::Arc<ringwire_net::edge::Edge>>,
    /// `/metrics` needs no token (`auth.public_metrics`); probes never do.
    pub public_metrics: bool,
    /// Starts a successor for `POST /admin/upgrade` (`None`: not possible).
    pub upgrader: Option<Upgrader>,
    /// Called once every worker listens, instead of telling systemd `READY=1` (a successor
    /// tells its predecessor, which tells systemd).
    pub on_ready: Option<Box<dyn FnOnce() + Send>>,
}
