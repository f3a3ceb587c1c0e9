//! HTTP/1.1 (RFC 9110, RFC 9112): request head parsing, body decoding, response encoding,
//! and the request fields a server interprets ([`range`], [`path`] below a static prefix,
//! [`trace_id`] from `traceparent`).
//!
//! Sans-I/O and zero-copy: every call takes the bytes read so far and returns views into them.
//! A connection keeps one [`Parser`] (its header index is reused, so the common path never
//! allocates) and one [`BodyDecoder`] per request. A [`RequestHead`] borrows the parser
//! (its header index) and the buffer until it is dropped, so keep your own copy of the
//! [`Limits`] (they are `Copy`) for the body decoder:
//!
//! ```
//! use ringwire_protocol::http1::{
//!     BodyDecoder, Event, Framing, Limits, Parser, Response, ResponseBody, Status, http_date,
//! };
//!
//! let buf = b"POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
//! let limits = Limits::default();
//! let mut parser = Parser::new(limits);
//! let Ok(Status::Complete(head)) = parser.parse(buf) else { panic!() };
//! assert_eq!((head.path(), head.query()), ("/echo", Some("x=1")));
//! assert_eq!(head.framing(), Framing::Length(5));
//!
//! let mut body = BodyDecoder::new(head.framing(), &limits);
//! let (used, event) = body.decode(&buf[head.len()..]).unwrap();
//! assert_eq!((used, event), (5, Event::Data(b"hello")));
//!
//! let date = http_date(784_111_777);
//! let mut out = Vec::new();
//! let sent = Response::new(200, ResponseBody::Length(5), &date)
//!     .encode(head.reply(), &mut out)
//!     .unwrap();
//! assert!(sent.keep_alive);
//! assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
//! ```

mod body;
mod chars;
mod chunked;
mod date;
mod error;
mod head;
mod headers;
mod limits;
pub mod path;
pub mod range;
mod request;
mod response;
mod target;
mod traceparent;

pub use body::{BodyDecoder, Event};
pub use chunked::{
    CHUNK_OVERHEAD_ALLOWANCE, CHUNK_OVERHEAD_PER_CHUNK, CHUNK_OVERHEAD_PER_DATA_BYTE,
};
pub use date::{HTTP_DATE_LEN, http_date};
pub use error::Error;
pub use head::{Framing, Method, Reply, RequestHead, Version};
pub use headers::{Field, Headers};
pub use limits::{Limits, MAX_HEADERS_CAP};
pub use request::{Parser, Status};
pub use response::{
    CHUNK_END, CONTINUE_100, ChunkHeader, Encoded, LAST_CHUNK, Response, ResponseBody, SendBody,
    encode_chunk_header, encode_error, reason,
};
pub use target::Target;
pub use traceparent::{TRACEPARENT_LEN, TraceParent, hex, trace_id};
