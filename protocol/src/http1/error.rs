//! The one error type of the HTTP/1.1 codec, with its status code and connection fate.

use std::fmt;

/// Why a request (head or body) was rejected, or why a response could not be encoded.
///
/// Each variant maps to the status code the server should answer with ([`Error::status`]) and
/// says whether the connection must be closed afterwards ([`Error::must_close`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The method is not a token (RFC 9110 §9.1). 400.
    InvalidMethod,
    /// The request-target has a byte or a shape RFC 9112 §3.2 does not allow. 400.
    InvalidTarget,
    /// The request-target form does not fit the method: `*` is only for OPTIONS, the
    /// authority form only and always for CONNECT (RFC 9112 §3.2.3, §3.2.4). 400.
    TargetFormNotAllowed,
    /// The version is not `HTTP/DIGIT.DIGIT` (RFC 9112 §2.3). 400.
    InvalidVersion,
    /// A well-formed version whose major number is not 1 (RFC 9110 §15.6.6). 505.
    UnsupportedVersion,
    /// A line ends in LF without CR, or a CR is not followed by LF. 400.
    InvalidLineEnding,
    /// A header field name is empty or has a non-token byte; this includes whitespace before
    /// the colon (RFC 9112 §5.1) and obs-fold continuation lines (RFC 9112 §5.2). 400.
    InvalidHeaderName,
    /// A header field value has a control byte such as NUL or a bare CR (RFC 9110 §5.5). 400.
    InvalidHeaderValue,
    /// An HTTP/1.1 request without a Host field (RFC 9112 §3.2). 400.
    MissingHost,
    /// More than one Host field (RFC 9112 §3.2). 400.
    DuplicateHost,
    /// The Host field, or the authority of the target, is not `host[:port]` (RFC 9110 §7.2). 400.
    InvalidHost,
    /// Content-Length is not a plain decimal number that fits in 64 bits (RFC 9110 §8.6). 400.
    InvalidContentLength,
    /// Several Content-Length fields with different values (RFC 9112 §6.3). 400.
    ConflictingContentLength,
    /// Content-Length and Transfer-Encoding together: a smuggling attempt or a broken
    /// intermediary (RFC 9112 §6.1). 400, and the connection closes.
    ContentLengthWithTransferEncoding,
    /// Transfer-Encoding in an HTTP/1.0 request, whose framing is then faulty (RFC 9112 §6.1). 400.
    TransferEncodingInHttp10,
    /// Transfer-Encoding is empty, malformed, applies chunked twice, or does not end with
    /// chunked (RFC 9112 §6.3). 400.
    InvalidTransferEncoding,
    /// A transfer coding other than chunked (RFC 9112 §6.1). 501.
    UnsupportedTransferCoding,
    /// The request line is longer than `Limits::max_request_line`. 414.
    RequestLineTooLong,
    /// The request head is longer than `Limits::max_head`. 431.
    HeadTooLarge,
    /// More header fields than `Limits::max_headers`. 431.
    TooManyHeaders,
    /// The body is larger than `Limits::max_body`. 413.
    BodyTooLarge,
    /// A chunk size is not 1*HEXDIG (no sign, `0x`, `_` or spaces; RFC 9112 §7.1). 400.
    InvalidChunkSize,
    /// A chunk size does not fit in 64 bits. 400.
    ChunkSizeOverflow,
    /// A chunk extension is not `;name[=token|quoted-string]` (RFC 9112 §7.1.1). 400.
    InvalidChunkExtension,
    /// A chunk-size line is longer than `Limits::max_chunk_line`. 400.
    ChunkLineTooLong,
    /// A chunked body spends too many bytes on framing (chunk extensions, or many tiny
    /// chunks) for the data it carries; see
    /// [`CHUNK_OVERHEAD_ALLOWANCE`](crate::http1::CHUNK_OVERHEAD_ALLOWANCE). 400.
    ChunkedOverhead,
    /// The CRLF after a chunk's data is missing. 400.
    InvalidChunkDelimiter,
    /// A trailer field is malformed (same rules as header fields). 400.
    InvalidTrailer,
    /// The trailer section is longer than `Limits::max_trailer`, or has more fields than
    /// `Limits::max_headers`. 431.
    TrailersTooLarge,
    /// The client took too long to send its head. Never produced by this crate (it has no
    /// clock); the server constructs it so [`crate::http1::encode_error`] can answer 408.
    RequestTimeout,
    /// A response the encoder refuses to write: a status outside 200..=999 (a 1xx is not a
    /// final response; 101 only with an `Upgrade` field), a 205 with a body, a second
    /// `Server` field, a header that is not a token name, a value with CR, LF or NUL, or a
    /// field the encoder writes itself (Content-Length, Transfer-Encoding, Connection,
    /// Date). 500.
    InvalidResponse,
}

impl Error {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        use Error::*;
        match self {
            UnsupportedVersion => 505,
            UnsupportedTransferCoding => 501,
            RequestLineTooLong => 414,
            HeadTooLarge | TooManyHeaders | TrailersTooLarge => 431,
            BodyTooLarge => 413,
            RequestTimeout => 408,
            InvalidResponse => 500,
            _ => 400,
        }
    }

    /// Whether the connection must be closed after answering.
    ///
    /// Every request error closes: once any part of a request is rejected, the server no
    /// longer knows where the next request starts (the rejected head may be lying about its
    /// body, which is exactly what smuggling exploits). Only an encoder error leaves the
    /// stream in a known state, because nothing of the failed response was written.
    pub fn must_close(&self) -> bool {
        !matches!(self, Error::InvalidResponse)
    }

    fn message(&self) -> &'static str {
        use Error::*;
        match self {
            InvalidMethod => "the request method is not a valid token",
            InvalidTarget => {
                "the request target is malformed (allowed: /path?query, \
                              http(s)://authority/path, * or host:port)"
            }
            TargetFormNotAllowed => {
                "the request target form does not fit the method \
                                     (* is only for OPTIONS, host:port only for CONNECT)"
            }
            InvalidVersion => "the HTTP version is malformed (expected HTTP/1.1 or HTTP/1.0)",
            UnsupportedVersion => "this server speaks HTTP/1.x only",
            InvalidLineEnding => "a line does not end with CRLF",
            InvalidHeaderName => {
                "a header name is empty, has invalid characters, is \
                                  followed by whitespace before the colon, or is a folded line"
            }
            InvalidHeaderValue => "a header value contains a control character (NUL, bare CR)",
            MissingHost => "HTTP/1.1 requests must carry a Host header",
            DuplicateHost => "the request carries more than one Host header",
            InvalidHost => "the Host header (or target authority) is not host[:port]",
            InvalidContentLength => "Content-Length must be a decimal number of at most 64 bits",
            ConflictingContentLength => "several Content-Length headers disagree",
            ContentLengthWithTransferEncoding => {
                "Content-Length and Transfer-Encoding must not both be sent"
            }
            TransferEncodingInHttp10 => "Transfer-Encoding is not allowed in HTTP/1.0 requests",
            InvalidTransferEncoding => "Transfer-Encoding must end with chunked, exactly once",
            UnsupportedTransferCoding => "only the chunked transfer coding is supported",
            RequestLineTooLong => {
                "the request line exceeds the server limit \
                                   (limits.max_request_line)"
            }
            HeadTooLarge => "the request head exceeds the server limit (limits.max_head)",
            TooManyHeaders => {
                "the request has more headers than the server allows \
                               (limits.max_headers)"
            }
            BodyTooLarge => "the request body exceeds the server limit (limits.max_body)",
            InvalidChunkSize => "a chunk size is not plain hexadecimal",
            ChunkSizeOverflow => "a chunk size does not fit in 64 bits",
            InvalidChunkExtension => "a chunk extension is malformed",
            ChunkLineTooLong => {
                "a chunk-size line exceeds the server limit \
                                 (limits.max_chunk_line)"
            }
            ChunkedOverhead => {
                "the chunked body carries too much framing for its data \
                 (chunk extensions or tiny chunks)"
            }
            InvalidChunkDelimiter => "chunk data is not followed by CRLF",
            InvalidTrailer => "a trailer field is malformed",
            TrailersTooLarge => {
                "the trailer section exceeds the server limits \
                                 (limits.max_trailer, limits.max_headers)"
            }
            RequestTimeout => "the request head was not received in time",
            InvalidResponse => {
                "the response is invalid: a final status must be 200..=999 (1xx are interim; \
                 101 needs Upgrade), 205 has no body, Server may appear once, and the handler \
                 must not set Content-Length, Transfer-Encoding, Connection or Date itself"
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.status())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_cover_every_class() {
        assert_eq!(Error::UnsupportedVersion.status(), 505);
        assert_eq!(Error::UnsupportedTransferCoding.status(), 501);
        assert_eq!(Error::RequestLineTooLong.status(), 414);
        assert_eq!(Error::HeadTooLarge.status(), 431);
        assert_eq!(Error::TooManyHeaders.status(), 431);
        assert_eq!(Error::TrailersTooLarge.status(), 431);
        assert_eq!(Error::BodyTooLarge.status(), 413);
        assert_eq!(Error::RequestTimeout.status(), 408);
        assert_eq!(Error::MissingHost.status(), 400);
        assert_eq!(Error::InvalidResponse.status(), 500);
    }

    #[test]
    fn request_errors_close_encoder_errors_do_not() {
        assert!(Error::ContentLengthWithTransferEncoding.must_close());
        assert!(Error::MissingHost.must_close());
        assert!(!Error::InvalidResponse.must_close());
    }

    #[test]
    fn display_names_the_limit_and_status() {
        let s = Error::HeadTooLarge.to_string();
        assert!(s.contains("limits.max_head") && s.ends_with("(431)"), "{s}");
    }
}
