//! ringwire-reactor: a thread-per-core async runtime with an io_uring backend and a
//! readiness backend (epoll through mio, which also gives kqueue and IOCP).
//!
//! One [`Runtime`] runs on one thread and owns everything it drives: its task queue, its
//! I/O driver, its timers and its receive buffers. Tasks are `!Send` and never migrate. Work
//! crosses cores only as messages ([`channel`]) or closures ([`Handle::spawn`]), each of which
//! wakes the target core through its own wake mechanism (an eventfd on io_uring, `mio::Waker`
//! on the readiness backend).
//!
//! I/O takes buffers by value and gives them back with the result ([`buf::BufResult`]): with
//! io_uring the kernel owns the memory while an operation is in flight, and a dropped future
//! hands its buffer to the driver, which frees it only when the kernel's completion arrives.
//!
//! ```no_run
//! use ringwire_reactor::{Backend, Runtime, net::TcpListener};
//!
//! let rt = Runtime::builder().backend(Backend::Auto).build().unwrap();
//! println!("backend: {}", rt.backend());
//! rt.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
//!     loop {
//!         let stream = listener.accept().await.unwrap();
//!         ringwire_reactor::spawn_local(async move {
//!             while let Ok(Some(buf)) = stream.recv().await {
//!                 let (res, _) = stream.write_all(buf).await;
//!                 if res.is_err() { break; }
//!             }
//!         });
//!     }
//! });
//! ```
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

pub mod activation;
mod backend;
pub mod buf;
pub mod channel;
pub mod clock;
mod driver;
mod error;
pub mod fs;
pub mod launcher;
pub mod net;
mod runtime;
#[cfg(target_os = "linux")]
pub mod signal;
mod sys;
#[doc(hidden)]
pub mod testing;
pub mod time;

pub use backend::{Backend, BackendKind, ParseBackendError, Selection, uring_sysctl_refusal};

/// Marks a type that refers to the driver, timers or buffers of the core it was created on
/// (thread-local state indexed by slab keys, ring slots, descriptors queued on that ring): such
/// a value must never reach another thread, so it is neither `Send` nor `Sync`.
pub(crate) type CoreBound = std::marker::PhantomData<*const ()>;
pub use error::Error;
pub use runtime::{
    Builder, Handle, JoinError, JoinHandle, LoopStats, Runtime, current_backend, handle, last_turn,
    loop_stats, spawn_local, yield_now,
};
#[cfg(target_os = "linux")]
pub use sys::ktls;
