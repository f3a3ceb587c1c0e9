//! Stream services from the crates above `net` (the key-value store, say), plugged into the
//! connection loop by name.
//!
//! The loop owns flow control and framing; a service only sees its stream's bytes and
//! writes its answer bytes. Backpressure is by window: bytes the service has not
//! [`Progress::consumed`] yet stay charged to the peer's stream window, so a peer that sends
//! faster than the service works is slowed by the protocol itself, and what a stream buffers
//! is bounded by that window. A service that finishes work later (a write made durable on
//! another thread) calls [`Wakeup::wake`], and the loop polls it again.

use super::hub::Signal;
use crate::auth::Need;
use crate::edge::Access;
use ringwire_protocol::stream::{Connection, Error as ProtoError};
use std::rc::Rc;

/// A named stream service, one instance per core.
pub trait StreamService: 'static {
    /// A stream was opened naming this service.
    fn open(&self, wakeup: Wakeup) -> Box<dyn StreamHandler>;

    /// What opening a stream needs, checked by the connection before [`open_for`]
    /// (`None`: public). By default any client allowed data: a valid token, or protected
    /// mode's loopback rule.
    ///
    /// [`open_for`]: StreamService::open_for
    fn need(&self) -> Option<Need<'static>> {
        Some(Need::Data)
    }

    /// [`open`](StreamService::open) with the client's [`Access`], for a service that checks
    /// each request (a key's prefix, a channel's name) and counts it against its rate
    /// limits. By default the access is dropped and `open` is called.
    fn open_for(&self, wakeup: Wakeup, access: Access) -> Box<dyn StreamHandler> {
        let _ = access;
        self.open(wakeup)
    }
}

/// One stream of a [`StreamService`].
pub trait StreamHandler {
    /// Bytes the peer sent on the stream, in order; `end` once it finished its side. The
    /// handler keeps what it cannot use yet (a partial message): those bytes are not
    /// consumed until [`StreamHandler::poll`] says so.
    fn receive(&mut self, data: &[u8], end: bool);

    /// Does what it can now: appends answer bytes to `out` (the stream's unsent backlog,
    /// which the handler should not grow past a bound of its own), and says how many input
    /// bytes it is done with and whether it has finished.
    fn poll(&mut self, out: &mut Vec<u8>) -> Progress;
}

/// What a [`StreamHandler::poll`] achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes processed since the last poll (given back to the peer's window).
    pub consumed: usize,
    /// The service is done with the stream: once the backlog is sent, the stream ends.
    pub done: bool,
}

/// Wakes the connection that owns a stream, so it polls the stream's handler again.
#[derive(Clone)]
pub struct Wakeup(pub(crate) Rc<Signal>);

impl Wakeup {
    /// A wakeup of its own, for a task outside the stream loop (an HTTP response that
    /// subscribes, say) to await with [`notified`](Self::notified).
    pub fn new() -> Wakeup {
        Wakeup(Rc::new(Signal::default()))
    }

    /// Asks the connection loop to poll again (cheap; coalesces).
    pub fn wake(&self) {
        self.0.raise();
    }

    /// Whether [`wake`](Self::wake) was called since the last time this returned `Ready`;
    /// registers `cx`'s waker otherwise (one waiter: the task owning this wakeup).
    pub fn poll_woken(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0.take(cx.waker()) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }

    /// Resolves once [`wake`](Self::wake) was called (since the last time it resolved).
    pub async fn woken(&self) {
        std::future::poll_fn(|cx| self.poll_woken(cx)).await
    }
}

impl Default for Wakeup {
    fn default() -> Self {
        Wakeup::new()
    }
}

/// A plugged-in stream's state inside the connection loop.
pub(crate) struct App {
    handler: Box<dyn StreamHandler>,
    backlog: Vec<u8>,
    done: bool,
}

impl App {
    pub(crate) fn new(service: &dyn StreamService, signal: &Rc<Signal>, access: Access) -> App {
        App {
            handler: service.open_for(Wakeup(signal.clone()), access),
            backlog: Vec::new(),
            done: false,
        }
    }

    pub(crate) fn receive(&mut self, data: &[u8], end: bool) {
        self.handler.receive(data, end);
    }

    /// Polls the handler, refunds what it consumed, sends what the windows allow. `true` when
    /// the stream is finished (ended on our side).
    pub(crate) fn pump(
        &mut self,
        id: u32,
        conn: &mut Connection,
        out: &mut Vec<u8>,
    ) -> Result<bool, ProtoError> {
        if !self.done {
            let p = self.handler.poll(&mut self.backlog);
            if p.consumed > 0 {
                conn.consume(id, p.consumed, out)?;
            }
            self.done = p.done;
        }
        if conn.stream_state(id).is_none() {
            return Ok(true);
        }
        if !self.backlog.is_empty() || self.done {
            let n = conn.send_data(id, &self.backlog, self.done, out)?;
            self.backlog.drain(..n);
            // The END flag went out with the last bytes (or alone, if there were none).
            if self.done && self.backlog.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
