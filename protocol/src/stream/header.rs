//! The fixed 12-byte frame header, read in place from the input with `zerocopy`.

use zerocopy::byteorder::network_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The protocol version this codec speaks, carried in every frame header.
pub const VERSION: u8 = 1;

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 12;

/// The largest stream id: the high bit of every 32-bit id is reserved and must be zero.
pub const MAX_STREAM_ID: u32 = 0x7fff_ffff;

/// DATA flag: the sender's last frame on this stream (it half-closes the stream).
pub const END_STREAM: u16 = 0x1;

/// HELLO flag (client to server only): an AUTH frame carrying a token follows this HELLO.
pub const HELLO_AUTH: u16 = 0x1;

/// A frame header as it lies in the buffer: version, type, flags, stream id, payload length,
/// all in network byte order.
///
/// Every field is byte-aligned (`Unaligned`), so a header can be viewed at any offset of a
/// read buffer without copying: [`FrameHeader::parse`]. The 4-byte fields still sit at
/// offsets 4 and 8, so a frame that starts aligned keeps them aligned.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct FrameHeader {
    version: u8,
    kind: u8,
    flags: U16,
    stream_id: U32,
    length: U32,
}

const _: () = assert!(size_of::<FrameHeader>() == HEADER_LEN);

impl FrameHeader {
    /// A version-1 header.
    pub fn new(kind: FrameType, flags: u16, stream_id: u32, length: u32) -> FrameHeader {
        FrameHeader {
            version: VERSION,
            kind: kind as u8,
            flags: U16::new(flags),
            stream_id: U32::new(stream_id),
            length: U32::new(length),
        }
    }

    /// A view of the header at the start of `buf`, or `None` if fewer than
    /// [`HEADER_LEN`] bytes are there. Nothing is checked: see [`decode`](super::decode).
    pub fn parse(buf: &[u8]) -> Option<&FrameHeader> {
        FrameHeader::ref_from_prefix(buf).ok().map(|(h, _)| h)
    }

    /// The header's wire bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0; HEADER_LEN];
        b.copy_from_slice(self.as_bytes());
        b
    }

    /// The protocol version byte.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The raw frame type byte ([`FrameType::from_u8`] names it).
    pub fn kind(&self) -> u8 {
        self.kind
    }

    /// The flag bits.
    pub fn flags(&self) -> u16 {
        self.flags.get()
    }

    /// The stream id as sent, reserved bit included.
    pub fn stream_id(&self) -> u32 {
        self.stream_id.get()
    }

    /// The payload length in bytes (the header's own 12 bytes not included).
    pub fn length(&self) -> u32 {
        self.length.get()
    }
}

impl std::fmt::Debug for FrameHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameHeader")
            .field("version", &self.version)
            .field("kind", &self.kind)
            .field("flags", &self.flags())
            .field("stream_id", &self.stream_id())
            .field("length", &self.length())
            .finish()
    }
}

/// The frame types of version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// Handshake: version and settings. Stream 0; first frame of each side.
    Hello = 0x0,
    /// Open a stream to a named service. Client only; new odd stream id.
    Open = 0x1,
    /// Stream bytes, flow controlled; `END_STREAM` half-closes.
    Data = 0x2,
    /// Abort a stream with an error code.
    Reset = 0x3,
    /// Add to a stream's (id ≠ 0) or the connection's (id 0) send window.
    WindowUpdate = 0x4,
    /// Liveness / round-trip probe; 8 opaque bytes answered by PONG.
    Ping = 0x5,
    /// Answer to PING, echoing its 8 bytes.
    Pong = 0x6,
    /// No new streams: last processed stream id, error code, debug text.
    GoAway = 0x7,
    /// The client's token, right after a HELLO flagged [`HELLO_AUTH`]. Stream 0.
    Auth = 0x8,
}

impl FrameType {
    /// The type with this wire value, or `None` for one version 1 does not define.
    pub fn from_u8(v: u8) -> Option<FrameType> {
        use FrameType::*;
        Some(match v {
            0x0 => Hello,
            0x1 => Open,
            0x2 => Data,
            0x3 => Reset,
            0x4 => WindowUpdate,
            0x5 => Ping,
            0x6 => Pong,
            0x7 => GoAway,
            0x8 => Auth,
            _ => return None,
        })
    }

    /// The flag bits this type defines; any other bit set is a protocol error.
    pub fn allowed_flags(self) -> u16 {
        match self {
            FrameType::Data => END_STREAM,
            FrameType::Hello => HELLO_AUTH,
            _ => 0,
        }
    }

    /// Whether the frame belongs to the connection (stream id 0) rather than a stream.
    /// WINDOW_UPDATE is both, and answers `None`.
    pub fn on_connection(self) -> Option<bool> {
        match self {
            FrameType::Hello
            | FrameType::Ping
            | FrameType::Pong
            | FrameType::GoAway
            | FrameType::Auth => Some(true),
            FrameType::Open | FrameType::Data | FrameType::Reset => Some(false),
            FrameType::WindowUpdate => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_big_endian_in_place() {
        let h = FrameHeader::new(FrameType::Data, END_STREAM, 0x0102_0304, 0x0a0b_0c0d);
        let b = h.to_bytes();
        assert_eq!(b, [1, 2, 0, 1, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d]);
        // Viewed at an odd offset: no alignment is needed.
        let mut buf = vec![0xee];
        buf.extend_from_slice(&b);
        let view = FrameHeader::parse(&buf[1..]).unwrap();
        assert_eq!(*view, h);
        assert_eq!(
            (view.stream_id(), view.length()),
            (0x0102_0304, 0x0a0b_0c0d)
        );
        assert!(FrameHeader::parse(&b[..11]).is_none());
    }

    #[test]
    fn every_type_round_trips_and_nothing_else_is_a_type() {
        for v in 0..=255u8 {
            match FrameType::from_u8(v) {
                Some(t) => assert_eq!(t as u8, v),
                None => assert!(v > 8),
            }
        }
    }
}
