//! Unix signals delivered into a reactor through a signalfd.
//!
//! A signal reaches a signalfd only if no thread would take it the classic way, so the
//! signals must be blocked in *every* thread: call [`block`] on the main thread before any
//! other thread (workers, loggers) is started; threads inherit the mask.

use crate::sys::{Io, op, poll::FdSource};
use std::io;

pub use libc::{SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

/// Blocks `signals` on the calling thread and the threads it starts afterwards.
pub fn block(signals: &[i32]) -> io::Result<()> {
    crate::sys::unix::block_signals(signals)
}

/// Sends `signal` to this whole process (where it is blocked in every thread, a [`Signals`]
/// stream receives it): how an admin endpoint asks for what the signal does.
pub fn raise(signal: i32) -> io::Result<()> {
    crate::sys::unix::raise_in_process(signal)
}

/// Sends `signal` to process `pid` (a successor that did not get ready, say).
pub fn send(pid: u32, signal: i32) -> io::Result<()> {
    crate::sys::unix::kill(pid, signal)
}

/// A stream of signals, read on the current runtime. Like every I/O handle it belongs to the
/// core that created it (`!Send`, `!Sync`):
///
/// ```compile_fail
/// use ringwire_reactor::{Handle, signal::Signals};
/// fn to_another_core(other: &Handle, signals: Signals) {
///     other.spawn(move || drop(signals));
/// }
/// ```
pub struct Signals {
    io: Io<FdSource>,
    _core: crate::CoreBound,
}

impl Signals {
    /// Starts receiving `signals` (and blocks them on this thread; see [`block`] for the
    /// others).
    pub fn new(signals: &[i32]) -> io::Result<Signals> {
        block(signals)?;
        let nonblocking = crate::current_backend() != Some(crate::BackendKind::Uring);
        let fd = crate::sys::unix::signalfd(signals, nonblocking)?;
        Ok(Signals {
            io: Io::from_fd(fd)?,
            _core: crate::CoreBound::default(),
        })
    }

    /// The next signal's number.
    pub async fn recv(&self) -> io::Result<i32> {
        // struct signalfd_siginfo is 128 bytes; ssi_signo is its first field (u32).
        let (res, buf) = op::read::read(&self.io, Vec::with_capacity(128)).await;
        let n = res?;
        if n < 4 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "short read from signalfd",
            ));
        }
        Ok(u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as i32)
    }
}
