//! Raw frames for the frame-level tests: any header fields, and a one-frame decode.

use ringwire_protocol::stream::{self, Error, Frame, Settings};

/// A raw frame: header fields as given, then `payload`.
pub fn raw(version: u8, kind: u8, flags: u16, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![version, kind];
    b.extend_from_slice(&flags.to_be_bytes());
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    b.extend_from_slice(payload);
    b
}

/// A SETTINGS entry: id, then value.
pub fn setting(id: u16, value: u32) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend_from_slice(&value.to_be_bytes());
    b
}

/// Decodes `bytes` as exactly one frame (asserts nothing is left over).
pub fn decode(bytes: &[u8]) -> Result<Option<Frame<'_>>, Error> {
    stream::decode(bytes, &Settings::default()).map(|r| {
        r.map(|(f, n)| {
            assert_eq!(n, bytes.len(), "one frame, all of it");
            f
        })
    })
}
