//! Sans-I/O protocol codecs for ringwire.
//!
//! Bytes in, events out: nothing in this crate touches a socket, a reactor or a clock.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod channels;
pub mod http1;
pub mod kv;
pub mod stream;

#[doc(hidden)]
pub mod fuzzing;
