//! The time limits of one stream connection (`docs/PROTOCOL.md`, "Time limits"): the
//! handshake and frame deadlines, the idle timeout, and keep-alive PINGs with a dead-peer
//! timeout. Pure bookkeeping: the connection loop tells it what happened and when, arms one
//! timer for [`Clock::next`], and acts on what is due.

use crate::StreamTimeouts;
use std::time::{Duration, Instant};

/// What a deadline that passed asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    /// The client's HELLO did not arrive in time: GOAWAY TIMEOUT, close.
    Handshake,
    /// A frame was started and not finished in time: GOAWAY TIMEOUT, close.
    Frame,
    /// No stream for the keep-alive timeout: GOAWAY NO_ERROR, close.
    Idle,
    /// Streams are open and the peer has been silent: send a PING.
    Ping,
    /// The PING went unanswered: GOAWAY TIMEOUT, close.
    DeadPeer,
}

impl Due {
    /// The GOAWAY debug text for a deadline that ends the connection.
    pub(super) fn message(self) -> &'static [u8] {
        match self {
            Due::Handshake => b"no HELLO within the handshake timeout",
            Due::Frame => b"a frame was not completed within the frame timeout",
            Due::Idle => b"idle timeout",
            Due::Ping | Due::DeadPeer => b"no answer to PING",
        }
    }
}

/// One connection's clocks.
pub(super) struct Clock {
    limits: StreamTimeouts,
    keepalive: Duration,
    started: Instant,
    /// The peer's HELLO has arrived.
    ready: bool,
    /// When the incomplete frame at the end of the input started to arrive.
    partial_since: Option<Instant>,
    /// Since when the connection has had no stream (after the handshake). PINGs and partial
    /// frames do not reset it: only a stream does.
    idle_since: Option<Instant>,
    /// When bytes last came from the peer.
    heard: Instant,
    /// The PING waiting for its PONG, and when it went out.
    ping: Option<([u8; 8], Instant)>,
    pings_sent: u64,
}

impl Clock {
    pub(super) fn new(limits: StreamTimeouts, keepalive: Duration, now: Instant) -> Clock {
        Clock {
            limits,
            keepalive,
            started: now,
            ready: false,
            partial_since: None,
            idle_since: None,
            heard: now,
            ping: None,
            pings_sent: 0,
        }
    }

    /// Time since the connection began (the rate meter's clock).
    pub(super) fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    /// Bytes arrived.
    pub(super) fn heard(&mut self, now: Instant) {
        self.heard = now;
    }

    /// The state after decoding everything decodable: whether the handshake is done, whether
    /// an incomplete frame is left over (`fresh`: a new one, begun since the last call, because
    /// frames completed on the way), and how many streams are open.
    pub(super) fn update(
        &mut self,
        now: Instant,
        ready: bool,
        partial: bool,
        fresh: bool,
        streams: usize,
    ) {
        self.ready = ready;
        self.partial_since = match (partial, self.partial_since) {
            (false, _) => None,
            (true, Some(t)) if !fresh => Some(t),
            (true, _) => Some(now),
        };
        self.idle_since = match (ready && streams == 0, self.idle_since) {
            (false, _) => None,
            (true, Some(t)) => Some(t),
            (true, None) => Some(now),
        };
    }

    /// A PONG arrived: if it answers the outstanding PING, the peer is alive.
    pub(super) fn pong(&mut self, payload: [u8; 8]) {
        if self.ping.is_some_and(|(p, _)| p == payload) {
            self.ping = None;
        }
    }

    /// The payload of the next keep-alive PING, now counted as outstanding.
    pub(super) fn ping_sent(&mut self, now: Instant) -> [u8; 8] {
        self.pings_sent += 1;
        let payload = self.pings_sent.to_be_bytes();
        self.ping = Some((payload, now));
        payload
    }

    /// The earliest deadline and what it asks for; `None` when nothing is timed.
    pub(super) fn next(&self) -> Option<(Instant, Due)> {
        let l = &self.limits;
        let candidates = [
            (!self.ready).then(|| (self.started + l.handshake, Due::Handshake)),
            self.partial_since.map(|t| (t + l.frame, Due::Frame)),
            self.idle_since.map(|t| (t + self.keepalive, Due::Idle)),
            match self.ping {
                Some((_, sent)) => Some((sent + l.ping_timeout, Due::DeadPeer)),
                None if self.ready && self.idle_since.is_none() => {
                    Some((self.heard + l.ping_interval, Due::Ping))
                }
                None => None,
            },
        ];
        candidates.into_iter().flatten().min_by_key(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> (Clock, Instant) {
        let now = Instant::now();
        let limits = StreamTimeouts {
            handshake: Duration::from_secs(10),
            frame: Duration::from_secs(5),
            ping_interval: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(20),
        };
        (Clock::new(limits, Duration::from_secs(60), now), now)
    }

    #[test]
    fn a_drip_does_not_move_the_frame_deadline_but_a_new_frame_does() {
        let (mut c, t0) = clock();
        let s = Duration::from_secs(1);
        c.update(t0, true, true, true, 1);
        c.update(t0 + s, true, true, false, 1);
        c.update(t0 + 3 * s, true, true, false, 1);
        assert_eq!(c.next(), Some((t0 + 5 * s, Due::Frame)));
        c.update(t0 + 4 * s, true, true, true, 1);
        assert_eq!(c.next(), Some((t0 + 9 * s, Due::Frame)));
        c.update(t0 + 4 * s, true, false, true, 1);
        assert_eq!(c.next(), Some((t0 + 30 * s, Due::Ping)));
    }

    #[test]
    fn the_handshake_deadline_holds_until_hello_and_idle_starts_after_it() {
        let (mut c, t0) = clock();
        let s = Duration::from_secs(1);
        c.update(t0 + s, false, true, true, 0);
        assert_eq!(c.next(), Some((t0 + 6 * s, Due::Frame)));
        c.update(t0 + 2 * s, false, false, true, 0);
        assert_eq!(c.next(), Some((t0 + 10 * s, Due::Handshake)));
        c.update(t0 + 3 * s, true, false, true, 0);
        assert_eq!(c.next(), Some((t0 + 63 * s, Due::Idle)));
        // Pings and partial frames while idle do not reset the idle clock.
        c.heard(t0 + 50 * s);
        c.update(t0 + 50 * s, true, true, true, 0);
        c.update(t0 + 51 * s, true, false, true, 0);
        assert_eq!(c.next(), Some((t0 + 63 * s, Due::Idle)));
    }

    #[test]
    fn a_silent_peer_with_a_stream_is_pinged_then_dropped() {
        let (mut c, t0) = clock();
        let s = Duration::from_secs(1);
        c.update(t0, true, false, true, 1);
        assert_eq!(c.next(), Some((t0 + 30 * s, Due::Ping)));
        let p = c.ping_sent(t0 + 30 * s);
        assert_eq!(c.next(), Some((t0 + 50 * s, Due::DeadPeer)));
        c.pong([9; 8]);
        assert_eq!(c.next(), Some((t0 + 50 * s, Due::DeadPeer)), "a stray PONG");
        c.heard(t0 + 40 * s);
        c.pong(p);
        assert_eq!(c.next(), Some((t0 + 70 * s, Due::Ping)));
    }
}
