//! ringwire-ops: the control core.
//!
//! One thread with its own reactor, apart from the workers, that serves the admin endpoints
//! (health probes with Kubernetes semantics, Prometheus metrics), heartbeats the workers by
//! message, turns SIGTERM/SIGINT into a graceful drain and SIGHUP into a reload, keeps systemd
//! informed (`READY`, `WATCHDOG`, `STOPPING`), and sets up logging. It never touches a
//! worker's memory: it sends closures to the workers' reactors and gets snapshots back.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
// unsafe code lives only in the reactor, buffer code and db/src/env.rs (ARCHITECTURE.md).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin;
pub mod control;
mod dashboard;
pub mod doctor;
pub mod health;
mod logging;
pub mod metrics;
pub mod options;
mod profile;
pub mod sdnotify;
mod select;
pub mod upgrade;

pub use control::{Options, Reload, WorkerEvent, Workers, run, worker_report};
pub use health::{CheckResult, HealthCheck};
pub use logging::{Format as LogFormat, Logging};
