//! The connection layer's one error type.

use std::{fmt, io};

/// What went wrong in the connection layer or in a service.
#[derive(Debug)]
pub enum Error {
    /// A socket or file operation failed.
    Io(io::Error),
    /// A listening socket could not be set up; `what` names the step.
    Listen {
        /// The address being set up.
        addr: std::net::SocketAddr,
        /// The failing step (`bind`, `listen`, ...).
        what: &'static str,
        /// The system's error.
        source: io::Error,
    },
    /// The client broke HTTP/1.1 framing or a limit; the status code says which.
    Http(ringwire_protocol::http1::Error),
    /// A deadline passed (head, body or write timeout).
    Timeout(&'static str),
    /// A service misused the response API (sent twice, wrong length, ...).
    Service(String),
    /// The edge refused the request (token, scope, protected mode, rate limit, overload):
    /// the connection loop answers it (401, 403, 429 or 503) and keeps the connection.
    Denied(crate::edge::Denial),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Listen { addr, what, source } => write!(f, "cannot {what} {addr}: {source}"),
            Error::Http(e) => write!(f, "bad request: {e}"),
            Error::Timeout(what) => write!(f, "{what} timed out"),
            Error::Service(msg) => write!(f, "service error: {msg}"),
            Error::Denied(d) => write!(f, "refused: {}", d.code()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) | Error::Listen { source: e, .. } => Some(e),
            Error::Http(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::edge::Denial> for Error {
    fn from(d: crate::edge::Denial) -> Self {
        Error::Denied(d)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ringwire_protocol::http1::Error> for Error {
    fn from(e: ringwire_protocol::http1::Error) -> Self {
        Error::Http(e)
    }
}
