//! ringwire-services: the application services, on top of `net` (both protocols) and `db`.
//!
//! - [`kv`]: the key-value store, over HTTP (`/kv/...`).
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
// unsafe code lives only in the reactor, buffer code and db/src/env.rs (ARCHITECTURE.md).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod channels;
mod framed;
pub mod kv;
mod traced;
mod turn;
