//! The `kv` stream service's request decoding.

use crate::kv::{decode_request, encode_request, split};

/// Splits `data` into messages and decodes each as a request, as the server does. Invariants:
/// nothing panics; a message that decodes re-encodes to exactly the same bytes (the encoding
/// is canonical, so a client and the server cannot disagree about what was asked).
pub fn kv_request(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some((body, used))) = split(rest) {
        if let Ok(req) = decode_request(body) {
            let mut again = Vec::new();
            encode_request(&req, &mut again);
            assert_eq!(&again[..], &rest[..used], "{req:?} re-encodes differently");
        }
        rest = &rest[used..];
    }
}
