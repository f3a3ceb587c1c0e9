//! What the connection reports to the application, and which end it is.

use super::error::ErrorCode;
use super::settings::Settings;

/// Which end of the connection this is. Only clients open streams (version 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends the first HELLO, opens streams with odd ids.
    Client,
    /// Answers HELLO, accepts streams.
    Server,
}

/// What [`Connection::decode`](super::Connection::decode) found. Byte slices borrow the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The peer's HELLO: its settings, now in force. A server has written its own HELLO in
    /// reply; a client may now open streams.
    Hello(Settings),
    /// Server: the client's token, from the AUTH frame after a HELLO with the AUTH flag.
    /// Nothing has been answered yet: the application checks the token, then calls
    /// [`accept_hello`](super::Connection::accept_hello) (which writes this side's HELLO;
    /// no [`Event::Hello`] follows) or [`goaway`](super::Connection::goaway) with
    /// UNAUTHENTICATED or FORBIDDEN. Until it does, `decode` returns
    /// [`Error::NotReady`](super::Error::NotReady) and consumes nothing.
    Auth(&'a [u8]),
    /// Server: the client opened a stream to `service`. Serve it, or
    /// [`reset`](super::Connection::reset) it with `UNKNOWN_SERVICE`.
    StreamOpened {
        /// The new stream.
        id: u32,
        /// The service name: 1..=MAX_SERVICE_NAME printable ASCII bytes.
        service: &'a str,
    },
    /// Stream bytes, and whether the peer ended its side with them. The bytes count as held
    /// against both receive windows until [`consume`](super::Connection::consume)d.
    ///
    /// `data` is the end of the consumed prefix, `input[consumed - data.len()..consumed]`, so
    /// a caller holding its buffer as `bytes::Bytes` can keep it with `Bytes::slice`.
    Data {
        /// The stream.
        id: u32,
        /// The payload: a slice of the input, possibly empty (an END_STREAM-only frame).
        data: &'a [u8],
        /// The peer sent END_STREAM: it sends nothing more on this stream.
        end: bool,
    },
    /// The peer reset a stream; it is closed. Drop its state.
    Reset {
        /// The stream.
        id: u32,
        /// The peer's reason.
        code: ErrorCode,
    },
    /// The peer broke a rule of one stream (FLOW_CONTROL_ERROR: DATA beyond the stream
    /// window or an overflowing update; STREAM_CLOSED: DATA after its END_STREAM). The codec
    /// has written a RESET and closed the stream; the connection goes on.
    StreamError {
        /// The stream.
        id: u32,
        /// The code sent in the RESET.
        code: ErrorCode,
    },
    /// Server: an OPEN was refused with REFUSED_STREAM (MAX_CONCURRENT_STREAMS reached, or
    /// after this side's GOAWAY) and a RESET written. The application never saw this stream.
    Refused {
        /// The refused stream.
        id: u32,
    },
    /// A window this side sends on grew: a sender blocked on flow control may try again.
    /// Not reported for streams this side has already ended.
    WindowOpened {
        /// The stream, or 0 for the connection window (which may unblock every stream).
        id: u32,
    },
    /// The peer pinged; the codec has written the PONG.
    Ping([u8; 8]),
    /// An answer to a PING.
    Pong([u8; 8]),
    /// The peer sends no new streams after `last_id`. On a client, streams above `last_id`
    /// were not processed and are closed (retry them elsewhere); those at or below finish.
    /// With a code other than NO_ERROR, or before the handshake, the connection is over:
    /// every later call returns [`Error::PeerError`](super::Error::PeerError).
    GoAway {
        /// Highest stream id the peer processed.
        last_id: u32,
        /// The peer's reason.
        code: ErrorCode,
        /// The peer's diagnostic text.
        debug: &'a [u8],
    },
}
