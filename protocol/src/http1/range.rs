//! The `Range` request field (RFC 9110 §14.2), single byte ranges only: what a static file
//! server needs to answer 200, 206 or 416. Fuzzed by the `http1_range` target.

use std::ops::Range;

/// What a Range field asks of a representation `len` bytes long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranged {
    /// No usable Range (absent, malformed, not bytes, or several ranges): send it all, 200.
    Full,
    /// One satisfiable range: 206.
    Part(Range<u64>),
    /// A valid range that lies wholly outside the representation: 416.
    Unsatisfiable,
}

/// Interprets `field` for a representation of `len` bytes.
pub fn parse(field: Option<&[u8]>, len: u64) -> Ranged {
    let Some(field) = field.and_then(|f| std::str::from_utf8(f).ok()) else {
        return Ranged::Full;
    };
    let Some(spec) = field.trim().strip_prefix("bytes=") else {
        return Ranged::Full;
    };
    if spec.contains(',') {
        // Multipart range responses are not produced; RFC 9110 lets a server ignore Range.
        return Ranged::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Full;
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match num(suffix) {
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if len == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part(len.saturating_sub(n)..len),
            None => Ranged::Full,
        },
        (a, "") => match num(a) {
            Some(a) if a < len => Ranged::Part(a..len),
            Some(_) => Ranged::Unsatisfiable,
            None => Ranged::Full,
        },
        (a, b) => match (num(a), num(b)) {
            (Some(a), Some(b)) if a > b => Ranged::Full,
            (Some(a), Some(_)) if a >= len => Ranged::Unsatisfiable,
            (Some(a), Some(b)) => Ranged::Part(a..b.min(len - 1) + 1),
            _ => Ranged::Full,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9110_14_1_2_byte_ranges() {
        let p = |s: &str| parse(Some(s.as_bytes()), 1000);
        assert_eq!(p("bytes=0-499"), Ranged::Part(0..500));
        assert_eq!(p("bytes=500-999"), Ranged::Part(500..1000));
        assert_eq!(
            p("bytes=500-5000"),
            Ranged::Part(500..1000),
            "last-pos past the end is clamped"
        );
        assert_eq!(p("bytes=-500"), Ranged::Part(500..1000));
        assert_eq!(p("bytes=-5000"), Ranged::Part(0..1000));
        assert_eq!(p("bytes=9500-"), Ranged::Unsatisfiable);
        assert_eq!(p("bytes=1000-1000"), Ranged::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Ranged::Unsatisfiable);
        assert_eq!(p("bytes=999-"), Ranged::Part(999..1000));
    }

    #[test]
    fn unusable_ranges_mean_the_whole_file() {
        let p = |s: &str| parse(Some(s.as_bytes()), 1000);
        for s in [
            "items=0-1",
            "bytes=5-1",
            "bytes=0-1,5-6",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes 0-1",
            "bytes=-",
        ] {
            assert_eq!(p(s), Ranged::Full, "{s}");
        }
        assert_eq!(parse(None, 10), Ranged::Full);
        assert_eq!(parse(Some(b"bytes=0-0"), 0), Ranged::Unsatisfiable);
    }
}
