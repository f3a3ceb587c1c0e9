//! A core's TLS counters: handshakes by result and version, their latency, resumptions, and
//! the record layer's mode. Plain writes on the worker; the control core merges snapshots.

use super::stream::Negotiated;
use hdrhistogram::Histogram;
use rustls::ProtocolVersion;
use std::{
    cell::{Cell, RefCell},
    time::Duration,
};

/// How a handshake ended, in [`TlsSnapshot::handshakes`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeResult {
    /// Completed.
    Ok,
    /// The client broke TLS (bad ClientHello, no shared version or suite, bad certificate...).
    Failed,
    /// The client did not finish in `tls.handshake_timeout`.
    Timeout,
    /// The socket failed or the client closed it mid-handshake.
    Closed,
}

impl HandshakeResult {
    /// Every result, in snapshot order.
    pub const ALL: [HandshakeResult; 4] = [
        HandshakeResult::Ok,
        HandshakeResult::Failed,
        HandshakeResult::Timeout,
        HandshakeResult::Closed,
    ];

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            HandshakeResult::Ok => "ok",
            HandshakeResult::Failed => "failed",
            HandshakeResult::Timeout => "timeout",
            HandshakeResult::Closed => "closed",
        }
    }
}

/// Where records are encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// No TLS listener on this core.
    #[default]
    Off,
    /// rustls encrypts in user space.
    User,
    /// The kernel's `tls` ULP encrypts (kTLS).
    Kernel,
}

impl TlsMode {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            TlsMode::Off => "off",
            TlsMode::User => "user",
            TlsMode::Kernel => "kernel",
        }
    }
}

/// One core's TLS counters.
#[derive(Default)]
pub(crate) struct TlsCounters {
    handshakes: [Cell<u64>; 4],
    tls13: Cell<u64>,
    tls12: Cell<u64>,
    resumed: Cell<u64>,
    latency_us: RefCell<Option<Histogram<u64>>>,
    mode: Cell<TlsMode>,
    /// Handshakes on this core try the switch to kTLS.
    try_kernel: Cell<bool>,
    kernel_sessions: Cell<u64>,
    ktls_fallbacks: Cell<u64>,
}

impl TlsCounters {
    pub(crate) fn handshake(
        &self,
        result: HandshakeResult,
        took: Duration,
        n: Option<&Negotiated>,
    ) {
        let i = HandshakeResult::ALL
            .iter()
            .position(|r| *r == result)
            .unwrap_or(0);
        let c = &self.handshakes[i];
        c.set(c.get() + 1);
        let Some(n) = n else { return };
        match n.version {
            Some(ProtocolVersion::TLSv1_3) => self.tls13.set(self.tls13.get() + 1),
            Some(ProtocolVersion::TLSv1_2) => self.tls12.set(self.tls12.get() + 1),
            _ => {}
        }
        if n.resumed {
            self.resumed.set(self.resumed.get() + 1);
        }
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let mut h = self.latency_us.borrow_mut();
        h.get_or_insert_with(new_histogram)
            .saturating_record(us.max(1));
    }

    pub(crate) fn set_mode(&self, mode: TlsMode) {
        self.mode.set(mode);
    }

    pub(crate) fn mode(&self) -> TlsMode {
        self.mode.get()
    }

    pub(crate) fn set_try_kernel(&self, on: bool) {
        self.try_kernel.set(on);
    }

    pub(crate) fn try_kernel(&self) -> bool {
        self.try_kernel.get()
    }

    /// A connection whose record layer went to the kernel.
    pub(crate) fn kernel_session(&self) {
        self.kernel_sessions.set(self.kernel_sessions.get() + 1);
    }

    /// A connection that tried kTLS and stayed in user space.
    pub(crate) fn ktls_fallback(&self) {
        self.ktls_fallbacks.set(self.ktls_fallbacks.get() + 1);
    }

    pub(crate) fn snapshot(&self) -> TlsSnapshot {
        TlsSnapshot {
            handshakes: self.handshakes.iter().map(Cell::get).collect(),
            tls13: self.tls13.get(),
            tls12: self.tls12.get(),
            resumed: self.resumed.get(),
            latency_us: self
                .latency_us
                .borrow()
                .clone()
                .unwrap_or_else(new_histogram),
            kernel_cores: u64::from(self.mode.get() == TlsMode::Kernel),
            user_cores: u64::from(self.mode.get() == TlsMode::User),
            kernel_sessions: self.kernel_sessions.get(),
            ktls_fallbacks: self.ktls_fallbacks.get(),
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 100 s, 2 significant digits.
    Histogram::new_with_bounds(1, 100_000_000, 2).expect("valid histogram bounds")
}

/// A copy of the TLS counters (merged like the rest of a core's snapshot).
#[derive(Clone, Debug)]
pub struct TlsSnapshot {
    /// Handshakes by [`HandshakeResult::ALL`] index.
    pub handshakes: Vec<u64>,
    /// Completed handshakes that negotiated TLS 1.3.
    pub tls13: u64,
    /// Completed handshakes that negotiated TLS 1.2.
    pub tls12: u64,
    /// Completed handshakes that resumed a session (ticket or session id).
    pub resumed: u64,
    /// Completed handshakes' durations in microseconds (accept to done).
    pub latency_us: Histogram<u64>,
    /// Cores whose TLS records the kernel encrypts.
    pub kernel_cores: u64,
    /// Cores whose TLS records rustls encrypts in user space.
    pub user_cores: u64,
    /// Connections whose record layer the kernel took over after the handshake.
    pub kernel_sessions: u64,
    /// Connections that tried the switch to kTLS and stayed in user space.
    pub ktls_fallbacks: u64,
}

impl Default for TlsSnapshot {
    fn default() -> Self {
        TlsCounters::default().snapshot()
    }
}

impl TlsSnapshot {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &TlsSnapshot) {
        for (a, b) in self.handshakes.iter_mut().zip(&other.handshakes) {
            *a += b;
        }
        self.tls13 += other.tls13;
        self.tls12 += other.tls12;
        self.resumed += other.resumed;
        let _ = self.latency_us.add(&other.latency_us);
        self.kernel_cores += other.kernel_cores;
        self.user_cores += other.user_cores;
        self.kernel_sessions += other.kernel_sessions;
        self.ktls_fallbacks += other.ktls_fallbacks;
    }
}
