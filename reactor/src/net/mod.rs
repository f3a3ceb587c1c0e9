//! TCP sockets on the reactor, with owned-buffer I/O on either backend.
//!
//! Listener policy (one `SO_REUSEPORT` socket per core, backlog, options) lives in
//! `ringwire-net`; these are the primitives it builds on.

mod listener;
mod stream;

pub use listener::TcpListener;
pub use stream::TcpStream;
