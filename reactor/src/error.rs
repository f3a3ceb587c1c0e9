//! The reactor's one error type for setup failures. Operations on sockets and files return
//! `std::io::Error` because that is what callers match on (`WouldBlock`, `ConnectionReset`...).

use std::{fmt, io};

/// Why a runtime, a backend or a core could not be set up.
#[derive(Debug)]
pub enum Error {
    /// `Backend::Uring` was asked for and io_uring cannot be used here; the text says why.
    UringUnavailable(String),
    /// A system call needed to build the runtime failed.
    Io {
        /// What the reactor was doing.
        context: &'static str,
        /// The error from the system.
        source: io::Error,
    },
    /// A runtime builder value the kernel (or the reactor) cannot take; the text names the
    /// setting, the value and the accepted range.
    Config(String),
    /// A CPU list such as `0-3,8` could not be parsed or names CPUs this machine lacks.
    CpuList(String),
    /// One core of a thread-per-core launch failed before it started serving.
    CoreStart {
        /// Index of the worker (0-based).
        core: usize,
        /// The CPU it was to be pinned to, if any.
        cpu: Option<usize>,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(context: &'static str, source: io::Error) -> Self {
        Error::Io { context, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UringUnavailable(reason) => write!(f, "io_uring is unavailable: {reason}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Config(msg) => write!(f, "invalid runtime setting: {msg}"),
            Error::CpuList(msg) => write!(f, "invalid CPU list: {msg}"),
            Error::CoreStart {
                core,
                cpu: Some(cpu),
                reason,
            } => {
                write!(f, "worker {core} (cpu {cpu}) failed to start: {reason}")
            }
            Error::CoreStart {
                core,
                cpu: None,
                reason,
            } => {
                write!(f, "worker {core} failed to start: {reason}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
