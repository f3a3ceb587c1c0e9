//! The edge's counters, shared by the cores: they move only when something is refused, so a
//! shared atomic costs nothing on the paths that succeed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a request was refused, as a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialKind {
    /// No token where one is needed.
    MissingToken,
    /// A token that does not verify.
    InvalidToken,
    /// A token without the scope.
    Forbidden,
    /// Protected mode.
    ProtectedMode,
    /// A rate limit.
    RateLimited,
    /// Shed for overload.
    Overloaded,
}

impl DenialKind {
    /// Every kind, in label order.
    pub const ALL: [DenialKind; 6] = [
        DenialKind::MissingToken,
        DenialKind::InvalidToken,
        DenialKind::Forbidden,
        DenialKind::ProtectedMode,
        DenialKind::RateLimited,
        DenialKind::Overloaded,
    ];

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            DenialKind::MissingToken => "missing_token",
            DenialKind::InvalidToken => "invalid_token",
            DenialKind::Forbidden => "forbidden",
            DenialKind::ProtectedMode => "protected_mode",
            DenialKind::RateLimited => "rate_limited",
            DenialKind::Overloaded => "overloaded",
        }
    }
}

/// Refusals since start.
#[derive(Debug, Default)]
pub struct Counters {
    denied: [AtomicU64; 6],
    conn_refused_per_ip: AtomicU64,
    conn_refused_total: AtomicU64,
    conn_shed: AtomicU64,
}

impl Counters {
    pub(crate) fn denied(&self, kind: DenialKind) {
        self.denied[kind as usize].fetch_add(1, Relaxed);
    }

    pub(crate) fn connection_refused(&self, per_ip: bool) {
        let c = if per_ip {
            &self.conn_refused_per_ip
        } else {
            &self.conn_refused_total
        };
        c.fetch_add(1, Relaxed);
    }

    pub(crate) fn connection_shed(&self) {
        self.conn_shed.fetch_add(1, Relaxed);
    }

    /// Requests refused for `kind`.
    pub fn denials(&self, kind: DenialKind) -> u64 {
        self.denied[kind as usize].load(Relaxed)
    }

    /// Connections refused by the per-address limit, and by the total limit.
    pub fn connections_refused(&self) -> (u64, u64) {
        (
            self.conn_refused_per_ip.load(Relaxed),
            self.conn_refused_total.load(Relaxed),
        )
    }

    /// Connections closed at once because the core was shedding.
    pub fn connections_shed(&self) -> u64 {
        self.conn_shed.load(Relaxed)
    }
}
