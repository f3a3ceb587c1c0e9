//! ringwire-net: sockets on the reactor, one listener per core, and the HTTP/1.1 connection
//! loop with its limits, timeouts, drain and per-core stats.
//!
//! A worker core installs a [`Core`] (its configuration, stats, pools and connection
//! registry), then runs [`serve_http`] on its own `SO_REUSEPORT` listener from
//! [`bind_per_core`]. Services implement [`Service`]; see its module for an example.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
// unsafe code lives only in the reactor, buffer code and db/src/env.rs (ARCHITECTURE.md).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod auth;
mod body;
mod config;
pub(crate) mod conn;
mod core;
pub mod edge;
mod error;
mod headers;
pub mod limit;
mod listener;
mod listener_check;
pub mod problem;
mod respond;
mod server;
mod service;
mod stats;
pub mod stream;
pub mod tls;
pub mod trace;
pub mod transport;

pub use body::Body;
pub use config::{Config, StreamTimeouts};
pub use core::Core;
pub use error::Error;
pub use headers::{RouteHeaders, SecurityHeaders};
pub use listener::{bind_exclusive, bind_per_core};
pub use respond::Responder;
pub use server::{serve_http, serve_http_tls};
pub use service::{Request, Service};
pub use stats::{
    CloseReason, METHODS, STREAM_SERVICES, Snapshot, Stats, StreamSnapshot, method_class,
};
