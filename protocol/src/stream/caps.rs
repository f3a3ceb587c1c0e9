//! Caps on the work a peer can make this side do for free, per connection and per second.
//!
//! Some frames cost the sender 12 to 20 bytes and the receiver real work: a RESET tears a
//! stream down (open one, reset it, repeat: the HTTP/2 "rapid reset" attack, CVE-2023-44487),
//! an OPEN past the concurrency limit is answered with a RESET, a PING with a PONG, an empty
//! DATA frame wakes the stream's service for nothing. A [`RateMeter`] counts each kind in
//! one-second windows of the caller's clock; when one goes over its [`RateCaps`] the
//! connection is ended with GOAWAY [`ENHANCE_YOUR_CALM`](super::ErrorCode::ENHANCE_YOUR_CALM).
//!
//! Sans-I/O like the codec: the caller classifies each [`Event`] with [`PeerWork::of`]
//! (plus resets it sends itself because of the peer, such as UNKNOWN_SERVICE) and passes the
//! time since the connection began.
//!
//! ```
//! use ringwire_protocol::stream::{PeerWork, RateCaps, RateMeter};
//! use std::time::Duration;
//!
//! let mut meter = RateMeter::new(RateCaps { pings: 2, ..RateCaps::default() });
//! let t = Duration::from_millis(100);
//! assert!(meter.record(PeerWork::Ping, t).is_ok());
//! assert!(meter.record(PeerWork::Ping, t).is_ok());
//! let over = meter.record(PeerWork::Ping, t).unwrap_err();
//! assert_eq!(over.work, PeerWork::Ping);
//! ```

use super::event::Event;
use std::{fmt, time::Duration};

/// A kind of work the peer provokes cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerWork {
    /// A stream torn down because of the peer: its RESET, a RESET this side sent for a
    /// stream error of the peer's, or for an OPEN naming an unknown service.
    Reset,
    /// An OPEN refused with REFUSED_STREAM (over MAX_CONCURRENT_STREAMS, or after GOAWAY).
    Refused,
    /// A PING (answered with a PONG).
    Ping,
    /// A DATA frame with no payload and no END_STREAM: it carries nothing.
    EmptyData,
}

impl PeerWork {
    /// Every kind, in the order of [`RateMeter::counts`].
    pub const ALL: [PeerWork; 4] = [
        PeerWork::Reset,
        PeerWork::Refused,
        PeerWork::Ping,
        PeerWork::EmptyData,
    ];

    /// The work an event stands for, if it is one of the capped kinds.
    pub fn of(event: &Event<'_>) -> Option<PeerWork> {
        match event {
            Event::Reset { .. } | Event::StreamError { .. } => Some(PeerWork::Reset),
            Event::Refused { .. } => Some(PeerWork::Refused),
            Event::Ping(_) => Some(PeerWork::Ping),
            Event::Data {
                data: [],
                end: false,
                ..
            } => Some(PeerWork::EmptyData),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// What the GOAWAY's debug text says when this cap is exceeded.
    pub fn message(self) -> &'static str {
        match self {
            PeerWork::Reset => "too many stream resets per second",
            PeerWork::Refused => "too many refused streams per second",
            PeerWork::Ping => "too many PINGs per second",
            PeerWork::EmptyData => "too many empty DATA frames per second",
        }
    }
}

/// The most of each kind of [`PeerWork`] one connection may cause in one second.
///
/// The defaults are far above what a well-behaved client does (a client that cancels every
/// one of 100 concurrent streams each second stays under the reset cap) and far below what
/// costs a core anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCaps {
    /// Streams reset because of the peer, per second. Default 200.
    pub resets: u32,
    /// OPENs refused, per second. Default 100.
    pub refused: u32,
    /// PINGs, per second. Default 50.
    pub pings: u32,
    /// Empty DATA frames without END_STREAM, per second. Default 200.
    pub empty_data: u32,
}

impl Default for RateCaps {
    fn default() -> Self {
        RateCaps {
            resets: 200,
            refused: 100,
            pings: 50,
            empty_data: 200,
        }
    }
}

impl RateCaps {
    /// The cap for one kind of work.
    pub fn get(&self, work: PeerWork) -> u32 {
        match work {
            PeerWork::Reset => self.resets,
            PeerWork::Refused => self.refused,
            PeerWork::Ping => self.pings,
            PeerWork::EmptyData => self.empty_data,
        }
    }
}

/// A cap was exceeded: end the connection with GOAWAY ENHANCE_YOUR_CALM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapExceeded {
    /// The kind of work over its cap.
    pub work: PeerWork,
    /// The cap, per second.
    pub cap: u32,
}

impl fmt::Display for CapExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (cap {})", self.work.message(), self.cap)
    }
}

/// Counts one connection's [`PeerWork`] in one-second windows.
///
/// Windows are the whole seconds of the caller's clock (`now` is the time since the
/// connection began): in each, at most the cap of each kind is accepted, so any one-second
/// span holds at most twice the cap. Once a cap is exceeded the meter stays over: every
/// later call fails too. A clock that goes backwards counts into the current window.
#[derive(Debug, Clone)]
pub struct RateMeter {
    caps: RateCaps,
    window: u64,
    counts: [u32; 4],
    over: Option<CapExceeded>,
}

impl RateMeter {
    /// A meter enforcing `caps`, with nothing counted.
    pub fn new(caps: RateCaps) -> RateMeter {
        RateMeter {
            caps,
            window: 0,
            counts: [0; 4],
            over: None,
        }
    }

    /// Counts one piece of `work` at time `now`; fails if it takes its kind over the cap.
    pub fn record(&mut self, work: PeerWork, now: Duration) -> Result<(), CapExceeded> {
        if let Some(over) = self.over {
            return Err(over);
        }
        let second = now.as_secs();
        if second > self.window {
            self.window = second;
            self.counts = [0; 4];
        }
        let count = &mut self.counts[work.index()];
        *count = count.saturating_add(1);
        let cap = self.caps.get(work);
        if *count > cap {
            let over = CapExceeded { work, cap };
            self.over = Some(over);
            return Err(over);
        }
        Ok(())
    }

    /// What was counted in the current window, in the order of [`PeerWork::ALL`].
    pub fn counts(&self) -> [u32; 4] {
        self.counts
    }

    /// The caps this meter enforces.
    pub fn caps(&self) -> &RateCaps {
        &self.caps
    }

    /// The cap that was exceeded, if one was.
    pub fn exceeded(&self) -> Option<CapExceeded> {
        self.over
    }
}
