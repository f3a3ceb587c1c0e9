//! The readiness backend on mio: epoll on Linux, kqueue on BSD/macOS, IOCP on Windows.
//!
//! Sockets are registered edge-triggered for both directions once, when they are created. An
//! operation first tries its system call; only on `WouldBlock` does it clear the readiness bit
//! and wait for the next event, so a socket with data ready costs no wait at all. A receive
//! that fills less than its buffer also clears read readiness (the socket is empty, and the
//! next bytes raise a new edge), which saves the read that would only return `WouldBlock`.
//!
//! Fairness: a socket that is always ready (a client pipelining faster than the core answers)
//! would let its task loop through reads and writes without ever returning `Pending`, and
//! starve every other task, timer and accept of the core. So each socket gets
//! [`IO_BUDGET`] ready operations per loop turn; the next one reports "not ready" once, with
//! the task woken again at once, which sends it behind the next poll for events.

mod io;
mod registration;

pub(crate) use io::RawIo;
#[cfg(target_os = "linux")]
pub(crate) use registration::FdSource;
pub(crate) use registration::{Direction, Registered};

use crate::runtime::context;
use mio::{Events, Interest, Poll, Token, Waker, event::Source};
use slab::Slab;
use std::{
    sync::Arc,
    task::Waker as TaskWaker,
    time::{Duration, Instant},
};

const WAKE_TOKEN: Token = Token(usize::MAX);

/// Ready operations (reads, writes, accepts) one socket may make per loop turn before its task
/// is sent to the back of the run queue. With the default 4 KiB receive buffers that is at most
/// 256 KiB read per connection per turn; an ordinary request/response exchange uses two.
pub(crate) const IO_BUDGET: u16 = 64;

#[derive(Default)]
struct ScheduledIo {
    readable: bool,
    writable: bool,
    /// The peer closed or the socket failed: an event that does not repeat, so a receive that
    /// empties the socket must not forget it (see `drained`).
    read_closed: bool,
    reader: Option<TaskWaker>,
    writer: Option<TaskWaker>,
    /// The loop turn (`Counters::polls`, truncated) that `spent` counts for.
    turn: u32,
    /// Ready operations granted in `turn`, against [`IO_BUDGET`].
    spent: u16,
}

/// Counters for the metrics endpoint.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) polls: u64,
    pub(crate) events: u64,
}

pub(crate) struct Driver {
    poll: Poll,
    events: Events,
    waker: Arc<Waker>,
    sources: Slab<ScheduledIo>,
    pub(crate) counters: Counters,
}

impl Driver {
    pub(crate) fn new(capacity: usize) -> std::io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE_TOKEN)?);
        Ok(Driver {
            poll,
            events: Events::with_capacity(1024),
            waker,
            sources: Slab::with_capacity(capacity),
            counters: Counters::default(),
        })
    }

    pub(crate) fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    fn register(&mut self, source: &mut impl Source) -> std::io::Result<usize> {
        // Unknown readiness counts as ready: the first operation just tries its system call.
        let token = self.sources.insert(ScheduledIo {
            readable: true,
            writable: true,
            ..Default::default()
        });
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(source, Token(token), interest)
        {
            self.sources.remove(token);
            return Err(e);
        }
        Ok(token)
    }

    fn deregister(&mut self, source: &mut impl Source, token: usize) {
        let _ = self.poll.registry().deregister(source);
        self.sources.try_remove(token);
    }

    fn poll_ready(&mut self, token: usize, dir: Direction, waker: &TaskWaker) -> bool {
        let turn = self.counters.polls as u32;
        let io = &mut self.sources[token];
        let (ready, slot) = match dir {
            Direction::Read => (io.readable, &mut io.reader),
            Direction::Write => (io.writable, &mut io.writer),
        };
        if !ready {
            match slot {
                Some(w) if w.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
            return false;
        }
        if io.turn != turn {
            (io.turn, io.spent) = (turn, 0);
        }
        if io.spent >= IO_BUDGET {
            // This socket had its share of the turn: run again after the others and after the
            // next poll for events (readiness is kept, so no event is needed to resume).
            waker.wake_by_ref();
            return false;
        }
        io.spent += 1;
        true
    }

    fn clear_ready(&mut self, token: usize, dir: Direction) {
        let io = &mut self.sources[token];
        match dir {
            Direction::Read => (io.readable, io.read_closed) = (false, false),
            Direction::Write => io.writable = false,
        }
    }

    /// After a short read: not readable until the next event, unless the peer's close (or an
    /// error) was already reported, which raises no further event; the next read then returns
    /// it.
    fn drained(&mut self, token: usize) {
        let io = &mut self.sources[token];
        io.readable = io.read_closed;
    }

    /// Waits up to `timeout` for readiness events and wakes the tasks they concern. Returns how
    /// long it slept.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> std::io::Result<Duration> {
        self.counters.polls += 1;
        let start = Instant::now();
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let slept = if timeout.is_some_and(|t| t.is_zero()) {
            Duration::ZERO
        } else {
            start.elapsed()
        };
        for event in self.events.iter() {
            self.counters.events += 1;
            if event.token() == WAKE_TOKEN {
                continue;
            }
            let Some(io) = self.sources.get_mut(event.token().0) else {
                continue;
            };
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                io.readable = true;
                io.read_closed |= event.is_read_closed() || event.is_error();
                if let Some(w) = io.reader.take() {
                    w.wake();
                }
            }
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                io.writable = true;
                if let Some(w) = io.writer.take() {
                    w.wake();
                }
            }
        }
        Ok(slept)
    }

    /// Wakers of every waiting operation, for teardown.
    pub(crate) fn take_wakers(&mut self) -> Vec<TaskWaker> {
        let mut out = Vec::new();
        for (_, io) in self.sources.iter_mut() {
            out.extend(io.reader.take());
            out.extend(io.writer.take());
        }
        out
    }
}

/// Runs `f` on the current runtime's readiness driver, `None` if there is none.
fn try_with_driver<R>(f: impl FnOnce(&mut Driver) -> R) -> Option<R> {
    context::try_with(|cx| match &mut *cx.driver.borrow_mut() {
        crate::driver::Driver::Poll(d) => Some(f(d)),
        #[allow(unreachable_patterns)] // the only variant off Linux
        _ => None,
    })
    .flatten()
}
