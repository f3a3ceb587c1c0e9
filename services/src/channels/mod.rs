//! Channels: publish/subscribe with durable channels kept in the store (`docs/PROTOCOL.md`,
//! service `channels`; `docs/HTTP.md`, `/channels/...`).

pub mod bridge;
pub mod consume;
pub mod consumer;
pub mod core;
pub mod cursor;
pub mod feed;
pub mod http;
pub mod jetstream;
pub mod logs;
pub mod policy;
pub mod sse;
pub mod stats;
pub mod stream;
mod subscribe;
pub mod sweep;
pub mod watch;
