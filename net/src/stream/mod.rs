//! The binary stream protocol on the reactor: the server's connection loop and services, and
//! a client. The wire format and its state machine are `ringwire_protocol::stream`.
//!
//! A core serves it on its own listener ([`serve_stream`]) or takes over an HTTP/1.1
//! connection that asks for `Upgrade: ringwire-stream/1`. Services: `echo`, and `pubsub`
//! with cross-core fan-out through each core's [`Hub`].

mod app;
pub mod client;
pub(crate) mod conn;
pub mod fuzzing;
mod gate;
pub mod hub;
mod pubsub;
mod server;
mod service;
mod timing;

pub use app::{Progress, StreamHandler, StreamService, Wakeup};
pub use hub::{
    BridgeCores, BridgeOutbox, BridgeSeed, DurablePredicate, Gate, Held, Hub, HubStats, Mail,
    Outgoing, Seed, SendError, Subscription, mesh, mesh_with_bridge,
};
pub use pubsub::{Command, MAX_CHANNEL, message_limit, parse_command};
pub use server::{StreamServer, serve_stream, serve_stream_tls};

/// The `Upgrade` token that switches an HTTP/1.1 connection to this protocol.
pub const UPGRADE_TOKEN: &str = "ringwire-stream/1";

/// The one request path (query ignored) on which [`UPGRADE_TOKEN`] switches protocols; on any
/// other path the `Upgrade` field is ignored and the request is ordinary HTTP.
pub const UPGRADE_PATH: &str = "/";
