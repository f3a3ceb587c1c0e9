//! The W3C Trace Context `traceparent` field (level 1): parsed from a request
//! ([`TraceParent::parse`], [`trace_id`]) and written into a response or a downstream call
//! ([`TraceParent::encode`]). Fuzzed by the `http1_traceparent` target.

/// Length of a version `00` `traceparent` value: `00-` + 32 hex + `-` + 16 hex + `-` + 2 hex.
pub const TRACEPARENT_LEN: usize = 55;

/// A valid `traceparent` value, decoded: the version, the trace id, the caller's span id
/// (`parent-id`) and the trace flags (bit 0: sampled). No allocation either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The version byte the sender used (`00` today; later versions are read as `00`).
    pub version: u8,
    /// The trace id, never all zeros.
    pub trace_id: [u8; 16],
    /// The span id of the caller, never all zeros.
    pub parent_id: [u8; 8],
    /// The trace flags; bit 0 is `sampled`.
    pub flags: u8,
}

impl TraceParent {
    /// Decodes a field value valid by the rules of [`trace_id`]; anything else is `None`.
    pub fn parse(traceparent: &[u8]) -> Option<TraceParent> {
        let b = valid(traceparent)?.as_bytes();
        let mut tp = TraceParent {
            version: 0,
            trace_id: [0; 16],
            parent_id: [0; 8],
            flags: 0,
        };
        let mut version = [0u8; 1];
        let mut flags = [0u8; 1];
        unhex(&b[0..2], &mut version);
        unhex(&b[3..35], &mut tp.trace_id);
        unhex(&b[36..52], &mut tp.parent_id);
        unhex(&b[53..55], &mut flags);
        tp.version = version[0];
        tp.flags = flags[0];
        Some(tp)
    }

    /// Whether the sampled flag (bit 0) is set.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The field value, always version `00` (the version this encoder speaks), lowercase.
    pub fn encode(&self) -> [u8; TRACEPARENT_LEN] {
        let mut out = [b'-'; TRACEPARENT_LEN];
        out[0] = b'0';
        out[1] = b'0';
        hex(&self.trace_id, &mut out[3..35]);
        hex(&self.parent_id, &mut out[36..52]);
        hex(&[self.flags], &mut out[53..55]);
        out
    }
}

/// Writes `bytes` as lowercase hex into `out` (exactly twice as long).
pub fn hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    debug_assert_eq!(out.len(), bytes.len() * 2);
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
}

/// Reads lowercase hex already checked by [`trace_id`] into `out` (half as long).
fn unhex(digits: &[u8], out: &mut [u8]) {
    let val = |c: u8| if c <= b'9' { c - b'0' } else { c - b'a' + 10 };
    for (b, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *b = (val(pair[0]) << 4) | val(pair[1]);
    }
}

/// The 32-hex-digit trace id of a valid `traceparent` field value:
/// `version-traceid-parentid-flags`, lowercase hex, ids not all zeros, version not `ff`;
/// version `00` has exactly these four fields, later versions may append more after a `-`.
/// Surrounding spaces and tabs are ignored; anything else invalid gives `None`.
pub fn trace_id(traceparent: &[u8]) -> Option<&str> {
    valid(traceparent).map(|s| &s[3..35])
}

/// The trimmed value if it is valid (see [`trace_id`]); its first 55 bytes are lowercase hex
/// and dashes in the version `00` layout.
fn valid(traceparent: &[u8]) -> Option<&str> {
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
    // Once `shape_ok` holds, bytes 0..55 are ASCII, so slicing the str there is on char bounds.
    (version_ok && shape_ok && tail_ok && nonzero(3..35) && nonzero(36..52)).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_reads_every_field() {
        let tp = TraceParent::parse(b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t")
            .unwrap();
        assert_eq!(tp.version, 0);
        assert_eq!(tp.trace_id[..4], [0x4b, 0xf9, 0x2f, 0x35]);
        assert_eq!(
            tp.parent_id,
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert!(tp.sampled());
        let tp = TraceParent::parse(b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe-x")
            .unwrap();
        assert_eq!((tp.version, tp.flags, tp.sampled()), (0xcc, 0xfe, false));
        // A later version is answered as 00, with its fields.
        assert_eq!(
            &tp.encode()[..],
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe"
        );
        assert_eq!(
            TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"),
            None
        );
    }

    proptest! {
        /// encode then parse gives back the ids and flags (version 00), and a version 00
        /// value parses and encodes back to itself.
        #[test]
        fn encode_parse_round_trip(trace in any::<[u8; 16]>(), parent in any::<[u8; 8]>(), flags in any::<u8>()) {
            prop_assume!(trace != [0; 16] && parent != [0; 8]);
            let tp = TraceParent { version: 0, trace_id: trace, parent_id: parent, flags };
            let text = tp.encode();
            prop_assert_eq!(TraceParent::parse(&text), Some(tp));
            let id = trace_id(&text).unwrap();
            prop_assert_eq!(id.as_bytes(), &text[3..35]);
            prop_assert_eq!(TraceParent::parse(&text).unwrap().encode(), text);
        }

        /// An all-zero id never parses, whatever the rest.
        #[test]
        fn zero_ids_never_parse(trace in any::<[u8; 16]>(), flags in any::<u8>()) {
            let tp = TraceParent { version: 0, trace_id: trace, parent_id: [0; 8], flags };
            prop_assert_eq!(TraceParent::parse(&tp.encode()), None);
            let tp = TraceParent { version: 0, trace_id: [0; 16], parent_id: [1; 8], flags };
            prop_assert_eq!(TraceParent::parse(&tp.encode()), None);
        }
    }

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
