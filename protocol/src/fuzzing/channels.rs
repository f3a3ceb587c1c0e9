//! The `channels` stream service's decoding, both directions.

use crate::channels::{ServerMessage, parse_request, parse_server_message, split, valid_channel};

/// Splits `data` into messages and decodes each both as a request (as the server does) and as
/// a server message (as a client does). Invariants: nothing panics; whatever decodes
/// re-encodes to exactly the same bytes (the encodings are canonical, so the two sides cannot
/// disagree about what was said); every name in a decoded request is a valid channel name.
pub fn channels_request(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some((body, used))) = split(rest) {
        let wire = &rest[..used];
        if let Ok(req) = parse_request(body) {
            let mut again = Vec::new();
            req.encode(&mut again);
            assert_eq!(&again[..], wire, "{req:?} re-encodes differently");
            if let Some(channel) = req.channel() {
                assert!(valid_channel(channel.as_bytes()), "{req:?}: bad channel");
            }
        }
        if let Ok(msg) = parse_server_message(body) {
            let mut again = Vec::new();
            msg.encode(&mut again);
            assert_eq!(&again[..], wire, "{msg:?} re-encodes differently");
            if let ServerMessage::Answer { id, .. } = msg {
                assert_eq!(body[1..5], id.to_be_bytes());
            }
        }
        rest = &rest[used..];
    }
}
