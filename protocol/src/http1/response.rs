//! The response head encoder and chunk framing helpers.
//!
//! The encoder writes the head into the caller's buffer; the body goes out separately (one
//! vectored write of head and body), so the encoder only decides how the body is framed and
//! tells the caller what to send.

use super::chars::{is_field, is_token};
use super::date::HTTP_DATE_LEN;
use super::error::Error;
use super::head::{Reply, Version};

/// The interim response to `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The CRLF that ends every chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk and the empty trailer section: ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The body the handler has, as far as framing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// Exactly this many bytes (0 for an empty body).
    Length(u64),
    /// A body of unknown length, sent in chunks.
    Chunked,
}

/// What the caller must send after the head, as decided by [`Response::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendBody {
    /// Nothing: HEAD request, or a 1xx, 204 or 304 status.
    Nothing,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunks framed with [`ChunkHeader`] / [`CHUNK_END`], then [`LAST_CHUNK`].
    Chunked,
    /// Raw bytes, then close the connection: an HTTP/1.0 client cannot read chunks.
    UntilClose,
}

/// What the encoder decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    /// How to send the body.
    pub body: SendBody,
    /// Whether the connection stays open after the body (after a 101: in the new protocol).
    pub keep_alive: bool,
}

/// A response head to encode.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    /// Status code: 200..=999, or 101 with an `Upgrade` field.
    pub status: u16,
    /// Reason phrase; `None` uses the standard one for the status (or none if unknown).
    pub reason: Option<&'a str>,
    /// How long the body is.
    pub body: ResponseBody,
    /// Extra fields, written in order. Content-Length, Transfer-Encoding, Connection and Date
    /// are refused: the encoder writes those itself. `Server` only when [`Response::server`]
    /// is `None`.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The current IMF-fixdate, from [`super::http_date`], cached by the caller.
    pub date: &'a [u8; HTTP_DATE_LEN],
    /// The Server field value, if any.
    pub server: Option<&'a str>,
}

impl<'a> Response<'a> {
    /// A response with no extra headers, the standard reason phrase and no Server field.
    pub fn new(status: u16, body: ResponseBody, date: &'a [u8; HTTP_DATE_LEN]) -> Self {
        Response {
            status,
            reason: None,
            body,
            headers: &[],
            date,
            server: None,
        }
    }

    /// Appends the head to `out` and says how to send the body.
    ///
    /// Framing follows RFC 9112 §6: no Content-Length or Transfer-Encoding on 1xx and 204 (nor
    /// on 304, which describes a body sent elsewhere); HEAD gets the same fields as GET but no
    /// body. Connection management follows the request: `Connection: close` when the
    /// connection will close, `Connection: keep-alive` for a persistent HTTP/1.0 connection.
    /// A 101 gets `Connection: upgrade`; the handler supplies the `Upgrade` field.
    ///
    /// Refused with [`Error::InvalidResponse`], and nothing appended: a status outside
    /// 200..=999 other than a 101 that carries `Upgrade` (an interim 1xx is not a final
    /// response; send [`CONTINUE_100`] for 100), a 205 with a body or a chunked one (RFC 9110
    /// §15.3.6), a second `Server` field (one from [`Response::server`] and one from the
    /// handler, or two from the handler), a field the encoder writes itself, or a name or
    /// value that is not valid on the wire.
    pub fn encode(&self, reply: Reply, out: &mut Vec<u8>) -> Result<Encoded, Error> {
        self.validate()?;
        let status = self.status;
        let http10 = reply.version == Version::Http10;
        let bodiless = status < 200 || status == 204 || status == 304;
        let mut keep_alive = reply.keep_alive;
        let (framing, body) = match self.body {
            _ if bodiless => (None, SendBody::Nothing),
            ResponseBody::Length(n) => (Some(self.body), SendBody::Length(n)),
            ResponseBody::Chunked if http10 => {
                keep_alive = false;
                (None, SendBody::UntilClose)
            }
            ResponseBody::Chunked => (Some(self.body), SendBody::Chunked),
        };
        let body = if reply.head_request {
            SendBody::Nothing
        } else {
            body
        };

        out.reserve(
            128 + self
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 4)
                .sum::<usize>(),
        );
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(&[
            b'0' + (status / 100) as u8,
            b'0' + (status / 10 % 10) as u8,
            b'0' + (status % 10) as u8,
            b' ',
        ]);
        out.extend_from_slice(self.reason.unwrap_or_else(|| reason(status)).as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(server) = self.server {
            field(out, b"Server: ", server.as_bytes());
        }
        field(out, b"Date: ", self.date);
        for (name, value) in self.headers {
            out.extend_from_slice(name.as_bytes());
            field(out, b": ", value);
        }
        match framing {
            Some(ResponseBody::Length(n)) => {
                field(out, b"Content-Length: ", Decimal::new(n).as_bytes())
            }
            Some(ResponseBody::Chunked) => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            None => {}
        }
        if status == 101 {
            keep_alive = true;
            out.extend_from_slice(b"Connection: upgrade\r\n");
        } else if status >= 200 {
            if !keep_alive {
                out.extend_from_slice(b"Connection: close\r\n");
            } else if http10 {
                out.extend_from_slice(b"Connection: keep-alive\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        Ok(Encoded { body, keep_alive })
    }

    fn validate(&self) -> Result<(), Error> {
        let text_ok = |s: &[u8]| s.iter().all(|&b| is_field(b));
        let reserved = ["content-length", "transfer-encoding", "connection", "date"];
        let named = |n: &'static str| {
            self.headers
                .iter()
                .filter(move |(name, _)| name.eq_ignore_ascii_case(n))
        };
        let status_ok = match self.status {
            // Interim responses (100, 103, …) never end an exchange: 100 Continue has its own
            // constant, and a 1xx encoded here would be taken for the final response.
            101 => named("upgrade").next().is_some(), // RFC 9110 §15.2.2: MUST send Upgrade
            100..=199 => false,
            // RFC 9110 §15.3.6: a 205 has no content; only an empty Content-Length body fits.
            205 => self.body == ResponseBody::Length(0),
            200..=999 => true,
            _ => false,
        };
        // Server is a single product list (RFC 9110 §10.2.4): one field, set by the server or
        // by the handler, not both.
        let servers = usize::from(self.server.is_some()) + named("server").count();
        let ok = status_ok
            && servers <= 1
            && self.reason.is_none_or(|r| text_ok(r.as_bytes()))
            && self.server.is_none_or(|s| text_ok(s.as_bytes()))
            && text_ok(self.date)
            && self.headers.iter().all(|(name, value)| {
                is_token(name.as_bytes())
                    && text_ok(value)
                    && !reserved.iter().any(|r| name.eq_ignore_ascii_case(r))
            });
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidResponse)
        }
    }
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends a complete response for a rejected request: status line, Date, Server, a short
/// plain-text body saying what was wrong, Content-Length, and `Connection: close` when
/// [`Error::must_close`] says so. Returns whether the connection may stay open.
pub fn encode_error(
    out: &mut Vec<u8>,
    err: &Error,
    date: &[u8; HTTP_DATE_LEN],
    server: Option<&str>,
) -> bool {
    let message = err.to_string();
    let keep_alive = !err.must_close();
    // The date is the one input not checked by construction; a bad one is swapped for the
    // epoch rather than losing the error response.
    let fallback = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    let date = if date.iter().all(|&b| is_field(b)) {
        date
    } else {
        &fallback
    };
    let response = Response {
        status: err.status(),
        reason: None,
        body: ResponseBody::Length(message.len() as u64 + 1),
        headers: &[("Content-Type", b"text/plain; charset=utf-8")],
        date,
        server: server.filter(|s| s.bytes().all(is_field)),
    };
    let reply = Reply {
        version: Version::Http11,
        keep_alive,
        head_request: false,
    };
    if response.encode(reply, out).is_ok() {
        out.extend_from_slice(message.as_bytes());
        out.push(b'\n');
    }
    keep_alive
}

/// A chunk-size line (`<hex>\r\n`) on the stack, for a vectored write next to the data.
#[derive(Debug, Clone, Copy)]
pub struct ChunkHeader {
    buf: [u8; 18],
    start: u8,
}

impl ChunkHeader {
    /// The line announcing `len` data bytes. A zero length is the last chunk: send
    /// [`LAST_CHUNK`] instead, which also ends the trailer section.
    pub fn new(len: u64) -> Self {
        let mut buf = [0u8; 18];
        buf[16] = b'\r';
        buf[17] = b'\n';
        let mut i = 16;
        let mut v = len;
        loop {
            i -= 1;
            buf[i] = b"0123456789abcdef"[(v & 0xf) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        ChunkHeader {
            buf,
            start: i as u8,
        }
    }

    /// The line's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start as usize..]
    }
}

impl AsRef<[u8]> for ChunkHeader {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Appends the chunk-size line for `len` data bytes.
pub fn encode_chunk_header(out: &mut Vec<u8>, len: u64) {
    out.extend_from_slice(ChunkHeader::new(len).as_bytes());
}

/// A u64 in decimal, on the stack.
struct Decimal {
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    fn new(mut v: u64) -> Self {
        let mut buf = [0u8; 20];
        let mut i = 20;
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        Decimal { buf, start: i }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// The standard reason phrase for `status` (RFC 9110 §15), or `""` for codes it does not name.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
