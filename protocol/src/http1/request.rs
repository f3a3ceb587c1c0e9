//! The request head parser: httparse tokenizes, this file enforces limits, line endings and
//! the RFC 9112 rules httparse leaves to its caller, then builds a [`RequestHead`].

use std::mem::MaybeUninit;

use httparse::{Header, ParserConfig};

use super::chars::is_ws;
use super::error::Error;
use super::head::{Framing, Method, RequestHead, Version};
use super::headers::{FieldIdx, Known, parse_content_length};
use super::limits::{Limits, MAX_HEADERS_CAP};
use super::target::{self, Target};

/// The outcome of a parse step that did not fail: the value, or "send more bytes".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// The value is complete.
    Complete(T),
    /// The input ends before the value does; call again with more bytes (the same prefix).
    Partial,
}

/// A reusable request head parser. One per connection: it owns the header index, so parsing
/// allocates nothing after [`Parser::new`].
#[derive(Debug, Clone)]
pub struct Parser {
    limits: Limits,
    fields: Vec<FieldIdx>,
}

/// What tokenizing found, before the semantic checks.
struct Tokens<'a> {
    len: usize,
    method: &'a str,
    target: &'a str,
    version: Version,
    line_len: usize,
    known: Known<'a>,
}

impl Parser {
    /// A parser enforcing `limits` (as [`Limits::effective`] adjusts them).
    pub fn new(limits: Limits) -> Self {
        let limits = limits.effective();
        Parser {
            fields: Vec::with_capacity(limits.max_headers),
            limits,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Parses the request head at the start of `buf`.
    ///
    /// `Complete(head)`: `head.len()` bytes form the head; the body or the next pipelined
    /// request starts right after. `Partial`: no error so far, read more and call again with
    /// the same bytes first. A `Partial` that already breaks a limit is an error instead
    /// (414 for a request line with no end in sight, 431 for a head past `max_head`), so the
    /// caller's buffer never needs to grow past `max_head`.
    ///
    /// Errors are reported at the first byte that proves them, so the result never depends on
    /// how the bytes were split across reads.
    pub fn parse<'a>(&'a mut self, buf: &'a [u8]) -> Result<Status<RequestHead<'a>>, Error> {
        let lim = self.limits;
        let window = &buf[..buf.len().min(lim.max_head)];
        let tokens = match tokenize(window, lim.max_headers, &mut self.fields) {
            Ok(Status::Complete(t)) if t.line_len > lim.max_request_line => {
                return Err(Error::RequestLineTooLong);
            }
            Ok(Status::Complete(t)) => t,
            Ok(Status::Partial) => {
                let line_cut = line_cut(buf, lim.max_request_line);
                let head_cut = (buf.len() > lim.max_head).then_some(lim.max_head + 1);
                return match (line_cut, head_cut) {
                    (Some(l), Some(h)) if h < l => Err(Error::HeadTooLarge),
                    (Some(_), _) => Err(Error::RequestLineTooLong),
                    (None, Some(_)) => Err(Error::HeadTooLarge),
                    (None, None) => Ok(Status::Partial),
                };
            }
            Err(e) => {
                // Both an error and an over-long line: report whichever a byte-by-byte reader
                // would have met first.
                return match line_cut(buf, lim.max_request_line) {
                    Some(cut) if cut <= window.len() => {
                        match tokenize(&buf[..cut], lim.max_headers, &mut self.fields) {
                            Err(first) => Err(first),
                            Ok(_) => Err(Error::RequestLineTooLong),
                        }
                    }
                    _ => Err(e),
                };
            }
        };
        semantics(tokens, buf, &self.fields, &lim).map(Status::Complete)
    }
}

/// When the request line is provably longer than `max_line`, the number of bytes that prove
/// it (so `buf[..cut]` holds the line's first `max_line + 1` bytes).
fn line_cut(buf: &[u8], max_line: usize) -> Option<usize> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let cut = start.checked_add(max_line)?.checked_add(1)?;
    let line = buf.get(start..cut)?;
    memchr::memchr2(b'\r', b'\n', line).is_none().then_some(cut)
}

fn offset(buf: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize)
}

fn map_error(e: httparse::Error, method_done: bool) -> Error {
    match e {
        httparse::Error::Token if method_done => Error::InvalidTarget,
        httparse::Error::Token => Error::InvalidMethod,
        httparse::Error::HeaderName => Error::InvalidHeaderName,
        httparse::Error::HeaderValue => Error::InvalidHeaderValue,
        httparse::Error::NewLine => Error::InvalidLineEnding,
        httparse::Error::TooManyHeaders => Error::TooManyHeaders,
        httparse::Error::Version | httparse::Error::Status => Error::InvalidVersion,
    }
}

fn tokenize<'a>(
    buf: &'a [u8],
    max_headers: usize,
    fields: &mut Vec<FieldIdx>,
) -> Result<Status<Tokens<'a>>, Error> {
    // Uninitialised slots: httparse writes only what it parses, so a large cap costs nothing.
    let mut slots = [MaybeUninit::<Header<'a>>::uninit(); MAX_HEADERS_CAP];
    let mut req = httparse::Request::new(&mut []);
    let config = ParserConfig::default();
    let slots = &mut slots[..max_headers.min(MAX_HEADERS_CAP)];
    match config.parse_request_with_uninit_headers(&mut req, buf, slots) {
        Ok(httparse::Status::Complete(len)) => {
            let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version)
            else {
                return Err(Error::InvalidVersion);
            };
            let version = if minor == 0 {
                Version::Http10
            } else {
                Version::Http11
            };
            let line = Line {
                start: offset(buf, method.as_bytes()),
                end: offset(buf, target.as_bytes()) + target.len() + 1 + 8,
                method,
                target,
                version,
            };
            finish(buf, len, line, req.headers, fields)
        }
        Ok(httparse::Status::Partial) => Ok(Status::Partial),
        Err(httparse::Error::Version) => {
            odd_version(buf, req.method, req.path, max_headers, fields)
        }
        Err(e) => Err(map_error(e, req.method.is_some())),
    }
}

struct Line<'a> {
    start: usize,
    /// Offset of the line's terminator.
    end: usize,
    method: &'a str,
    target: &'a str,
    version: Version,
}

/// httparse knows only `HTTP/1.0` and `HTTP/1.1`. RFC 9110 §2.5 wants `HTTP/1.x` read as the
/// highest 1.x we implement and RFC 9112 §2.3 a 505 for other majors, so the version error is
/// looked at again here, byte by byte, to keep the verdict independent of read boundaries.
fn odd_version<'a>(
    buf: &'a [u8],
    method: Option<&'a str>,
    target: Option<&'a str>,
    max_headers: usize,
    fields: &mut Vec<FieldIdx>,
) -> Result<Status<Tokens<'a>>, Error> {
    let (Some(method), Some(target)) = (method, target) else {
        return Err(Error::InvalidVersion);
    };
    let at = offset(buf, target.as_bytes()) + target.len() + 1;
    let v = buf.get(at..).unwrap_or_default();
    for (i, &b) in v.iter().take(10).enumerate() {
        let ok = match i {
            0..=4 => b == b"HTTP/"[i],
            5 | 7 => b.is_ascii_digit(),
            6 => b == b'.',
            8 if b == b'\n' => return Err(Error::InvalidLineEnding),
            8 => b == b'\r',
            _ => b == b'\n',
        };
        if !ok {
            return Err(if i == 9 {
                Error::InvalidLineEnding
            } else {
                Error::InvalidVersion
            });
        }
    }
    if v.len() < 10 {
        return Ok(Status::Partial);
    }
    if v[5] != b'1' {
        return Err(Error::UnsupportedVersion);
    }
    let line = Line {
        start: offset(buf, method.as_bytes()),
        end: at + 8,
        method,
        target,
        version: Version::Http11,
    };
    // Rare path: initialised slots are fine here.
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS_CAP];
    let slots = &mut slots[..max_headers.min(MAX_HEADERS_CAP)];
    match httparse::parse_headers(&buf[at + 10..], slots) {
        Ok(httparse::Status::Complete((n, headers))) => {
            finish(buf, at + 10 + n, line, headers, fields)
        }
        Ok(httparse::Status::Partial) => Ok(Status::Partial),
        Err(e) => Err(map_error(e, true)),
    }
}

/// Indexes the fields and checks what httparse lets through: it accepts a bare LF as a line
/// end (RFC 9112 §2.2 allows that leniency; this server refuses it, because a front end that
/// disagrees about line ends is how header smuggling starts).
fn finish<'a>(
    buf: &'a [u8],
    len: usize,
    line: Line<'a>,
    headers: &[Header<'a>],
    fields: &mut Vec<FieldIdx>,
) -> Result<Status<Tokens<'a>>, Error> {
    // Empty lines before the request line (RFC 9112 §2.2) must be CRLFs too.
    if !buf[..line.start.min(buf.len())]
        .chunks(2)
        .all(|pair| pair == b"\r\n")
    {
        return Err(Error::InvalidLineEnding);
    }
    if buf.get(line.end) != Some(&b'\r') {
        return Err(Error::InvalidLineEnding);
    }
    fields.clear();
    let mut known = Known::default();
    for h in headers {
        let name = h.name.as_bytes();
        let at = offset(buf, h.value);
        let mut end = at + h.value.len();
        while buf.get(end).copied().is_some_and(is_ws) {
            end += 1;
        }
        if buf.get(end) != Some(&b'\r') {
            return Err(Error::InvalidLineEnding);
        }
        fields.push(FieldIdx::new(
            offset(buf, name),
            name.len(),
            at,
            h.value.len(),
        ));
        known.add(name, h.value);
    }
    if len < 2 || buf.get(len - 2) != Some(&b'\r') {
        return Err(Error::InvalidLineEnding);
    }
    Ok(Status::Complete(Tokens {
        len,
        method: line.method,
        target: line.target,
        version: line.version,
        line_len: line.end - line.start,
        known,
    }))
}

/// RFC 9112 §6 framing, §3.2 Host and target rules, connection management.
fn semantics<'a>(
    t: Tokens<'a>,
    buf: &'a [u8],
    fields: &'a [FieldIdx],
    lim: &Limits,
) -> Result<RequestHead<'a>, Error> {
    let k = &t.known;
    let framing = if k.te.present {
        if k.content_length.is_some() {
            return Err(Error::ContentLengthWithTransferEncoding);
        }
        if t.version == Version::Http10 {
            return Err(Error::TransferEncodingInHttp10);
        }
        k.te.check()?;
        Framing::Chunked
    } else if let Some(cl) = k.content_length {
        let n = parse_content_length(cl)?;
        if k.cl_conflict {
            return Err(Error::ConflictingContentLength);
        }
        if n > lim.max_body {
            return Err(Error::BodyTooLarge);
        }
        Framing::Length(n)
    } else {
        Framing::None
    };
    if k.host_count > 1 {
        return Err(Error::DuplicateHost);
    }
    if k.host_count == 0 && t.version == Version::Http11 {
        return Err(Error::MissingHost);
    }
    if let Some(h) = k.host {
        target::authority(h, false)?;
    }
    let method = Method::from_token(t.method);
    let target = target::parse(&method, t.target)?;
    let host = match target {
        Target::Absolute { authority, .. } => Some(authority.as_bytes()),
        _ => k.host,
    };
    let http11 = t.version == Version::Http11;
    Ok(RequestHead {
        buf,
        fields,
        len: t.len,
        method,
        raw_target: t.target,
        target,
        version: t.version,
        host,
        framing,
        keep_alive: !k.close && (http11 || k.keep_alive),
        expect_continue: http11 && k.expect_continue,
        upgrade: k.upgrade.filter(|_| http11 && k.conn_upgrade),
    })
}
