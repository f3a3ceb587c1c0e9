//! Flow-control windows, one pair per stream and one for the connection.
//!
//! Only DATA payload bytes count. A receive window is refilled by the *application*, not by
//! the codec: bytes are "held" from delivery until the application calls
//! [`Connection::consume`](super::Connection::consume), and only consumed bytes are returned
//! to the peer in WINDOW_UPDATE frames. An application that stops consuming therefore stops
//! its peer, which is the server's backpressure.

use super::settings::MAX_WINDOW;

/// What the peer may still send us, and what we owe it.
///
/// Invariant: `window + held + credit` never exceeds [`MAX_WINDOW`]; it equals the initial
/// window plus every grant, and so bounds how much the peer can ever have in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecvWindow {
    /// Bytes the peer may still send before it hears from us.
    window: u32,
    /// Delivered to the application, not yet consumed.
    held: u32,
    /// Consumed, not yet announced in a WINDOW_UPDATE.
    credit: u32,
    /// Announce credit once it reaches this, so one WINDOW_UPDATE covers many frames.
    threshold: u32,
}

impl RecvWindow {
    pub(crate) fn new(initial: u32) -> RecvWindow {
        RecvWindow {
            window: initial,
            held: 0,
            credit: 0,
            // Half the window: the peer never sees less than half of it open while the
            // application keeps up, and we send at most two updates per window of data.
            threshold: (initial / 2).max(1),
        }
    }

    /// Takes `n` received bytes out of the window; `false` (and no change) if they exceed it.
    pub(crate) fn receive(&mut self, n: u32) -> bool {
        if n > self.window {
            return false;
        }
        self.window -= n;
        self.held += n;
        true
    }

    /// Marks `n` held bytes consumed; `false` (and no change) if fewer are held.
    pub(crate) fn release(&mut self, n: u32) -> bool {
        if n > self.held {
            return false;
        }
        self.held -= n;
        self.credit += n;
        true
    }

    /// Consumes everything held (the stream is gone, or the bytes were discarded).
    pub(crate) fn release_all(&mut self) -> u32 {
        let n = self.held;
        self.release(n);
        n
    }

    /// The increment to announce now, if the credit has reached the threshold; it is added
    /// back to the window.
    pub(crate) fn take_update(&mut self) -> Option<u32> {
        if self.credit < self.threshold {
            return None;
        }
        let n = std::mem::take(&mut self.credit);
        self.window += n;
        Some(n)
    }

    /// Opens the window by `n` beyond what was consumed; `false` if that would exceed
    /// [`MAX_WINDOW`].
    pub(crate) fn grant(&mut self, n: u32) -> bool {
        let total = u64::from(self.window) + u64::from(self.held) + u64::from(self.credit);
        if total + u64::from(n) > u64::from(MAX_WINDOW) {
            return false;
        }
        self.window += n;
        true
    }

    pub(crate) fn window(&self) -> u32 {
        self.window
    }

    pub(crate) fn held(&self) -> u32 {
        self.held
    }

    pub(crate) fn credit(&self) -> u32 {
        self.credit
    }
}

/// What we may still send the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendWindow(u32);

impl SendWindow {
    pub(crate) fn new(initial: u32) -> SendWindow {
        SendWindow(initial)
    }

    pub(crate) fn available(&self) -> u32 {
        self.0
    }

    /// Spends `n` bytes, which the caller has checked are available.
    pub(crate) fn spend(&mut self, n: u32) {
        debug_assert!(n <= self.0);
        self.0 -= n;
    }

    /// Adds a peer's WINDOW_UPDATE increment; `false` (and no change) if the window would
    /// pass [`MAX_WINDOW`], which is the peer's flow-control error.
    pub(crate) fn increase(&mut self, n: u32) -> bool {
        match self.0.checked_add(n) {
            Some(w) if w <= MAX_WINDOW => {
                self.0 = w;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_is_announced_at_half_the_window() {
        let mut w = RecvWindow::new(100);
        assert!(w.receive(60));
        assert!(!w.receive(41), "beyond the window");
        assert_eq!((w.window(), w.held()), (40, 60));
        assert!(w.release(49));
        assert_eq!(w.take_update(), None);
        assert!(w.release(1));
        assert_eq!(w.take_update(), Some(50));
        assert_eq!((w.window(), w.held(), w.credit()), (90, 10, 0));
        assert!(!w.release(11));
        assert_eq!(w.release_all(), 10);
    }

    #[test]
    fn grants_and_updates_stay_under_the_maximum() {
        let mut w = RecvWindow::new(MAX_WINDOW - 10);
        assert!(w.grant(10));
        assert!(!w.grant(1));
        let mut s = SendWindow::new(MAX_WINDOW - 1);
        assert!(s.increase(1));
        assert!(!s.increase(1));
        assert!(!s.increase(u32::MAX));
        assert_eq!(s.available(), MAX_WINDOW);
    }

    #[test]
    fn zero_window_still_announces_any_credit() {
        let mut w = RecvWindow::new(0);
        assert!(w.grant(5));
        assert!(w.receive(5));
        assert!(w.release(1));
        assert_eq!(w.take_update(), Some(1));
    }
}
