//! Why the edge refuses: one [`Denial`] per reason, each with its HTTP status, stable code,
//! message and stream-protocol code.

use super::DenialKind;
use std::time::Duration;

/// Why a request or connection is refused. Each maps to one HTTP answer and one stream code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No token, where one is needed: 401.
    MissingToken,
    /// A token that does not verify (malformed, unknown key, bad signature, expired, not yet
    /// valid, revoked): 401. Which check failed is logged, never answered.
    InvalidToken,
    /// A valid token without the scope: 403.
    Forbidden,
    /// No keys configured and a client that is not on loopback: 403 with how to configure.
    ProtectedMode,
    /// Too many requests; the first moment another one would be admitted: 429.
    RateLimited(Duration),
    /// The core or the process is overloaded: 503.
    Overloaded,
}

/// What protected mode tells a refused client (HTTP body, GOAWAY debug text).
pub const PROTECTED_MESSAGE: &str = "this server has no auth keys and answers data requests only from loopback clients; configure tokens with --auth-keys DIR (see docs/SECURITY.md) or start it with --insecure-open to serve everyone";

impl Denial {
    /// The stable error code (docs/ERRORS.md).
    pub fn code(self) -> &'static str {
        match self {
            Denial::MissingToken => "auth.missing_token",
            Denial::InvalidToken => "auth.invalid_token",
            Denial::Forbidden => "auth.forbidden",
            Denial::ProtectedMode => "auth.protected_mode",
            Denial::RateLimited(_) => "rate.limited",
            Denial::Overloaded => "server.overloaded",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Denial::MissingToken | Denial::InvalidToken => 401,
            Denial::Forbidden | Denial::ProtectedMode => 403,
            Denial::RateLimited(_) => 429,
            Denial::Overloaded => 503,
        }
    }

    /// What the client is told: nothing about which check failed.
    pub fn message(self) -> &'static str {
        match self {
            Denial::MissingToken => "this request needs a bearer token",
            Denial::InvalidToken => "the bearer token is not valid",
            Denial::Forbidden => "the token does not allow this request",
            Denial::ProtectedMode => PROTECTED_MESSAGE,
            Denial::RateLimited(_) => "too many requests; retry after the time given",
            Denial::Overloaded => "the server is overloaded; retry later",
        }
    }

    /// Seconds for `Retry-After`, rounded up (at least 1), where the answer has one.
    pub fn retry_after_secs(self) -> Option<u64> {
        match self {
            Denial::RateLimited(d) => {
                let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
                Some(secs.max(1))
            }
            Denial::Overloaded => Some(1),
            _ => None,
        }
    }

    /// The stream protocol's code for it.
    pub fn stream_code(self) -> ringwire_protocol::stream::ErrorCode {
        use ringwire_protocol::stream::ErrorCode;
        match self {
            Denial::MissingToken | Denial::InvalidToken => ErrorCode::UNAUTHENTICATED,
            Denial::Forbidden | Denial::ProtectedMode => ErrorCode::FORBIDDEN,
            Denial::RateLimited(_) => ErrorCode::RATE_LIMITED,
            Denial::Overloaded => ErrorCode::UNAVAILABLE,
        }
    }

    pub(crate) fn kind(self) -> DenialKind {
        match self {
            Denial::MissingToken => DenialKind::MissingToken,
            Denial::InvalidToken => DenialKind::InvalidToken,
            Denial::Forbidden => DenialKind::Forbidden,
            Denial::ProtectedMode => DenialKind::ProtectedMode,
            Denial::RateLimited(_) => DenialKind::RateLimited,
            Denial::Overloaded => DenialKind::Overloaded,
        }
    }
}
