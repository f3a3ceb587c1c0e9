//! Wire error codes (carried by RESET and GOAWAY) and the one error type of the codec.

use std::fmt;

/// An error code as it travels in RESET and GOAWAY frames.
///
/// A newtype rather than an enum because a peer may send a code this version does not know;
/// such a code is kept as received (for logs and metrics) and treated like
/// [`ErrorCode::INTERNAL_ERROR`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Not an error: a graceful GOAWAY, or a RESET that only means "stop sending".
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    /// The peer broke a rule of the protocol (a malformed frame, a frame in the wrong state).
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    /// The sender failed for a reason of its own, not the receiver's fault.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x2);
    /// The peer sent more DATA than a window allowed, or overflowed a window with updates.
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x3);
    /// DATA arrived on a stream after the peer had ended its side of it.
    pub const STREAM_CLOSED: ErrorCode = ErrorCode(0x4);
    /// A frame is longer than the receiver's MAX_FRAME_SIZE, or its length does not fit
    /// its type (RESET, WINDOW_UPDATE, PING, PONG, GOAWAY, HELLO have fixed shapes).
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(0x5);
    /// The stream was not processed at all and may be retried (concurrency limit, drain).
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x6);
    /// The sender no longer needs the stream.
    pub const CANCEL: ErrorCode = ErrorCode(0x7);
    /// No service of the name given in OPEN.
    pub const UNKNOWN_SERVICE: ErrorCode = ErrorCode(0x8);
    /// The receiver does not speak the protocol version of the frame it received.
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(0x9);
    /// The service failed while handling the stream (its own reason, not a protocol error).
    pub const SERVICE_ERROR: ErrorCode = ErrorCode(0xa);
    /// The receiver did not keep up and was dropped (a pub/sub subscriber whose queue
    /// overflowed, for example).
    pub const SLOW_CONSUMER: ErrorCode = ErrorCode(0xb);
    /// The peer made the receiver do too much work for nothing (RESETs, refused OPENs, PINGs,
    /// empty DATA frames beyond a per-second cap) and is cut off. Connection error.
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(0xc);
    /// The peer took too long: to send its HELLO, to finish a frame it had started, or to
    /// answer a PING. Connection error.
    pub const TIMEOUT: ErrorCode = ErrorCode(0xd);
    /// The service cannot take the message now and did not act on it (a publish refused
    /// while the cluster is unreachable and the node's cluster buffer is full); retry later.
    pub const UNAVAILABLE: ErrorCode = ErrorCode(0xe);
    /// The client presented no token, or one that is invalid, expired or revoked (which of
    /// these is not said). Connection error, in answer to the handshake or an OPEN.
    pub const UNAUTHENTICATED: ErrorCode = ErrorCode(0xf);
    /// The client is known but not allowed: its token lacks the scope, or the server is in
    /// protected mode (no keys configured, and the client is not on loopback).
    pub const FORBIDDEN: ErrorCode = ErrorCode(0x10);
    /// The client exceeded a rate limit; retry later.
    pub const RATE_LIMITED: ErrorCode = ErrorCode(0x11);

    const NAMES: [&'static str; 18] = [
        "NO_ERROR",
        "PROTOCOL_ERROR",
        "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR",
        "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",
        "REFUSED_STREAM",
        "CANCEL",
        "UNKNOWN_SERVICE",
        "UNSUPPORTED_VERSION",
        "SERVICE_ERROR",
        "SLOW_CONSUMER",
        "ENHANCE_YOUR_CALM",
        "TIMEOUT",
        "UNAVAILABLE",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "RATE_LIMITED",
    ];

    /// The code's name in the specification, or `None` for a code this version does not know.
    pub fn name(self) -> Option<&'static str> {
        Self::NAMES.get(self.0 as usize).copied()
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown error code {:#x}", self.0),
        }
    }
}

/// Why a call on the codec failed.
///
/// Two kinds, told apart by [`Error::code`]:
///
/// - **Connection errors** (`code()` is `Some`): the peer broke a connection-level rule, or the
///   connection was already closed by a GOAWAY carrying an error. The codec has written its
///   GOAWAY (when it was the one to detect the error) into the output buffer; write that out
///   and close the connection. Every later call returns the same error.
/// - **Usage errors** (`code()` is `None`): the application asked for something the protocol
///   does not allow right now (send on a stream it already ended, open a stream past the
///   peer's limit). Nothing was written and the connection is unaffected.
///
/// Errors confined to one stream are not `Error`s: the codec resets that stream and reports
/// it as [`Event::StreamError`](super::Event::StreamError) or
/// [`Event::Refused`](super::Event::Refused), and the connection goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A frame's version byte is not one this codec speaks. UNSUPPORTED_VERSION.
    UnsupportedVersion(u8),
    /// The first frame was not HELLO (or, on a client, neither HELLO nor GOAWAY). PROTOCOL_ERROR.
    ExpectedHello,
    /// A second HELLO. PROTOCOL_ERROR.
    UnexpectedHello,
    /// An AUTH frame anywhere but right after a HELLO with the AUTH flag, or a HELLO with
    /// the AUTH flag received by a client. PROTOCOL_ERROR.
    UnexpectedAuth,
    /// A HELLO with the AUTH flag followed by a frame other than AUTH. PROTOCOL_ERROR.
    ExpectedAuth,
    /// A frame type this version does not define. PROTOCOL_ERROR.
    UnknownFrameType(u8),
    /// A flag bit the frame type does not define is set. PROTOCOL_ERROR.
    InvalidFlags,
    /// The stream id does not fit the frame type (zero for a stream frame, non-zero for a
    /// connection frame), or its reserved high bit is set. PROTOCOL_ERROR.
    InvalidStreamId,
    /// The payload is longer than the receiver's MAX_FRAME_SIZE. FRAME_SIZE_ERROR.
    FrameTooLarge,
    /// The payload length does not fit the frame type's fixed shape. FRAME_SIZE_ERROR.
    InvalidFrameLength,
    /// A HELLO setting is out of range or appears twice. PROTOCOL_ERROR.
    InvalidSetting,
    /// An OPEN's service name is empty, longer than the receiver's MAX_SERVICE_NAME, or has a
    /// byte outside printable ASCII. PROTOCOL_ERROR.
    InvalidServiceName,
    /// A server sent OPEN (only clients open streams in version 1). PROTOCOL_ERROR.
    UnexpectedOpen,
    /// An OPEN with an even id, or an id not above every id the client used before.
    /// PROTOCOL_ERROR.
    StreamIdNotIncreasing,
    /// A frame names a stream that was never opened. PROTOCOL_ERROR.
    IdleStream,
    /// A WINDOW_UPDATE increment of 0 or above 2^31-1. PROTOCOL_ERROR.
    InvalidWindowIncrement,
    /// A WINDOW_UPDATE would take the connection window above 2^31-1. FLOW_CONTROL_ERROR.
    ConnectionWindowOverflow,
    /// DATA beyond the connection window. FLOW_CONTROL_ERROR.
    ConnectionWindowExceeded,
    /// The peer sent GOAWAY with this error code: it is closing the connection.
    PeerError(ErrorCode),
    /// The application closed the connection with [`goaway`](super::Connection::goaway) and
    /// this error code.
    Aborted(ErrorCode),

    /// The handshake has not completed (no HELLO from the peer yet). Usage error.
    NotReady,
    /// The call is for the other role (`open_stream` on a server, `hello` on a server, a
    /// second `hello`). Usage error.
    WrongRole,
    /// No open stream has this id (never opened, or already closed or reset). Usage error.
    StreamNotOpen,
    /// This side already ended the stream; it may not send on it again. Usage error.
    SendAfterEnd,
    /// Opening another stream would exceed the peer's MAX_CONCURRENT_STREAMS. Wait for a
    /// stream to close. Usage error.
    TooManyStreams,
    /// Every client stream id has been used; open a new connection. Usage error.
    StreamIdsExhausted,
    /// A GOAWAY was sent or received: no new streams on this connection. Usage error.
    GoingAway,
    /// The service name is empty, longer than the peer's MAX_SERVICE_NAME, or not printable
    /// ASCII. Usage error.
    BadServiceName,
    /// `consume` was given more bytes than were delivered and not yet consumed. Usage error.
    ConsumedTooMuch,
    /// A `grant` would take a receive window above 2^31-1. Usage error.
    WindowOverflow,
    /// A [`Settings`](super::Settings) field is out of range; the field is named. Usage error.
    InvalidSettings(&'static str),
    /// A token to send in AUTH is empty or longer than
    /// [`MAX_AUTH_TOKEN`](super::MAX_AUTH_TOKEN). Usage error.
    BadToken,
}

impl Error {
    /// The wire code of a connection error: the code of the GOAWAY the codec wrote (or
    /// received, or the application sent). `None` for a usage error.
    pub fn code(&self) -> Option<ErrorCode> {
        use Error::*;
        Some(match self {
            UnsupportedVersion(_) => ErrorCode::UNSUPPORTED_VERSION,
            FrameTooLarge | InvalidFrameLength => ErrorCode::FRAME_SIZE_ERROR,
            ConnectionWindowOverflow | ConnectionWindowExceeded => ErrorCode::FLOW_CONTROL_ERROR,
            PeerError(c) | Aborted(c) => *c,
            ExpectedHello
            | UnexpectedHello
            | UnexpectedAuth
            | ExpectedAuth
            | UnknownFrameType(_)
            | InvalidFlags
            | InvalidStreamId
            | InvalidSetting
            | InvalidServiceName
            | UnexpectedOpen
            | StreamIdNotIncreasing
            | IdleStream
            | InvalidWindowIncrement => ErrorCode::PROTOCOL_ERROR,
            NotReady | WrongRole | StreamNotOpen | SendAfterEnd | TooManyStreams
            | StreamIdsExhausted | GoingAway | BadServiceName | ConsumedTooMuch
            | WindowOverflow | InvalidSettings(_) | BadToken => return None,
        })
    }

    /// Whether the connection is finished: write out what is buffered and close it.
    pub fn is_fatal(&self) -> bool {
        self.code().is_some()
    }

    /// What the codec writes as GOAWAY debug text when it detects this error.
    pub(crate) fn message(&self) -> &'static str {
        use Error::*;
        match self {
            UnsupportedVersion(_) => "this server speaks ringwire-stream version 1 only",
            ExpectedHello => "the first frame must be HELLO",
            UnexpectedHello => "HELLO may be sent only once",
            UnexpectedAuth => {
                "AUTH is allowed only right after a client HELLO carrying the AUTH flag"
            }
            ExpectedAuth => "a HELLO with the AUTH flag must be followed by AUTH",
            UnknownFrameType(_) => "unknown frame type",
            InvalidFlags => "a flag the frame type does not define is set",
            InvalidStreamId => "the stream id does not fit the frame type",
            FrameTooLarge => "frame payload exceeds MAX_FRAME_SIZE",
            InvalidFrameLength => "payload length does not fit the frame type",
            InvalidSetting => "a HELLO setting is out of range or repeated",
            InvalidServiceName => {
                "the service name is empty, too long (MAX_SERVICE_NAME) or not printable ASCII"
            }
            UnexpectedOpen => "only clients open streams",
            StreamIdNotIncreasing => "a new stream id must be odd and above every earlier one",
            IdleStream => "frame for a stream that was never opened",
            InvalidWindowIncrement => "window increment must be 1..=2^31-1",
            ConnectionWindowOverflow => "window update overflows the connection window",
            ConnectionWindowExceeded => "DATA exceeds the connection window",
            PeerError(_) => "the peer closed the connection with an error",
            Aborted(_) => "the connection was closed by the application",
            NotReady => "the handshake has not completed",
            WrongRole => "not allowed in this role, or already done",
            StreamNotOpen => "no open stream has this id",
            SendAfterEnd => "this side already ended the stream",
            TooManyStreams => "the peer's MAX_CONCURRENT_STREAMS is reached",
            StreamIdsExhausted => "all stream ids are used; open a new connection",
            GoingAway => "GOAWAY was sent or received; no new streams",
            BadServiceName => {
                "the service name is empty, longer than the peer allows or not printable ASCII"
            }
            ConsumedTooMuch => "consumed more bytes than were delivered",
            WindowOverflow => "the grant would take the window above 2^31-1",
            InvalidSettings(_) => "a setting is out of range",
            BadToken => "a token must be 1 to 4096 bytes",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())?;
        match self {
            Error::UnsupportedVersion(v) => write!(f, " (got version {v})")?,
            Error::UnknownFrameType(t) => write!(f, " ({t:#04x})")?,
            Error::InvalidSettings(key) => write!(f, " ({key})")?,
            _ => {}
        }
        match self.code() {
            Some(code) => write!(f, " [{code}]"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_names_and_unknown_codes_survive() {
        assert_eq!(ErrorCode::SLOW_CONSUMER.name(), Some("SLOW_CONSUMER"));
        assert_eq!(
            ErrorCode::ENHANCE_YOUR_CALM.name(),
            Some("ENHANCE_YOUR_CALM")
        );
        assert_eq!(ErrorCode::TIMEOUT.name(), Some("TIMEOUT"));
        assert_eq!(ErrorCode::UNAVAILABLE.name(), Some("UNAVAILABLE"));
        assert_eq!(ErrorCode::UNAUTHENTICATED.name(), Some("UNAUTHENTICATED"));
        assert_eq!(ErrorCode::FORBIDDEN.to_string(), "FORBIDDEN");
        assert_eq!(ErrorCode::RATE_LIMITED, ErrorCode(0x11));
        assert_eq!(ErrorCode::RATE_LIMITED.name(), Some("RATE_LIMITED"));
        assert_eq!(ErrorCode(0x12).name(), None);
        assert_eq!(ErrorCode(0x2a).to_string(), "unknown error code 0x2a");
        assert_eq!(ErrorCode::PROTOCOL_ERROR.to_string(), "PROTOCOL_ERROR");
    }

    #[test]
    fn usage_errors_have_no_code_and_are_not_fatal() {
        assert_eq!(Error::SendAfterEnd.code(), None);
        assert!(!Error::TooManyStreams.is_fatal());
        assert!(Error::IdleStream.is_fatal());
        assert_eq!(
            Error::Aborted(ErrorCode::NO_ERROR).code(),
            Some(ErrorCode::NO_ERROR)
        );
    }

    #[test]
    fn display_names_the_detail_and_the_code() {
        assert_eq!(
            Error::UnsupportedVersion(2).to_string(),
            "this server speaks ringwire-stream version 1 only (got version 2) \
             [UNSUPPORTED_VERSION]"
        );
        assert_eq!(
            Error::InvalidSettings("max_frame_size").to_string(),
            "a setting is out of range (max_frame_size)"
        );
    }
}
