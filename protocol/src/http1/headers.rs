//! The header index (offsets into the read buffer) and the fields the parser interprets.

use super::chars::{is_tchar, is_token, list, trim_ows};
use super::error::Error;

/// Where one header field lies in the buffer. Offsets instead of slices so the index can live
/// in the reusable [`super::Parser`] across buffers; `u32` because heads are capped at 4 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldIdx {
    name: u32,
    name_len: u32,
    value: u32,
    value_len: u32,
}

impl FieldIdx {
    pub(crate) fn new(name: usize, name_len: usize, value: usize, value_len: usize) -> Self {
        // Callers index heads no longer than `Limits::effective().max_head <= u32::MAX`.
        let c = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        FieldIdx {
            name: c(name),
            name_len: c(name_len),
            value: c(value),
            value_len: c(value_len),
        }
    }

    /// Whether this field's name is `name` (ASCII case-insensitive), comparing lengths first.
    pub(crate) fn name_is(&self, buf: &[u8], name: &str) -> bool {
        if self.name_len as usize != name.len() {
            return false;
        }
        let n = self.name as usize;
        buf.get(n..n + name.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// This field's value in `buf`.
    pub(crate) fn value_in<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let v = self.value as usize;
        buf.get(v..v + self.value_len as usize).unwrap_or_default()
    }

    fn resolve<'a>(&self, buf: &'a [u8]) -> Field<'a> {
        let (n, v) = (self.name as usize, self.value as usize);
        let name = buf.get(n..n + self.name_len as usize).unwrap_or_default();
        Field {
            // Names were checked to be tokens (ASCII) before they were indexed.
            name: std::str::from_utf8(name).unwrap_or_default(),
            value: buf.get(v..v + self.value_len as usize).unwrap_or_default(),
        }
    }
}

/// One header field: a name as sent (case preserved) and its value without surrounding
/// whitespace. Both borrow the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field name, a token. Compare it case-insensitively.
    pub name: &'a str,
    /// The field value, OWS trimmed. May hold obs-text (bytes >= 0x80), so it is bytes.
    pub value: &'a [u8],
}

/// Iterator over the header fields of a request, in the order they were sent.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    buf: &'a [u8],
    iter: std::slice::Iter<'a, FieldIdx>,
}

impl<'a> Headers<'a> {
    pub(crate) fn new(buf: &'a [u8], fields: &'a [FieldIdx]) -> Self {
        Headers {
            buf,
            iter: fields.iter(),
        }
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        self.iter.next().map(|f| f.resolve(self.buf))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl ExactSizeIterator for Headers<'_> {}

/// What the parser learns from the fields it interprets, gathered in the one pass that builds
/// the index so no field is scanned twice.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Known<'a> {
    pub(crate) host: Option<&'a [u8]>,
    pub(crate) host_count: u32,
    pub(crate) content_length: Option<&'a [u8]>,
    pub(crate) cl_conflict: bool,
    pub(crate) te: TeState,
    pub(crate) close: bool,
    pub(crate) keep_alive: bool,
    pub(crate) conn_upgrade: bool,
    pub(crate) expect_continue: bool,
    pub(crate) upgrade: Option<&'a [u8]>,
}

/// Transfer-Encoding, folded over every element of every field in order (RFC 9112 §6.1).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TeState {
    pub(crate) present: bool,
    any_coding: bool,
    chunked_last: bool,
    unknown: bool,
    invalid: bool,
}

impl TeState {
    fn add_field(&mut self, value: &[u8]) {
        self.present = true;
        for element in list(value) {
            self.any_coding = true;
            let (name, params) = match memchr::memchr(b';', element) {
                Some(i) => (trim_ows(&element[..i]), Some(&element[i + 1..])),
                None => (element, None),
            };
            if !is_token(name) {
                self.invalid = true;
            } else if name.eq_ignore_ascii_case(b"chunked") {
                // chunked takes no parameters, and applying it twice is forbidden (§6.1).
                if params.is_some() || self.chunked_last {
                    self.invalid = true;
                }
                self.chunked_last = true;
            } else {
                if self.chunked_last {
                    // A coding after chunked: chunked is not final (§6.3 rule 4).
                    self.invalid = true;
                }
                self.chunked_last = false;
                self.unknown = true;
                if params.is_some_and(|p| !params_ok(p)) {
                    self.invalid = true;
                }
            }
        }
    }

    /// Ok when the body is chunked; the error otherwise. Only meaningful when `present`.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.invalid || !self.any_coding || !self.chunked_last {
            Err(Error::InvalidTransferEncoding)
        } else if self.unknown {
            Err(Error::UnsupportedTransferCoding)
        } else {
            Ok(())
        }
    }
}

/// `*( OWS ";" OWS token "=" ( token / quoted-string ) )` after the first `;` was consumed.
fn params_ok(params: &[u8]) -> bool {
    params.split(|&b| b == b';').all(|p| {
        let p = trim_ows(p);
        match memchr::memchr(b'=', p) {
            Some(i) => {
                let (k, v) = (&p[..i], &p[i + 1..]);
                is_token(k) && (is_token(v) || is_quoted(v))
            }
            None => false,
        }
    })
}

fn is_quoted(v: &[u8]) -> bool {
    let [b'"', inner @ .., b'"'] = v else {
        return false;
    };
    let mut escaped = false;
    for &b in inner {
        if escaped {
            if !super::chars::is_escapable(b) {
                return false;
            }
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if !super::chars::is_qdtext(b) {
            return false;
        }
    }
    !escaped
}

impl<'a> Known<'a> {
    /// Folds one field in. Names are matched by length first, so most fields cost one compare.
    #[inline]
    pub(crate) fn add(&mut self, name: &[u8], value: &'a [u8]) {
        let is = |k: &[u8]| name.eq_ignore_ascii_case(k);
        match name.len() {
            4 if is(b"host") => {
                self.host_count += 1;
                self.host.get_or_insert(value);
            }
            14 if is(b"content-length") => match self.content_length {
                Some(first) => self.cl_conflict |= first != value,
                None => self.content_length = Some(value),
            },
            17 if is(b"transfer-encoding") => self.te.add_field(value),
            10 if is(b"connection") => {
                for token in list(value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        self.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        self.keep_alive = true;
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        self.conn_upgrade = true;
                    }
                }
            }
            6 if is(b"expect") => {
                self.expect_continue |= list(value).any(|e| e.eq_ignore_ascii_case(b"100-continue"))
            }
            7 if is(b"upgrade") && self.upgrade.is_none() => self.upgrade = list(value).next(),
            _ => {}
        }
    }
}

/// `1*DIGIT` into a u64, refusing signs, spaces, lists and overflow (RFC 9110 §8.6).
pub(crate) fn parse_content_length(v: &[u8]) -> Result<u64, Error> {
    if v.is_empty() {
        return Err(Error::InvalidContentLength);
    }
    v.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return Err(Error::InvalidContentLength);
        }
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u64::from(b - b'0')))
            .ok_or(Error::InvalidContentLength)
    })
}

/// An Upgrade element is `protocol-name ["/" protocol-version]`, both tokens (RFC 9110 §7.8).
pub(crate) fn upgrade_token(v: &[u8]) -> Option<&str> {
    let ok = match memchr::memchr(b'/', v) {
        Some(i) => is_token(&v[..i]) && is_token(&v[i + 1..]),
        None => is_token(v),
    };
    if ok && v.iter().all(|&b| is_tchar(b) || b == b'/') {
        std::str::from_utf8(v).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn te(values: &[&str]) -> Result<(), Error> {
        let mut k = Known::default();
        for v in values {
            k.add(b"Transfer-Encoding", v.as_bytes());
        }
        assert!(k.te.present);
        k.te.check()
    }

    #[test]
    fn te_chunked_must_be_final_and_single() {
        assert_eq!(te(&["chunked"]), Ok(()));
        assert_eq!(te(&["CHUNKED"]), Ok(()));
        assert_eq!(
            te(&["gzip", "chunked"]),
            Err(Error::UnsupportedTransferCoding)
        );
        assert_eq!(
            te(&["gzip;q=1, chunked"]),
            Err(Error::UnsupportedTransferCoding)
        );
        assert_eq!(te(&["chunked, gzip"]), Err(Error::InvalidTransferEncoding));
        assert_eq!(
            te(&["chunked", "chunked"]),
            Err(Error::InvalidTransferEncoding)
        );
        assert_eq!(te(&["gzip"]), Err(Error::InvalidTransferEncoding));
        assert_eq!(te(&[""]), Err(Error::InvalidTransferEncoding));
        assert_eq!(te(&["chunked;x=1"]), Err(Error::InvalidTransferEncoding));
        assert_eq!(te(&["chu nked"]), Err(Error::InvalidTransferEncoding));
        assert_eq!(
            te(&["gzip;=x, chunked"]),
            Err(Error::InvalidTransferEncoding)
        );
        assert_eq!(
            te(&["x;a=\"q\\\"\", chunked"]),
            Err(Error::UnsupportedTransferCoding)
        );
    }

    #[test]
    fn content_length_is_plain_digits() {
        assert_eq!(parse_content_length(b"0"), Ok(0));
        assert_eq!(parse_content_length(b"007"), Ok(7));
        assert_eq!(parse_content_length(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b"1 2",
            b"1,1",
            b"0x10",
            b"18446744073709551616",
        ] {
            assert_eq!(parse_content_length(bad), Err(Error::InvalidContentLength));
        }
    }

    #[test]
    fn upgrade_token_shape() {
        assert_eq!(upgrade_token(b"ringwire/1"), Some("ringwire/1"));
        assert_eq!(upgrade_token(b"websocket"), Some("websocket"));
        assert_eq!(upgrade_token(b"a/"), None);
        assert_eq!(upgrade_token(b"a/b/c"), None);
        assert_eq!(upgrade_token(b"a b"), None);
    }

    #[test]
    fn known_reads_connection_tokens_case_insensitively() {
        let mut k = Known::default();
        k.add(b"CONNECTION", b"Keep-Alive, Upgrade");
        k.add(b"connection", b"CLOSE");
        assert!(k.keep_alive && k.conn_upgrade && k.close);
    }
}
