//! Connection settings: the limits each side announces in its HELLO, and their wire form.

use super::error::Error;

/// The largest value a flow-control window may reach, and the largest window increment:
/// 2^31-1, so a window always fits a signed 32-bit integer in any implementation.
pub const MAX_WINDOW: u32 = 0x7fff_ffff;

/// The smallest MAX_FRAME_SIZE a peer may announce. Every frame a peer sends before it has
/// read the other side's HELLO (only its own HELLO) fits in it.
pub const MIN_FRAME_SIZE: u32 = 1024;

/// The largest MAX_FRAME_SIZE a peer may announce (2^24-1), so a frame never needs more than
/// 16 MiB of buffer.
pub const MAX_FRAME_SIZE: u32 = 0x00ff_ffff;

/// The longest service name any receiver accepts, whatever its MAX_SERVICE_NAME says.
pub const MAX_SERVICE_NAME: u32 = 255;

/// A setting identifier in a HELLO payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum SettingId {
    /// Largest frame payload the announcing side accepts.
    MaxFrameSize = 0x1,
    /// Initial per-stream window for DATA the announcing side receives.
    InitialStreamWindow = 0x2,
    /// Initial connection window for DATA the announcing side receives.
    InitialConnectionWindow = 0x3,
    /// Most streams the peer may have open towards the announcing side at once.
    MaxConcurrentStreams = 0x4,
    /// Longest service name the announcing side accepts in OPEN.
    MaxServiceName = 0x5,
}

impl SettingId {
    /// Every setting, in id order (the order [`Settings::encode_payload`] writes them).
    pub const ALL: [SettingId; 5] = [
        SettingId::MaxFrameSize,
        SettingId::InitialStreamWindow,
        SettingId::InitialConnectionWindow,
        SettingId::MaxConcurrentStreams,
        SettingId::MaxServiceName,
    ];

    /// The setting with this wire id, or `None` for an id this version does not define
    /// (which a receiver ignores).
    pub fn from_u16(id: u16) -> Option<SettingId> {
        Self::ALL.get(usize::from(id).wrapping_sub(1)).copied()
    }

    /// The name of the [`Settings`] field it sets.
    pub fn key(self) -> &'static str {
        match self {
            SettingId::MaxFrameSize => "max_frame_size",
            SettingId::InitialStreamWindow => "initial_stream_window",
            SettingId::InitialConnectionWindow => "initial_connection_window",
            SettingId::MaxConcurrentStreams => "max_concurrent_streams",
            SettingId::MaxServiceName => "max_service_name",
        }
    }

    /// The values the setting may take.
    pub fn range(self) -> (u32, u32) {
        match self {
            SettingId::MaxFrameSize => (MIN_FRAME_SIZE, MAX_FRAME_SIZE),
            SettingId::InitialStreamWindow | SettingId::InitialConnectionWindow => (0, MAX_WINDOW),
            SettingId::MaxConcurrentStreams => (0, MAX_WINDOW),
            SettingId::MaxServiceName => (1, MAX_SERVICE_NAME),
        }
    }
}

/// Bytes per setting in a HELLO payload: a u16 id and a u32 value.
pub const SETTING_LEN: usize = 6;

/// The longest HELLO payload: it must fit the smallest frame size any peer may announce,
/// because it is sent before the peer's settings are known.
pub const MAX_HELLO_PAYLOAD: usize = 1020;

/// The longest AUTH payload (a token), whatever the receiver's MAX_FRAME_SIZE: the only frame
/// a client sends before it knows the server's settings that may exceed [`MIN_FRAME_SIZE`].
pub const MAX_AUTH_TOKEN: usize = 4096;

/// One side's limits. Each constrains what the *other* side may send, and is announced to
/// it in this side's HELLO. A value missing from a HELLO takes its default.
///
/// The defaults suit a server on a fast network: 64 bytes of header work per 16 KiB frame,
/// and windows big enough that one stream can fill a 1 Gbit/s link with 2 ms of round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Largest frame payload this side accepts. Default 16 KiB; `MIN_FRAME_SIZE..=MAX_FRAME_SIZE`.
    /// A reader needs a buffer of this plus [`HEADER_LEN`](super::HEADER_LEN) bytes.
    pub max_frame_size: u32,
    /// Window each new stream starts with for DATA sent to this side. Default 256 KiB;
    /// `0..=MAX_WINDOW` (0: the peer sends nothing until [`grant`](super::Connection::grant)).
    pub initial_stream_window: u32,
    /// Window for all DATA sent to this side on the connection. Default 1 MiB; `0..=MAX_WINDOW`.
    pub initial_connection_window: u32,
    /// Most streams the peer may have open towards this side at once. Default 100;
    /// `0..=MAX_WINDOW`. An OPEN beyond it is refused with REFUSED_STREAM.
    pub max_concurrent_streams: u32,
    /// Longest service name this side accepts in OPEN. Default 64; `1..=MAX_SERVICE_NAME`.
    pub max_service_name: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_frame_size: 16 * 1024,
            initial_stream_window: 256 * 1024,
            initial_connection_window: 1024 * 1024,
            max_concurrent_streams: 100,
            max_service_name: 64,
        }
    }
}

impl Settings {
    /// The value of one setting.
    pub fn get(&self, id: SettingId) -> u32 {
        match id {
            SettingId::MaxFrameSize => self.max_frame_size,
            SettingId::InitialStreamWindow => self.initial_stream_window,
            SettingId::InitialConnectionWindow => self.initial_connection_window,
            SettingId::MaxConcurrentStreams => self.max_concurrent_streams,
            SettingId::MaxServiceName => self.max_service_name,
        }
    }

    fn set(&mut self, id: SettingId, value: u32) {
        match id {
            SettingId::MaxFrameSize => self.max_frame_size = value,
            SettingId::InitialStreamWindow => self.initial_stream_window = value,
            SettingId::InitialConnectionWindow => self.initial_connection_window = value,
            SettingId::MaxConcurrentStreams => self.max_concurrent_streams = value,
            SettingId::MaxServiceName => self.max_service_name = value,
        }
    }

    /// Checks every value against its range; the error names the first field out of range.
    pub fn validate(&self) -> Result<(), Error> {
        for id in SettingId::ALL {
            let (lo, hi) = id.range();
            if !(lo..=hi).contains(&self.get(id)) {
                return Err(Error::InvalidSettings(id.key()));
            }
        }
        Ok(())
    }

    /// Appends the HELLO payload announcing these settings: every setting, in id order.
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        for id in SettingId::ALL {
            out.extend_from_slice(&(id as u16).to_be_bytes());
            out.extend_from_slice(&self.get(id).to_be_bytes());
        }
    }

    /// The length of [`encode_payload`](Self::encode_payload)'s output.
    pub const PAYLOAD_LEN: usize = SettingId::ALL.len() * SETTING_LEN;

    /// Reads a HELLO payload: settings not mentioned keep their default, unknown ids are
    /// ignored (so later versions can add settings), a known id twice or a value out of
    /// range is [`Error::InvalidSetting`]. The caller has checked the payload's length.
    pub fn decode_payload(payload: &[u8]) -> Result<Settings, Error> {
        let mut settings = Settings::default();
        let mut seen = 0u32;
        for entry in payload.chunks_exact(SETTING_LEN) {
            let raw = u16::from_be_bytes([entry[0], entry[1]]);
            let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
            let Some(id) = SettingId::from_u16(raw) else {
                continue;
            };
            let (lo, hi) = id.range();
            if seen & (1 << raw) != 0 || !(lo..=hi).contains(&value) {
                return Err(Error::InvalidSetting);
            }
            seen |= 1 << raw;
            settings.set(id, value);
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let s = Settings::default();
        s.validate().unwrap();
        let mut out = Vec::new();
        s.encode_payload(&mut out);
        assert_eq!(out.len(), Settings::PAYLOAD_LEN);
        assert_eq!(Settings::decode_payload(&out), Ok(s));
    }

    #[test]
    fn validate_names_the_field() {
        let s = Settings {
            max_service_name: 0,
            ..Settings::default()
        };
        assert_eq!(
            s.validate(),
            Err(Error::InvalidSettings("max_service_name"))
        );
        let s = Settings {
            max_frame_size: MIN_FRAME_SIZE - 1,
            ..Settings::default()
        };
        assert_eq!(s.validate(), Err(Error::InvalidSettings("max_frame_size")));
    }

    #[test]
    fn unknown_ids_are_ignored_duplicates_refused() {
        let unknown = [0x00, 0x09, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(Settings::decode_payload(&unknown), Ok(Settings::default()));
        let twice = [0, 4, 0, 0, 0, 1, 0, 4, 0, 0, 0, 2];
        assert_eq!(Settings::decode_payload(&twice), Err(Error::InvalidSetting));
        assert_eq!(SettingId::from_u16(0), None);
        assert_eq!(SettingId::from_u16(5), Some(SettingId::MaxServiceName));
    }
}
