//! Frames: stateless decoding (every rule a frame can break on its own) and encoding.
//!
//! The connection state machine ([`Connection`](super::Connection)) sits on top and checks
//! what depends on history: handshake order, stream states, windows.

use super::error::{Error, ErrorCode};
use super::header::{
    END_STREAM, FrameHeader, FrameType, HEADER_LEN, HELLO_AUTH, MAX_STREAM_ID, VERSION,
};
use super::settings::{MAX_AUTH_TOKEN, MAX_HELLO_PAYLOAD, MAX_WINDOW, SETTING_LEN, Settings};

/// One decoded frame. Byte payloads are slices of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// HELLO: the sender's settings (unmentioned ones at their defaults).
    Hello(Settings),
    /// HELLO with the [`HELLO_AUTH`] flag: a client's settings, and an AUTH frame follows.
    HelloAuth(Settings),
    /// AUTH: the client's token (1..=[`MAX_AUTH_TOKEN`] bytes), a slice of the input.
    Auth(&'a [u8]),
    /// OPEN: a new stream to the named service (printable ASCII).
    Open {
        /// The new stream's id.
        id: u32,
        /// The service name.
        service: &'a str,
    },
    /// DATA: stream bytes.
    Data {
        /// The stream.
        id: u32,
        /// The payload, a slice of the input (possibly empty).
        data: &'a [u8],
        /// `END_STREAM`: the sender's last frame on the stream.
        end: bool,
    },
    /// RESET: the stream is aborted.
    Reset {
        /// The stream.
        id: u32,
        /// Why.
        code: ErrorCode,
    },
    /// WINDOW_UPDATE: the receiver of this frame may send `increment` more bytes.
    WindowUpdate {
        /// The stream, or 0 for the connection window.
        id: u32,
        /// 1..=2^31-1.
        increment: u32,
    },
    /// PING with its opaque payload.
    Ping([u8; 8]),
    /// PONG echoing a PING's payload.
    Pong([u8; 8]),
    /// GOAWAY: no new streams after `last_id`.
    GoAway {
        /// The highest stream id the sender processed (or may still process).
        last_id: u32,
        /// Why; `NO_ERROR` for a graceful drain.
        code: ErrorCode,
        /// Diagnostic text for humans (UTF-8 by convention, not checked).
        debug: &'a [u8],
    },
}

/// Checks a frame header against everything it alone can prove wrong, given the receiver's
/// `local` settings. Returns the frame type and the payload length.
///
/// This runs as soon as 12 bytes are present, so an oversized or malformed frame is refused
/// before its payload is waited for (and a peer cannot make the reader buffer it).
pub fn check_header(h: &FrameHeader, local: &Settings) -> Result<(FrameType, usize), Error> {
    if h.version() != VERSION {
        return Err(Error::UnsupportedVersion(h.version()));
    }
    let kind = FrameType::from_u8(h.kind()).ok_or(Error::UnknownFrameType(h.kind()))?;
    if h.flags() & !kind.allowed_flags() != 0 {
        return Err(Error::InvalidFlags);
    }
    let id = h.stream_id();
    if id > MAX_STREAM_ID || kind.on_connection().is_some_and(|conn| conn != (id == 0)) {
        return Err(Error::InvalidStreamId);
    }
    let len = h.length();
    if kind == FrameType::Auth {
        // Bounded by its own limit, not MAX_FRAME_SIZE: a token may be longer than the
        // smallest frame size, and the client sends it before it knows the server's.
        if len == 0 || len as usize > MAX_AUTH_TOKEN {
            return Err(Error::InvalidFrameLength);
        }
    } else if len > local.max_frame_size {
        return Err(Error::FrameTooLarge);
    }
    let len = len as usize;
    let shape_ok = match kind {
        FrameType::Hello => len % SETTING_LEN == 0 && len <= MAX_HELLO_PAYLOAD,
        FrameType::Reset | FrameType::WindowUpdate => len == 4,
        FrameType::Ping | FrameType::Pong => len == 8,
        FrameType::GoAway => len >= 8,
        FrameType::Open => {
            if len == 0 || len > local.max_service_name as usize {
                return Err(Error::InvalidServiceName);
            }
            true
        }
        FrameType::Data | FrameType::Auth => true,
    };
    if !shape_ok {
        return Err(Error::InvalidFrameLength);
    }
    Ok((kind, len))
}

/// Decodes the frame at the start of `input` for a receiver with `local` settings.
///
/// `Ok(None)`: the frame is not complete yet (no error is provable from the bytes present);
/// read more and call again with the same start. `Ok(Some((frame, n)))`: a frame of `n`
/// bytes. Errors are connection errors, reported at the earliest byte that proves them, so
/// the verdict never depends on how the input was split.
pub fn decode<'a>(input: &'a [u8], local: &Settings) -> Result<Option<(Frame<'a>, usize)>, Error> {
    let Some(header) = FrameHeader::parse(input) else {
        return Ok(None);
    };
    let (kind, len) = check_header(header, local)?;
    let Some(payload) = input.get(HEADER_LEN..HEADER_LEN + len) else {
        return Ok(None);
    };
    let id = header.stream_id();
    let frame = match kind {
        FrameType::Hello if header.flags() & HELLO_AUTH != 0 => {
            Frame::HelloAuth(Settings::decode_payload(payload)?)
        }
        FrameType::Hello => Frame::Hello(Settings::decode_payload(payload)?),
        FrameType::Auth => Frame::Auth(payload),
        FrameType::Open => {
            if !payload.iter().all(|b| (0x21..=0x7e).contains(b)) {
                return Err(Error::InvalidServiceName);
            }
            // Printable ASCII is UTF-8, so this never fails; no unsafe needed to skip it.
            let service = std::str::from_utf8(payload).map_err(|_| Error::InvalidServiceName)?;
            Frame::Open { id, service }
        }
        FrameType::Data => Frame::Data {
            id,
            data: payload,
            end: header.flags() & END_STREAM != 0,
        },
        FrameType::Reset => Frame::Reset {
            id,
            code: ErrorCode(be32(payload)),
        },
        FrameType::WindowUpdate => {
            let increment = be32(payload);
            if increment == 0 || increment > MAX_WINDOW {
                return Err(Error::InvalidWindowIncrement);
            }
            Frame::WindowUpdate { id, increment }
        }
        FrameType::Ping => Frame::Ping(be64(payload)),
        FrameType::Pong => Frame::Pong(be64(payload)),
        FrameType::GoAway => {
            let last_id = be32(payload);
            if last_id > MAX_STREAM_ID {
                return Err(Error::InvalidStreamId);
            }
            Frame::GoAway {
                last_id,
                code: ErrorCode(be32(&payload[4..])),
                debug: &payload[8..],
            }
        }
    };
    Ok(Some((frame, HEADER_LEN + len)))
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> [u8; 8] {
    let mut p = [0; 8];
    p.copy_from_slice(&b[..8]);
    p
}

/// Appends a frame header. Lengths are the caller's to keep within the peer's limits.
pub fn encode_header(out: &mut Vec<u8>, kind: FrameType, flags: u16, id: u32, len: usize) {
    debug_assert!(len <= u32::MAX as usize);
    out.extend_from_slice(&FrameHeader::new(kind, flags, id, len as u32).to_bytes());
}

impl Frame<'_> {
    /// The frame's type.
    pub fn kind(&self) -> FrameType {
        match self {
            Frame::Hello(_) | Frame::HelloAuth(_) => FrameType::Hello,
            Frame::Auth(_) => FrameType::Auth,
            Frame::Open { .. } => FrameType::Open,
            Frame::Data { .. } => FrameType::Data,
            Frame::Reset { .. } => FrameType::Reset,
            Frame::WindowUpdate { .. } => FrameType::WindowUpdate,
            Frame::Ping(_) => FrameType::Ping,
            Frame::Pong(_) => FrameType::Pong,
            Frame::GoAway { .. } => FrameType::GoAway,
        }
    }

    /// Bytes the encoded frame takes, header included.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Frame::Hello(_) | Frame::HelloAuth(_) => Settings::PAYLOAD_LEN,
                Frame::Auth(token) => token.len(),
                Frame::Open { service, .. } => service.len(),
                Frame::Data { data, .. } => data.len(),
                Frame::Reset { .. } | Frame::WindowUpdate { .. } => 4,
                Frame::Ping(_) | Frame::Pong(_) => 8,
                Frame::GoAway { debug, .. } => 8 + debug.len(),
            }
    }

    /// Appends the frame's wire form. It checks nothing: a frame built with out-of-range
    /// values encodes as given (tests use that to build invalid input).
    /// [`Connection`](super::Connection) only ever encodes valid frames.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = self.encoded_len() - HEADER_LEN;
        let (id, flags) = match *self {
            Frame::Open { id, .. } | Frame::Reset { id, .. } | Frame::WindowUpdate { id, .. } => {
                (id, 0)
            }
            Frame::Data { id, end, .. } => (id, if end { END_STREAM } else { 0 }),
            Frame::HelloAuth(_) => (0, HELLO_AUTH),
            _ => (0, 0),
        };
        encode_header(out, self.kind(), flags, id, len);
        match self {
            Frame::Hello(s) | Frame::HelloAuth(s) => s.encode_payload(out),
            Frame::Auth(token) => out.extend_from_slice(token),
            Frame::Open { service, .. } => out.extend_from_slice(service.as_bytes()),
            Frame::Data { data, .. } => out.extend_from_slice(data),
            Frame::Reset { code, .. } => out.extend_from_slice(&code.0.to_be_bytes()),
            Frame::WindowUpdate { increment, .. } => {
                out.extend_from_slice(&increment.to_be_bytes())
            }
            Frame::Ping(p) | Frame::Pong(p) => out.extend_from_slice(p),
            Frame::GoAway {
                last_id,
                code,
                debug,
            } => {
                out.extend_from_slice(&last_id.to_be_bytes());
                out.extend_from_slice(&code.0.to_be_bytes());
                out.extend_from_slice(debug);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_errors_come_before_the_payload_arrives() {
        // A DATA header announcing 1 MiB: refused with 12 bytes in hand.
        let mut b = Vec::new();
        encode_header(&mut b, FrameType::Data, 0, 1, 1 << 20);
        assert_eq!(decode(&b, &Settings::default()), Err(Error::FrameTooLarge));
        // A well-formed header with its payload missing is just incomplete.
        b.clear();
        encode_header(&mut b, FrameType::Data, 0, 1, 100);
        assert_eq!(decode(&b, &Settings::default()), Ok(None));
    }

    #[test]
    fn data_payload_is_a_slice_of_the_input() {
        let mut b = Vec::new();
        Frame::Data {
            id: 3,
            data: b"abc",
            end: true,
        }
        .encode(&mut b);
        let (f, n) = decode(&b, &Settings::default()).unwrap().unwrap();
        assert_eq!(n, b.len());
        let Frame::Data { data, .. } = f else {
            panic!("{f:?}")
        };
        assert_eq!(data.as_ptr(), b[HEADER_LEN..].as_ptr());
    }
}
