//! ringwire-db: the storage floor.
//!
//! A [`Store`] keeps **keys and values with versions** and **append-only logs**, in an embedded
//! LMDB environment (through `heed`):
//!
//! - **Reads** run on the calling thread (a worker core) in an LMDB read transaction: MVCC over
//!   a memory map, no lock, no message. [`Store::get`] copies the value out as `Bytes`;
//!   [`Store::with_value`] hands a closure the bytes in the map itself.
//! - **Writes** travel as messages to one writer thread (not a worker core), which takes every
//!   request waiting, applies them in one write transaction and commits once: **group commit**,
//!   one `fsync` per batch. Each request is answered after its batch is as durable as
//!   [`Sync`] promises. A request is atomic: all its operations apply, or none.
//!
//! ```
//! # fn main() -> Result<(), ringwire_db::Error> {
//! use ringwire_db::{Cond, Config, Op, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(Config::new(dir.path()))?;
//! // `write` returns a future; any executor will do (here: block on it).
//! let out = ringwire_db::block_on(store.write(vec![Op::put("k", "v", Cond::Any)]))?;
//! assert!(out[0].created());
//! assert_eq!(&store.get(b"k")?.unwrap().value[..], b"v");
//! store.close();
//! # Ok(()) }
//! ```
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]
// The one exception, `env` (opening the memory map), allows it for itself.
#![deny(unsafe_code)]

mod config;
mod encoding;
#[allow(unsafe_code)] // opening the LMDB map: the one exception, see env.rs
mod env;
mod error;
mod handle;
mod log;
mod log_cache;
mod ops;
pub mod pg;
mod read;
mod reply;
mod stats;
mod store;
mod writer;

pub use config::{Config, MAX_KEY, Sync};
pub use error::Error;
pub use handle::{Backend, Db, Write};
pub use log::{LogEntry, LogInfo, TRIM_SLICE, Trim};
pub use ops::{Cond, Op, Outcome};
pub use read::{Entry, Scan};
pub use reply::{Pending, block_on};
pub use stats::{DbSnapshot, OpKind};
pub use store::{Store, backup};
