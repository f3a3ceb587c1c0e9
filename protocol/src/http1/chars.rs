//! Byte classes from RFC 9110 and RFC 3986, as lookup tables.
//!
//! Tables instead of `match` chains because the hot loops (header names, paths) test one byte
//! per iteration and a single indexed load is the cheapest predicate there is.

const fn table(ranges: &[(u8, u8)], singles: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < ranges.len() {
        let (lo, hi) = ranges[i];
        let mut b = lo as usize;
        while b <= hi as usize {
            t[b] = true;
            b += 1;
        }
        i += 1;
    }
    let mut j = 0;
    while j < singles.len() {
        t[singles[j] as usize] = true;
        j += 1;
    }
    t
}

const ALNUM: [(u8, u8); 3] = [(b'a', b'z'), (b'A', b'Z'), (b'0', b'9')];

/// RFC 9110 §5.6.2 `tchar`.
static TCHAR: [bool; 256] = table(&ALNUM, b"!#$%&'*+-.^_`|~");

/// RFC 3986 `pchar` plus `/`, with `%` admitted so pct-encoding is checked separately.
static PATH: [bool; 256] = table(&ALNUM, b"-._~!$&'()*+,;=:@/%");

/// RFC 3986 `reg-name` characters (unreserved, sub-delims, and `%` for pct-encoding).
static REG_NAME: [bool; 256] = table(&ALNUM, b"-._~!$&'()*+,;=%");

/// Inside an IP-literal: IPv6 hex digits and separators, or the IPvFuture alphabet.
static IP_LITERAL: [bool; 256] = table(&ALNUM, b"-._~!$&'()*+,;=:");

/// RFC 9110 §5.5 field content: HTAB, SP, VCHAR, obs-text. No CR, LF, NUL or other controls.
static FIELD: [bool; 256] = table(&[(0x20, 0x7e), (0x80, 0xff)], b"\t");

/// RFC 9110 §5.6.4 `qdtext`.
static QDTEXT: [bool; 256] = table(&[(0x23, 0x5b), (0x5d, 0x7e), (0x80, 0xff)], b"\t !");

#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

#[inline]
pub(crate) fn is_path(b: u8) -> bool {
    PATH[b as usize]
}

#[inline]
pub(crate) fn is_reg_name(b: u8) -> bool {
    REG_NAME[b as usize]
}

#[inline]
pub(crate) fn is_ip_literal(b: u8) -> bool {
    IP_LITERAL[b as usize]
}

#[inline]
pub(crate) fn is_field(b: u8) -> bool {
    FIELD[b as usize]
}

#[inline]
pub(crate) fn is_qdtext(b: u8) -> bool {
    QDTEXT[b as usize]
}

/// The quoted-pair escapee: HTAB, SP, VCHAR, obs-text.
#[inline]
pub(crate) fn is_escapable(b: u8) -> bool {
    FIELD[b as usize]
}

#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline]
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ws(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ws(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Every `%` must introduce two hex digits (RFC 3986 §2.1).
pub(crate) fn pct_ok(s: &[u8]) -> bool {
    let mut rest = s;
    while let Some(i) = memchr::memchr(b'%', rest) {
        match rest.get(i + 1..i + 3) {
            Some(&[a, b]) if hex_val(a).is_some() && hex_val(b).is_some() => rest = &rest[i + 3..],
            _ => return false,
        }
    }
    true
}

/// The non-empty elements of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed.
///
/// Empty elements are skipped as §5.6.1.2 requires. Quoted strings are not special-cased: the
/// fields this crate reads as lists (Connection, Transfer-Encoding, Upgrade, Expect) carry
/// tokens, and a quoted comma in a transfer-coding parameter makes that coding invalid, which
/// is the safe direction to be wrong in.
pub(crate) fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tchar_excludes_delimiters_and_controls() {
        for b in b"\"(),/:;<=>?@[\\]{} \t\r\n\0\x7f" {
            assert!(!is_tchar(*b), "{b:#x}");
        }
        for b in b"azAZ09!#$%&'*+-.^_`|~" {
            assert!(is_tchar(*b), "{b:#x}");
        }
    }

    #[test]
    fn field_rejects_controls_but_keeps_obs_text() {
        assert!(!is_field(0) && !is_field(b'\r') && !is_field(b'\n') && !is_field(0x7f));
        assert!(is_field(b'\t') && is_field(b' ') && is_field(0x80) && is_field(0xff));
    }

    #[test]
    fn pct_encoding_needs_two_hex_digits() {
        assert!(pct_ok(b"/a%20b%aF"));
        assert!(!pct_ok(b"/a%2"));
        assert!(!pct_ok(b"/a%zz"));
        assert!(!pct_ok(b"%"));
    }

    #[test]
    fn list_skips_empty_elements_and_trims() {
        let v: Vec<&[u8]> = list(b" , close ,\tkeep-alive,, ").collect();
        assert_eq!(v, [&b"close"[..], b"keep-alive"]);
    }

    #[test]
    fn trim_ows_only_trims_sp_and_htab() {
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"\r a"), b"\r a");
        assert_eq!(trim_ows(b"  "), b"");
    }
}
