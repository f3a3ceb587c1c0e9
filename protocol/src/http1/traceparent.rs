//! The W3C Trace Context `traceparent` request field (level 1): the trace id a request
//! carries, for access logs and tracing spans. Fuzzed by the `http1_traceparent` target.

/// The 32-hex-digit trace id of a valid `traceparent` field value:
/// `version-traceid-parentid-flags`, lowercase hex, ids not all zeros, version not `ff`;
/// version `00` has exactly these four fields, later versions may append more after a `-`.
/// Surrounding spaces and tabs are ignored; anything else invalid gives `None`.
pub fn trace_id(traceparent: &[u8]) -> Option<&str> {
    // Header values may hold obs-text; the value must be UTF-8 to be logged at all. Every
    // check below works on bytes, so no slice can fall inside a multi-byte character.
    let s = std::str::from_utf8(traceparent)
        .ok()?
        .trim_matches([' ', '\t']);
    let b = s.as_bytes();
    if b.len() < 55 {
        return None;
    }
    let hex =
        |r: std::ops::Range<usize>| b[r].iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let nonzero = |r: std::ops::Range<usize>| b[r].iter().any(|c| *c != b'0');
    let version_ok = hex(0..2) && &b[0..2] != b"ff";
    let shape_ok =
        b[2] == b'-' && b[35] == b'-' && b[52] == b'-' && hex(3..35) && hex(36..52) && hex(53..55);
    let tail_ok = if &b[0..2] == b"00" {
        b.len() == 55
    } else {
        b.len() == 55 || b[55] == b'-'
    };
    // The id is ASCII hex once `shape_ok` holds, so slicing the str there is on char bounds.
    (version_ok && shape_ok && tail_ok && nonzero(3..35) && nonzero(36..52)).then(|| &s[3..35])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3c_trace_context_examples() {
        let good = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(good), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(
            trace_id(b" \t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 "),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            trace_id(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            &b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"[..], // uppercase
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",      // zero trace id
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",      // zero parent id
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",      // forbidden version
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // v00 has no extra fields
            b"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    // short trace id
            b"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            b"",
        ] {
            assert_eq!(trace_id(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn multi_byte_characters_are_refused_not_a_panic() {
        // The version used to be sliced as a str, which panicked when a multi-byte character
        // straddled byte 2 (a request handler panic, from one header value).
        let value = "aé-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(value.as_bytes()), None);
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é";
        assert_eq!(trace_id(value.as_bytes()), None);
    }
}
