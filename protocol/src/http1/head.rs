//! The parsed request head: borrowed views into the read buffer plus the decisions the
//! parser already took (framing, keep-alive, upgrade).

use super::headers::{FieldIdx, Headers, upgrade_token};
use super::target::Target;

/// A request method. Methods are case-sensitive (RFC 9110 §9.1): `get` is an extension method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method<'a> {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// CONNECT
    Connect,
    /// OPTIONS
    Options,
    /// TRACE
    Trace,
    /// PATCH (RFC 5789)
    Patch,
    /// Any other token.
    Extension(&'a str),
}

impl<'a> Method<'a> {
    pub(crate) fn from_token(s: &'a str) -> Self {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "CONNECT" => Method::Connect,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "PATCH" => Method::Patch,
            other => Method::Extension(other),
        }
    }

    /// The method as sent.
    pub fn as_str(&self) -> &'a str {
        match *self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Extension(s) => s,
        }
    }
}

/// The protocol version of a request. `HTTP/1.2` to `HTTP/1.9` are read as 1.1, as RFC 9110
/// §2.5 asks of a recipient of a higher minor version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// No Content-Length and no Transfer-Encoding: the body is empty.
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// A chunked body follows the head.
    Chunked,
}

/// What the response encoder needs to know about the request it answers.
///
/// The server may clear `keep_alive` (when draining, say); it must never set it on a request
/// that did not ask for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The request's version: decides between `Connection: keep-alive` and nothing, and
    /// whether a chunked body is possible.
    pub version: Version,
    /// Whether the connection may stay open after this response.
    pub keep_alive: bool,
    /// The request was HEAD: the response head describes a body that is not sent.
    pub head_request: bool,
}

/// A complete, validated request head. Everything borrows the buffer given to
/// [`super::Parser::parse`]; the type is `Copy` and owns no heap memory.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) fields: &'a [FieldIdx],
    pub(crate) len: usize,
    pub(crate) method: Method<'a>,
    pub(crate) raw_target: &'a str,
    pub(crate) target: Target<'a>,
    pub(crate) version: Version,
    /// Validated as an authority (ASCII) but kept as bytes: the `str` check runs only if asked.
    pub(crate) host: Option<&'a [u8]>,
    pub(crate) framing: Framing,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    /// The first Upgrade element, present only on HTTP/1.1 with `Connection: upgrade`.
    pub(crate) upgrade: Option<&'a [u8]>,
}

impl<'a> RequestHead<'a> {
    /// Bytes taken by the head, up to and including its empty line: the body (or the next
    /// pipelined request) starts at this offset of the parsed buffer.
    #[allow(clippy::len_without_is_empty)] // a head is never empty
    pub fn len(&self) -> usize {
        self.len
    }

    /// The method.
    pub fn method(&self) -> Method<'a> {
        self.method
    }

    /// The request-target, classified.
    pub fn target(&self) -> Target<'a> {
        self.target
    }

    /// The request-target exactly as sent.
    pub fn raw_target(&self) -> &'a str {
        self.raw_target
    }

    /// The path (see [`Target::path`]), still percent-encoded.
    pub fn path(&self) -> &'a str {
        self.target.path()
    }

    /// The query without `?`, if the target has one.
    pub fn query(&self) -> Option<&'a str> {
        self.target.query()
    }

    /// The version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The authority the request is for: the target's authority in absolute form (which
    /// RFC 9112 §3.2.2 says wins over Host), else the Host field. `None` only for HTTP/1.0
    /// without Host. May be empty: `Host:` with an empty value is valid.
    pub fn host(&self) -> Option<&'a str> {
        self.host.and_then(|h| std::str::from_utf8(h).ok())
    }

    /// How the body is framed. Content-Length was already checked against `Limits::max_body`.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether the connection may be reused after this request: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive` and no `close`.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// `Expect: 100-continue` on an HTTP/1.1 request (HTTP/1.0 ones must be ignored,
    /// RFC 9110 §10.1.1). The server should send [`super::CONTINUE_100`] before reading the
    /// body, or answer right away without reading it.
    pub fn expect_continue(&self) -> bool {
        self.expect_continue
    }

    /// The first protocol of the Upgrade field, like `ringwire/1` or `websocket`, when the
    /// request is HTTP/1.1 and Connection lists `upgrade` (RFC 9110 §7.8).
    pub fn upgrade(&self) -> Option<&'a str> {
        self.upgrade.and_then(upgrade_token)
    }

    /// The first field named `name` (ASCII case-insensitive), for instance `If-None-Match`,
    /// `Range`, `X-Request-Id` or `traceparent`.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers_named(name).next()
    }

    /// Every field named `name`, in order, for fields that may repeat.
    pub fn headers_named<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        let buf = self.buf;
        // Lengths first: most fields are ruled out without looking at their bytes.
        self.fields
            .iter()
            .filter(move |f| f.name_is(buf, name))
            .map(move |f| f.value_in(buf))
    }

    /// All fields, in the order they were sent.
    pub fn headers(&self) -> Headers<'a> {
        Headers::new(self.buf, self.fields)
    }

    /// Number of header fields.
    pub fn header_count(&self) -> usize {
        self.fields.len()
    }

    /// What the response encoder needs to answer this request.
    pub fn reply(&self) -> Reply {
        Reply {
            version: self.version,
            keep_alive: self.keep_alive,
            head_request: self.method == Method::Head,
        }
    }
}
