//! The client's errors: `io::Error`s whose inner error says what happened in words a user can
//! act on and, where the protocol gave one, which error code.

use ringwire_protocol::stream::{Error as CodecError, ErrorCode};
use std::{fmt, io};

/// The error inside every `io::Error` the client returns for a protocol reason (as opposed to
/// a plain socket error). Get at it with [`error_code`] or `io::Error::get_ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    code: Option<ErrorCode>,
    message: String,
}

impl ClientError {
    pub(crate) fn new(code: Option<ErrorCode>, message: impl Into<String>) -> Self {
        ClientError {
            code,
            message: message.into(),
        }
    }

    /// The protocol error code behind the failure: the code of the server's RESET or GOAWAY,
    /// or of the GOAWAY this client sent. `None` for failures with no code (a closed socket,
    /// a refused upgrade, a bad argument).
    pub fn code(&self) -> Option<ErrorCode> {
        self.code
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ClientError {}

/// The protocol error code carried by an error the client returned, if it has one: for
/// example `UNKNOWN_SERVICE` after opening a stream to a service the server does not have.
pub fn error_code(e: &io::Error) -> Option<ErrorCode> {
    e.get_ref()?.downcast_ref::<ClientError>()?.code()
}

/// A failure recorded in the client's state and handed (cloned) to every caller that runs
/// into it, so each gets its own `io::Error`.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    kind: io::ErrorKind,
    error: ClientError,
}

impl Failure {
    pub(crate) fn new(kind: io::ErrorKind, code: Option<ErrorCode>, message: String) -> Self {
        Failure {
            kind,
            error: ClientError::new(code, message),
        }
    }

    /// The kind of `io::Error` it becomes.
    pub(crate) fn kind(&self) -> io::ErrorKind {
        self.kind
    }

    pub(crate) fn to_io(&self) -> io::Error {
        io::Error::new(self.kind, self.error.clone())
    }

    /// The connection broke because the codec found the server breaking a rule (this client
    /// sent GOAWAY with the code) or the server sent GOAWAY with an error. A refusal of the
    /// client (UNAUTHENTICATED, FORBIDDEN) is `PermissionDenied`.
    pub(crate) fn from_codec(e: CodecError, server_debug: Option<&str>) -> Self {
        match e {
            CodecError::PeerError(code) => {
                let why = server_debug
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(": \"{d}\""))
                    .unwrap_or_default();
                let (kind, hint) = match code {
                    ErrorCode::UNAUTHENTICATED => (
                        io::ErrorKind::PermissionDenied,
                        " (this client needs a valid token: none was given, or it is \
                         invalid, expired or revoked)",
                    ),
                    ErrorCode::FORBIDDEN => (
                        io::ErrorKind::PermissionDenied,
                        " (the token does not allow this, or the server answers only \
                         loopback clients until it has auth keys)",
                    ),
                    ErrorCode::RATE_LIMITED => (
                        io::ErrorKind::ConnectionRefused,
                        " (too many requests: retry later)",
                    ),
                    _ => (io::ErrorKind::ConnectionAborted, ""),
                };
                Failure::new(
                    kind,
                    Some(code),
                    format!("the server closed the connection with GOAWAY {code}{why}{hint}"),
                )
            }
            CodecError::Aborted(code) => Failure::new(
                io::ErrorKind::ConnectionAborted,
                Some(code),
                format!("the connection was closed by this client (GOAWAY {code})"),
            ),
            e => Failure::new(
                io::ErrorKind::InvalidData,
                e.code(),
                format!("the server broke the stream protocol, connection closed: {e}"),
            ),
        }
    }
}

/// A usage error from the codec (`code() == None`) as an `io::Error` for the caller.
pub(crate) fn usage(e: CodecError, what: &str) -> io::Error {
    let kind = match e {
        CodecError::BadServiceName | CodecError::BadToken => io::ErrorKind::InvalidInput,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, ClientError::new(None, format!("{what}: {e}")))
}

/// `e` with `prefix` in front of its message, keeping its kind and code.
pub(crate) fn context(e: io::Error, prefix: &str) -> io::Error {
    let (code, message) = match e.get_ref().and_then(|i| i.downcast_ref::<ClientError>()) {
        Some(c) => (c.code, c.message.clone()),
        None => (None, e.to_string()),
    };
    io::Error::new(
        e.kind(),
        ClientError::new(code, format!("{prefix}{message}")),
    )
}

/// Why a stream ended with a RESET, in words.
pub(crate) fn reset_message(id: u32, service: &str, code: ErrorCode, by_server: bool) -> String {
    let who = if by_server {
        "the server reset"
    } else {
        "this client reset"
    };
    let hint = match code {
        ErrorCode::UNKNOWN_SERVICE => " (the server has no service of that name)",
        ErrorCode::REFUSED_STREAM => " (not processed; safe to retry)",
        ErrorCode::SLOW_CONSUMER => " (this client did not read fast enough and was dropped)",
        ErrorCode::FLOW_CONTROL_ERROR => " (a window was exceeded)",
        ErrorCode::STREAM_CLOSED => " (data after END_STREAM)",
        ErrorCode::UNAUTHENTICATED => " (this service needs a valid token)",
        ErrorCode::FORBIDDEN => " (the token does not allow this service)",
        ErrorCode::RATE_LIMITED => " (too many requests: retry later)",
        _ => "",
    };
    format!("{who} stream {id} to service \"{service}\": {code}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_survives_the_trip_through_io_error() {
        let f = Failure::new(
            io::ErrorKind::ConnectionReset,
            Some(ErrorCode::UNKNOWN_SERVICE),
            reset_message(1, "nope", ErrorCode::UNKNOWN_SERVICE, true),
        );
        let e = f.to_io();
        assert_eq!(error_code(&e), Some(ErrorCode::UNKNOWN_SERVICE));
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
        assert!(e.to_string().contains("UNKNOWN_SERVICE"), "{e}");
        assert_eq!(error_code(&io::Error::other("plain")), None);
    }

    #[test]
    fn refusals_are_permission_denied_with_the_servers_text() {
        for code in [ErrorCode::UNAUTHENTICATED, ErrorCode::FORBIDDEN] {
            let e = Failure::from_codec(CodecError::PeerError(code), Some("token expired")).to_io();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
            assert_eq!(error_code(&e), Some(code));
            let msg = e.to_string();
            assert!(
                msg.contains(&code.to_string()) && msg.contains("\"token expired\""),
                "{msg}"
            );
            assert!(msg.contains("token"), "{msg}");
        }
    }

    #[test]
    fn peer_goaway_names_its_code_and_text() {
        let f = Failure::from_codec(
            CodecError::PeerError(ErrorCode::PROTOCOL_ERROR),
            Some("bad frame"),
        );
        let msg = f.to_io().to_string();
        assert!(
            msg.contains("PROTOCOL_ERROR") && msg.contains("bad frame"),
            "{msg}"
        );
    }
}
