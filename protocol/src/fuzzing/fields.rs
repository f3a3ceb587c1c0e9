//! Fuzz entry points for the request fields a server interprets: `Range`, the static-file
//! path, and `traceparent`. Each checks its parser against an independent statement of the
//! rule (a reference model or a round trip), not only that it does not panic.

use crate::http1::path::{self, Refused};
use crate::http1::range::{self, Ranged};
use crate::http1::{TraceParent, trace_id};
use std::path::Component;

/// Target `http1_range`: the first 2 bytes pick the representation length (small lengths and
/// the edges of u64 are where off-by-ones live), the rest is the field value.
///
/// Invariants: never panics; a part is non-empty and lies inside the representation; the
/// verdict matches a reference reading of RFC 9110 §14.1.2; a part, written back as
/// `bytes=first-last`, parses to itself.
pub fn http1_range(data: &[u8]) {
    let (len, field) = match data {
        [a, b, rest @ ..] => (range_len(*a, *b), rest),
        _ => (0, data),
    };
    let got = range::parse(Some(field), len);
    assert_eq!(got, range::parse(Some(field), len), "deterministic");
    assert_eq!(range::parse(None, len), Ranged::Full);
    assert_eq!(
        got,
        range_model(field, len),
        "{:?} of {len}",
        field.escape_ascii().to_string()
    );
    if let Ranged::Part(r) = &got {
        assert!(r.start < r.end && r.end <= len, "{r:?} of {len}");
        let again = format!("bytes={}-{}", r.start, r.end - 1);
        assert_eq!(range::parse(Some(again.as_bytes()), len), got);
    }
}

fn range_len(a: u8, b: u8) -> u64 {
    match a {
        0..=63 => u64::from(b), // 0..=255
        64..=127 => u64::from(b) << 12,
        128..=191 => u64::MAX - u64::from(b),
        _ => (u64::from(a) << 56) | u64::from(b),
    }
}

/// RFC 9110 §14.1.2 for one byte range, written independently of the parser: first-pos and
/// last-pos are 1*DIGIT, a suffix range is `-N`, OWS around the range and around `-` is
/// tolerated, several ranges or another unit mean "ignore the field".
fn range_model(field: &[u8], len: u64) -> Ranged {
    let Ok(s) = std::str::from_utf8(field) else {
        return Ranged::Full;
    };
    let s = s.trim();
    if !s.starts_with("bytes=") || s.contains(',') {
        return Ranged::Full;
    }
    let spec = s["bytes=".len()..].trim();
    let Some(dash) = spec.find('-') else {
        return Ranged::Full;
    };
    let digits = |t: &str| -> Option<Option<u64>> {
        // None: malformed; Some(None): empty; Some(Some(n)): a number that fits.
        let t = t.trim();
        if t.is_empty() {
            Some(None)
        } else if t.bytes().all(|b| b.is_ascii_digit()) {
            t.parse().ok().map(Some)
        } else {
            None
        }
    };
    let (Some(first), Some(last)) = (digits(&spec[..dash]), digits(&spec[dash + 1..])) else {
        return Ranged::Full;
    };
    match (first, last) {
        (None, None) => Ranged::Full,
        (None, Some(0)) => Ranged::Unsatisfiable,
        (None, Some(_)) if len == 0 => Ranged::Unsatisfiable,
        (None, Some(n)) => Ranged::Part(len - n.min(len)..len),
        (Some(a), None) if a < len => Ranged::Part(a..len),
        (Some(_), None) => Ranged::Unsatisfiable,
        (Some(a), Some(b)) if a > b => Ranged::Full,
        (Some(a), Some(_)) if a >= len => Ranged::Unsatisfiable,
        (Some(a), Some(b)) => Ranged::Part(a..b.min(len - 1) + 1),
    }
}

/// Target `http1_static_path`: the bytes (as UTF-8, lossily) are the path after the static
/// prefix.
///
/// Invariants: never panics; an accepted path has only normal components, none hidden, none
/// with NUL or backslash, one per input segment; re-encoding every byte of it as `%XX` and
/// decoding again gives the same path; a refusal does not depend on how a safe byte is
/// written (`a` or `%61`).
pub fn http1_static_path(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let got = path::resolve(&raw);
    match &got {
        Ok(p) => {
            let parts: Vec<&str> = p
                .components()
                .map(|c| match c {
                    Component::Normal(s) => s.to_str().expect("decoded from UTF-8"),
                    other => panic!("{raw:?} gave {other:?}"),
                })
                .collect();
            assert_eq!(parts.len(), raw.split('/').count(), "{raw:?} -> {p:?}");
            for part in &parts {
                assert!(
                    !part.is_empty() && !part.starts_with('.'),
                    "{raw:?} -> {p:?}"
                );
                assert!(!part.contains(['\0', '\\', '/']), "{raw:?} -> {p:?}");
            }
            let encoded: Vec<String> = parts
                .iter()
                .map(|part| part.bytes().map(|b| format!("%{b:02X}")).collect())
                .collect();
            assert_eq!(path::resolve(&encoded.join("/")).as_ref(), Ok(p));
        }
        Err(Refused::Hidden) => {}
        Err(Refused::Malformed(why)) => assert!(!why.is_empty()),
    }
    // Writing one plain letter as an escape changes nothing.
    if let Some(at) = plain_alphanumeric(&raw) {
        let c = raw.as_bytes()[at];
        let escaped = format!("{}%{c:02x}{}", &raw[..at], &raw[at + 1..]);
        assert_eq!(path::resolve(&escaped), got, "{raw:?} vs {escaped:?}");
    }
}

/// The first ASCII letter or digit that is not part of a percent-escape (as the decoder reads
/// escapes: `%` and up to two more bytes of the same segment).
fn plain_alphanumeric(raw: &str) -> Option<usize> {
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                i += 1;
                for _ in 0..2 {
                    if i < b.len() && b[i] != b'/' {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_alphanumeric() => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Target `http1_traceparent`: the bytes are the field value.
///
/// Invariants: never panics; the verdict matches a reference reading of W3C Trace Context
/// level 1 (split on `-`); an id found is 32 lowercase hex digits, not all zero, and a slice
/// of the input; surrounding spaces and tabs do not change the verdict; [`TraceParent::parse`]
/// agrees with it, and its encoding parses back to the same ids and flags.
pub fn http1_traceparent(data: &[u8]) {
    let got = trace_id(data);
    assert_eq!(got, trace_model(data), "{}", data.escape_ascii());
    if let Some(id) = got {
        assert!(id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        assert!(id.bytes().any(|b| b != b'0'));
        let (start, end) = (data.as_ptr() as usize, data.as_ptr() as usize + data.len());
        assert!(id.as_ptr() as usize >= start && id.as_ptr() as usize + 32 <= end);
    }
    let mut padded = b" \t".to_vec();
    padded.extend_from_slice(data);
    padded.extend_from_slice(b"\t ");
    assert_eq!(trace_id(&padded), got);
    // The full parse accepts exactly what `trace_id` accepts, and what it encodes (version
    // 00) parses back to the same ids and flags.
    let parsed = TraceParent::parse(data);
    assert_eq!(parsed.is_some(), got.is_some());
    if let Some(tp) = parsed {
        let text = tp.encode();
        assert_eq!(trace_id(&text), got);
        let back = TraceParent::parse(&text).expect("an encoded traceparent parses");
        assert_eq!(back, TraceParent { version: 0, ..tp });
    }
}

fn trace_model(data: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(data).ok()?.trim_matches([' ', '\t']);
    let lower_hex = |t: &str, n: usize| {
        t.len() == n && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let zero = |t: &str| t.bytes().all(|b| b == b'0');
    let mut parts = s.splitn(5, '-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let rest = parts.next();
    let ok = lower_hex(version, 2)
        && version != "ff"
        && lower_hex(trace, 32)
        && !zero(trace)
        && lower_hex(parent, 16)
        && !zero(parent)
        && lower_hex(flags, 2)
        && (version != "00" || rest.is_none());
    ok.then_some(trace)
}
