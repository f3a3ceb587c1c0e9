//! The response side of the service API.

use crate::transport::Transport;
use crate::{
    Core, Error,
    body::Continue,
    conn::output::{FLUSH_AT, FlushError, Output},
    headers::Block,
};
use bytes::Bytes;
use ringwire_protocol::http1::{
    CHUNK_END, HTTP_DATE_LEN, LAST_CHUNK, Reply, Response, ResponseBody, SendBody,
    encode_chunk_header,
};
use ringwire_reactor::time::Sleep;
use std::{cell::Cell, fs::File, rc::Rc, time::Duration};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing sent yet.
    Pending,
    /// A complete response is queued.
    Done,
    /// Head sent; the body is being written with `write`.
    Streaming { send: SendBody, remaining: u64 },
}

/// Writes the response to one request. Responses of pipelined requests are queued and go out
/// together in one write; `send_bytes` and `send_file` bodies are sent without copying.
///
/// Extra header fields are `(name, value)` pairs; the responder writes `Date`, `Server`,
/// `Content-Length`/`Transfer-Encoding` and `Connection` itself, then the configured security
/// fields ([`crate::SecurityHeaders`]; one the service set itself is left out) and
/// `X-Request-Id`. Error answers: [`crate::problem::send_error`].
///
/// A response the encoder refuses is an [`Error::Service`] naming the rule, and nothing is
/// sent (returning it answers 500): a status below 200 (interim responses are the server's),
/// a 205 with a body, a `Server` field when the server sends its own, a framing field.
pub struct Responder<'r> {
    pub(crate) out: &'r mut Output,
    pub(crate) stream: &'r Transport,
    pub(crate) core: &'r Core,
    pub(crate) reply: Reply,
    pub(crate) date: [u8; HTTP_DATE_LEN],
    pub(crate) server: Option<&'r str>,
    pub(crate) timer: &'r mut Sleep,
    pub(crate) write_timeout: Duration,
    /// The request's `Expect: 100-continue`, shared with its body.
    expect: &'r Cell<Continue>,
    state: State,
    status: u16,
    body_bytes: u64,
    keep_alive: bool,
    /// The security header fields for this request's path (`Config::headers`).
    security: &'r Block,
    /// The request id, sent as `X-Request-Id`.
    request_id: &'r str,
    /// The `traceparent` sent back when the request is traced (`crate::trace`).
    pub(crate) trace: Option<[u8; ringwire_protocol::http1::TRACEPARENT_LEN]>,
    /// Where this response starts in the output, while none of it has been written.
    unflushed_from: Option<(usize, usize)>,
    /// A streamed response's head, encoded only when it is first written so that its
    /// keep-alive decision sees a drain that began while the body was being produced.
    stream_head: Option<StreamHead>,
}

struct StreamHead {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: ResponseBody,
    at: (usize, usize),
}

impl<'r> Responder<'r> {
    #[allow(clippy::too_many_arguments)] // internal constructor, one call site
    pub(crate) fn new(
        out: &'r mut Output,
        stream: &'r Transport,
        core: &'r Core,
        reply: Reply,
        date: [u8; HTTP_DATE_LEN],
        server: Option<&'r str>,
        timer: &'r mut Sleep,
        write_timeout: Duration,
        expect: &'r Cell<Continue>,
        security: &'r Block,
        request_id: &'r str,
    ) -> Self {
        let unflushed_from = Some(out.mark());
        Responder {
            security,
            request_id,
            trace: None,
            expect,
            unflushed_from,
            stream_head: None,
            out,
            stream,
            core,
            reply,
            date,
            server,
            timer,
            write_timeout,
            state: State::Pending,
            status: 0,
            body_bytes: 0,
            keep_alive: reply.keep_alive,
        }
    }

    /// Makes this the last response on the connection (`Connection: close`). Call it before
    /// sending.
    pub fn close_connection(&mut self) {
        self.reply.keep_alive = false;
    }

    /// The request's id, sent in `X-Request-Id` on the response (see
    /// [`crate::Request::request_id`]).
    pub fn request_id(&self) -> &'r str {
        self.request_id
    }

    /// Whether a response has been started.
    pub fn is_started(&self) -> bool {
        self.state != State::Pending
    }

    /// The status sent (0 before anything was sent).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Body bytes sent or queued so far.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Whether the connection stays open after this response.
    pub(crate) fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// Takes back a response none of which has reached the socket yet, so an error status
    /// can replace it. Returns false if part of it was already written.
    pub(crate) fn retract(&mut self) -> bool {
        let Some(mark) = self.unflushed_from else {
            return false;
        };
        self.out.truncate(mark);
        self.state = State::Pending;
        self.status = 0;
        self.body_bytes = 0;
        self.keep_alive = self.reply.keep_alive;
        self.stream_head = None;
        true
    }

    /// Encodes the head into the output. `written`: this is the head that goes out (not the
    /// trial encoding of [`Responder::start`]).
    fn head(
        &mut self,
        status: u16,
        headers: &[(&str, &[u8])],
        body: ResponseBody,
        written: bool,
    ) -> Result<SendBody, Error> {
        if self.state != State::Pending {
            return Err(Error::Service(format!(
                "a response was already sent (status {})",
                self.status
            )));
        }
        if status < 200 {
            // The 100 Continue is the server's; a 101 needs the connection to change
            // protocol, which only the server's own stream upgrade does.
            return Err(Error::Service(format!(
                "status {status} is not a final response: a service answers with 200..=999"
            )));
        }
        if self.core.is_draining() {
            self.reply.keep_alive = false;
        }
        let response = Response {
            status,
            reason: None,
            body,
            headers,
            date: &self.date,
            server: self.server,
        };
        let withhold = written && self.expect.get() == Continue::Pending;
        let mut reply = self.reply;
        reply.keep_alive &= !withhold;
        let buf = self.out.buf(self.core);
        let encoded = response
            .encode(reply, buf)
            .map_err(|e| Error::Service(e.to_string()))?;
        if written {
            let ids = (self.request_id, self.trace.as_ref().map(|t| &t[..]));
            self.security.finish_head_traced(buf, headers, ids);
        }
        self.withheld_continue(withhold);
        self.status = status;
        self.keep_alive = encoded.keep_alive;
        Ok(encoded.body)
    }

    /// After the final head was encoded while the client still waited for `100 Continue`:
    /// no 100 follows, and the head said `Connection: close`.
    fn withheld_continue(&mut self, withheld: bool) {
        if withheld {
            self.expect.set(Continue::Withheld);
            self.reply.keep_alive = false;
        }
    }

    /// Encodes a streamed response's head into its place in the output.
    fn materialize(&mut self) -> Result<(), Error> {
        let Some(h) = self.stream_head.take() else {
            return Ok(());
        };
        if self.core.is_draining() {
            self.reply.keep_alive = false;
        }
        let headers: Vec<(&str, &[u8])> = h
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let response = Response {
            status: h.status,
            reason: None,
            body: h.body,
            headers: &headers,
            date: &self.date,
            server: self.server,
        };
        let mut head = Vec::with_capacity(256);
        let withhold = self.expect.get() == Continue::Pending;
        let mut reply = self.reply;
        reply.keep_alive &= !withhold;
        let encoded = response
            .encode(reply, &mut head)
            .map_err(|e| Error::Service(e.to_string()))?;
        let ids = (self.request_id, self.trace.as_ref().map(|t| &t[..]));
        self.security.finish_head_traced(&mut head, &headers, ids);
        self.withheld_continue(withhold);
        self.keep_alive = encoded.keep_alive;
        self.out.insert(h.at, &head);
        Ok(())
    }

    /// Sends a complete response whose body is copied into the output buffer (for small
    /// bodies; see [`Responder::send_bytes`] for large ones).
    pub fn send(
        &mut self,
        status: u16,
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> Result<(), Error> {
        let send = self.head(
            status,
            headers,
            ResponseBody::Length(body.len() as u64),
            true,
        )?;
        if send != SendBody::Nothing {
            self.out.buf(self.core).extend_from_slice(body);
            self.body_bytes = body.len() as u64;
        }
        self.state = State::Done;
        Ok(())
    }

    /// Sends a complete response whose body goes out without being copied.
    pub fn send_bytes(
        &mut self,
        status: u16,
        headers: &[(&str, &[u8])],
        body: Bytes,
    ) -> Result<(), Error> {
        let send = self.head(
            status,
            headers,
            ResponseBody::Length(body.len() as u64),
            true,
        )?;
        if send != SendBody::Nothing && !body.is_empty() {
            self.body_bytes = body.len() as u64;
            self.out.push_bytes(body);
        }
        self.state = State::Done;
        Ok(())
    }

    /// Sends `len` bytes of `file` from `offset` as the body, with sendfile/splice.
    pub fn send_file(
        &mut self,
        status: u16,
        headers: &[(&str, &[u8])],
        file: Rc<File>,
        offset: u64,
        len: u64,
    ) -> Result<(), Error> {
        let send = self.head(status, headers, ResponseBody::Length(len), true)?;
        if send != SendBody::Nothing && len > 0 {
            self.body_bytes = len;
            self.out.push_file(file, offset, len);
        }
        self.state = State::Done;
        Ok(())
    }

    /// Starts a streamed response: `Some(n)` for a body of exactly `n` bytes, `None` for
    /// chunked (or, to an HTTP/1.0 client, raw bytes until the connection closes). Write the
    /// body with [`Responder::write`] and end it with [`Responder::finish`].
    pub fn start(
        &mut self,
        status: u16,
        headers: &[(&str, &[u8])],
        length: Option<u64>,
    ) -> Result<(), Error> {
        let body = length.map_or(ResponseBody::Chunked, ResponseBody::Length);
        // Encode once now, to validate and learn the body framing; the real head is encoded
        // when first written (see `materialize`).
        let at = self.out.mark();
        let send = self.head(status, headers, body, false)?;
        self.out.truncate(at);
        let remaining = match send {
            SendBody::Length(n) => n,
            _ => 0,
        };
        let headers = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_vec()))
            .collect();
        self.stream_head = Some(StreamHead {
            status,
            headers,
            body,
            at,
        });
        self.state = State::Streaming { send, remaining };
        Ok(())
    }

    /// Writes a piece of a streamed body. Buffers small pieces; writes to the socket once the
    /// output holds 64 KiB, so a fast producer waits for a slow client (backpressure).
    pub async fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        let State::Streaming { send, remaining } = &mut self.state else {
            return Err(Error::Service("write() before start()".into()));
        };
        match *send {
            SendBody::Nothing => return Ok(()),
            SendBody::Length(_) => {
                if data.len() as u64 > *remaining {
                    return Err(Error::Service(
                        "body longer than the announced length".into(),
                    ));
                }
                *remaining -= data.len() as u64;
                self.out.buf(self.core).extend_from_slice(data);
            }
            SendBody::Chunked => {
                if data.is_empty() {
                    return Ok(());
                }
                let buf = self.out.buf(self.core);
                encode_chunk_header(buf, data.len() as u64);
                buf.extend_from_slice(data);
                buf.extend_from_slice(CHUNK_END);
            }
            SendBody::UntilClose => self.out.buf(self.core).extend_from_slice(data),
        }
        self.body_bytes += data.len() as u64;
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Ends a streamed body.
    pub async fn finish(&mut self) -> Result<(), Error> {
        match self.state {
            State::Streaming {
                send: SendBody::Chunked,
                ..
            } => self.out.buf(self.core).extend_from_slice(LAST_CHUNK),
            State::Streaming {
                send: SendBody::Length(_),
                remaining,
            } if remaining > 0 => {
                return Err(Error::Service(format!(
                    "body ended {remaining} bytes short of its length"
                )));
            }
            State::Streaming { .. } => {}
            _ => return Err(Error::Service("finish() without start()".into())),
        }
        self.materialize()?;
        self.state = State::Done;
        Ok(())
    }

    /// Writes everything queued so far to the socket.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.materialize()?;
        self.unflushed_from = None;
        match self
            .out
            .flush(self.stream, self.timer, self.write_timeout)
            .await
        {
            Ok(n) => {
                self.core.stats().bytes_out(n);
                Ok(())
            }
            Err(FlushError::Io(e)) => Err(Error::Io(e)),
            Err(FlushError::Timeout) => Err(Error::Timeout("response write")),
        }
    }
}
