//! The HTTP/1.1 connection loop: receive, parse every complete request in the buffer, answer
//! each through the service, write all ready responses at once, receive again.
//!
//! A connection alternates between two phases. *Idle*: it waits for the next request holding
//! only its socket and a timer (no receive buffer, no parser, no output buffer). *Busy*: a
//! boxed future, allocated per burst of requests, takes a parser and an output buffer from
//! the core's pools and returns them when the burst is done. Idle connections, the common case
//! for keep-alive, stay small.

pub(crate) mod deadline;
mod flush;
pub(crate) mod idle;
pub(crate) mod input;
mod kit;
pub(crate) mod output;
mod upgrade;

pub(crate) use kit::{Kit, Pending, Registration};

use crate::tls::{ALPN_STREAM, Acceptor};
use crate::transport::Transport;
use crate::{
    CloseReason, Config, Core, Error, Request, Responder, Service,
    access::{self, Access},
    body::{Body, Continue, Leftover},
    problem::{self, RequestId, send_error},
    stats::method_class,
    trace::TraceContext,
};
use deadline::{Expired, until};
use idle::{Idle, linger};
use input::Input;
use output::Output;
use ringwire_protocol::http1::{BodyDecoder, Parser, RequestHead, Status};
use ringwire_reactor::{
    buf::RecvBuf,
    time::{self, Sleep},
};
use std::{cell::Cell, future::Future, rc::Rc, time::Instant};

/// The code and message of a 500: what went wrong is logged with the request id.
const INTERNAL: &str = "server.internal";
const INTERNAL_MESSAGE: &str = "internal server error; quote the request id to the operator";

/// The task of one HTTP connection. Everything it keeps across an idle wait is in this one
/// future (socket, two timers, a few references), which is what an idle keep-alive connection
/// costs; `connection_futures_stay_small` below guards its size.
// Not an `async fn`, deliberately (see inside); the size test below holds it to that.
#[allow(clippy::manual_async_fn)]
pub(crate) fn run<S: Service>(
    mut stream: Transport,
    core: Rc<Core>,
    service: Rc<S>,
    key: usize,
    tls: Option<Rc<Acceptor>>,
) -> impl Future<Output = ()> {
    // An async block, not an `async fn`: a function's arguments would be stored twice in its
    // future (as captured and as rebound locals); a block captures them once. For the same
    // reason TLS starts in place: `stream` is never moved into a local.
    async move {
        let _registration = Registration { core: &core, key };
        if let Some(tls) = &tls {
            // Boxed: the handshake's state is large and gone once it is done.
            if let Err(reason) = Box::pin(tls.accept(&mut stream, &core)).await {
                core.stats().closed(reason);
                return;
            }
        }
        if stream.alpn() == Some(ALPN_STREAM) {
            // ALPN chose the stream protocol: this TLS port carries both.
            let reason = Box::pin(crate::stream::conn::serve_on_core(&stream, &core, key)).await;
            core.stats().closed(reason);
            Box::pin(stream.finish()).await;
            return;
        }
        let now = time::now();
        let mut timers = Timers {
            read: time::sleep_until(now),
            write: time::sleep_until(now),
        };
        // The loop's value says why the connection ends and whether to close lingering (see
        // `linger`) where that reason alone does not call for it. Not a variable set inside
        // the loop: that would be kept across every await and grow the idle connection.
        let (reason, lingering) = loop {
            let idle = Idle {
                stream: &stream,
                core: &core,
                key,
                marked: false,
            };
            let first = match idle.await {
                Ok(first) => first,
                Err(reason) => break (reason, false),
            };
            core.stats().bytes_in(first.len());
            // The scrutinee is a temporary of this statement only: held across the upgraded
            // connection's await below, it would grow every HTTP connection's future.
            let leftover =
                match Box::pin(burst(&stream, &core, &*service, first, &mut timers, key)).await {
                    Exit::Keep => continue,
                    Exit::Close(reason, linger) => break (reason, linger),
                    Exit::Upgrade(leftover) => leftover,
                };
            // The HTTP connection becomes a stream-protocol connection, same task; boxed like
            // a burst.
            let reason =
                Box::pin(crate::stream::conn::upgraded(&stream, &core, key, leftover)).await;
            break (reason, false);
        };
        core.stats().closed(reason);
        if lingering
            || matches!(
                reason,
                CloseReason::ProtocolError | CloseReason::ReadTimeout
            )
        {
            // Boxed: rare, and it would otherwise enlarge every connection's future.
            Box::pin(linger(&stream)).await;
        } else if stream.is_tls() {
            // TLS says goodbye (an alert after a bad record, else close_notify); boxed too.
            Box::pin(stream.finish()).await;
        }
    }
}

/// How a burst ends.
enum Exit {
    /// Keep the connection for the next request.
    Keep,
    /// Close; `true`: with a lingering close, as the client may still be sending.
    Close(CloseReason, bool),
    /// Switch to the stream protocol, with the bytes that followed the upgrade request.
    Upgrade(Vec<u8>),
}

/// Per-burst state, boxed with the burst.
struct Burst<'a, S> {
    stream: &'a Transport,
    core: &'a Core,
    service: &'a S,
    config: Rc<Config>,
    out: Output,
    wtimer: &'a mut Sleep,
    pending: Vec<Pending>,
    upgrade: Option<Vec<u8>>,
    /// The connection closes with request body bytes unread: close lingering.
    linger: bool,
    /// The client's address.
    peer: Option<std::net::IpAddr>,
    /// The identity of the client's verified TLS certificate, if any.
    client: Option<Rc<str>>,
}

/// Answers requests until the input is used up and every response is written, then says
/// whether to keep the connection, close it, or switch it to the stream protocol.
async fn burst<S: Service>(
    stream: &Transport,
    core: &Core,
    service: &S,
    first: RecvBuf,
    timers: &mut Timers,
    key: usize,
) -> Exit {
    let config = core.config();
    let Kit {
        mut parser,
        out,
        pending,
    } = core.take_kit(&config);
    let mut input = Input::Recv { buf: first, pos: 0 };
    let mut b = Burst {
        stream,
        core,
        service,
        config,
        out,
        wtimer: &mut timers.write,
        pending,
        upgrade: None,
        linger: false,
        peer: core.peer(key),
        client: stream.client_identity(),
    };
    let result = b.requests(&mut parser, &mut input, &mut timers.read).await;
    b.out.reset();
    b.pending.clear();
    let upgrade = b.upgrade.take();
    core.put_kit(
        Kit {
            parser,
            out: b.out,
            pending: b.pending,
        },
        &b.config,
    );
    match (result, upgrade) {
        (_, Some(leftover)) => Exit::Upgrade(leftover),
        (Some(reason), None) => Exit::Close(reason, b.linger),
        (None, None) => Exit::Keep,
    }
}

/// A connection's two timers, kept for its whole life: re-arming a registered timer to a later
/// deadline costs nothing, so requests and responses touch the timer set only when a read or a
/// write actually stalls.
struct Timers {
    read: Sleep,
    write: Sleep,
}

impl<S: Service> Burst<'_, S> {
    async fn requests(
        &mut self,
        parser: &mut Parser,
        input: &mut Input,
        timer: &mut Sleep,
    ) -> Option<CloseReason> {
        let mut head_started: Option<Instant> = None;
        loop {
            if input.bytes().is_empty() {
                return self.flush().await.err();
            }
            let now = time::now();
            let started = *head_started.get_or_insert(now);
            match parser.parse(input.bytes()) {
                Err(e) => {
                    self.core.stats().protocol_error(e.status());
                    self.simple(e.status(), &e.to_string(), now);
                    let _ = self.flush().await;
                    return Some(CloseReason::ProtocolError);
                }
                Ok(Status::Partial) => {
                    if let Err(reason) = self.flush().await {
                        return Some(reason);
                    }
                    // Wait for the rest of the head without holding a receive buffer.
                    input.detach();
                    let deadline = started + self.config.head_timeout;
                    match until(timer, deadline, self.stream.recv()).await {
                        Ok(Ok(Some(more))) => {
                            self.core.stats().bytes_in(more.len());
                            input.push(more);
                        }
                        Ok(Ok(None)) => return Some(CloseReason::ClientClosed),
                        Ok(Err(_)) => return Some(CloseReason::IoError),
                        Err(Expired) => {
                            self.core.stats().protocol_error(408);
                            self.simple(408, "request head timeout", now);
                            let _ = self.flush().await;
                            return Some(CloseReason::ReadTimeout);
                        }
                    }
                }
                Ok(Status::Complete(head)) => {
                    head_started = None;
                    let head_len = head.len();
                    if self.wants_stream_upgrade(&head) {
                        let leftover = input.bytes()[head_len..].to_vec();
                        return self.switch_to_stream(head, leftover, now).await;
                    }
                    let after = &input.bytes()[head_len..];
                    let (leftover, keep) = match self.handle(head, after, timer, now).await {
                        Ok(done) => done,
                        Err(reason) => return Some(reason),
                    };
                    match leftover {
                        Leftover::First(n) => input.advance(head_len + n),
                        Leftover::Recv(buf, pos) => input.replace(buf, pos),
                        Leftover::Owned(bytes) => *input = Input::Carry { buf: bytes, pos: 0 },
                    }
                    if !keep {
                        let _ = self.flush().await;
                        let draining = self.core.is_draining();
                        return Some(if draining {
                            CloseReason::Drain
                        } else {
                            CloseReason::ConnectionClose
                        });
                    }
                    if self.out.len() >= output::FLUSH_AT {
                        if let Err(reason) = self.flush().await {
                            return Some(reason);
                        }
                    }
                }
            }
        }
    }

    /// Answers one request; returns where the next request starts and whether to keep going.
    async fn handle(
        &mut self,
        head: RequestHead<'_>,
        after: &[u8],
        timer: &mut Sleep,
        now: Instant,
    ) -> Result<(Leftover, bool), CloseReason> {
        let core = self.core;
        let method = method_class(head.method().as_str());
        let trace = TraceContext::for_request(head.header("traceparent"), self.config.trace_sample);
        let export = trace.and_then(|t| t.export_start());
        let request_id = match head
            .header("x-request-id")
            .and_then(access::client_request_id)
        {
            Some(id) => RequestId::Client(id),
            None => core.next_request_id(),
        };
        let config = self.config.clone();
        let security = config.headers.for_path(head.path());
        let mut access = core
            .sampler()
            .sample(self.config.access_log_sample)
            .then(|| {
                Box::new(Access {
                    method: head.method().as_str().to_string(),
                    path: head.raw_target().to_string(),
                    request_id: request_id.as_str().to_string(),
                    trace,
                    status: 0,
                    bytes: 0,
                })
            });
        let mut reply = head.reply();
        if core.is_draining() {
            reply.keep_alive = false;
        }
        let decoder = BodyDecoder::new(head.framing(), &self.config.limits);
        let expect = Cell::new(if head.expect_continue() && !decoder.is_finished() {
            Continue::Pending
        } else {
            Continue::NotExpected
        });
        if expect.get() == Continue::Pending {
            // The body may send `100 Continue` straight to the socket: every earlier
            // pipelined response must be out first, so the 100 follows them in order.
            self.flush().await?;
        }
        let body = Body::new(
            self.stream,
            core,
            decoder,
            head.framing(),
            after,
            timer,
            self.config.body_timeout,
            &expect,
        );
        let edge = core.edge();
        let mut req = Request {
            head,
            body,
            received: now,
            core: core.index(),
            request_id,
            trace,
            peer: self.peer,
            client: self.client.clone(),
            edge,
            principal: std::cell::OnceCell::new(),
        };
        let date = core.date(now);
        let server = self.config.server_name.as_deref();
        let mut res = Responder::new(
            &mut self.out,
            self.stream,
            core,
            reply,
            date,
            server,
            self.wtimer,
            self.config.write_timeout,
            &expect,
            security,
            request_id.as_str(),
        );
        res.trace = trace.map(|t| t.traceparent());
        // The edge first: a shedding core or a rate limit answers before any service runs.
        let outcome = match req.edge_checks(now) {
            Err(d) => Err(Error::Denied(d)),
            Ok(()) => match trace {
                // A span only for traced requests, so their other log lines carry the trace.
                Some(t) => {
                    tracing::Instrument::instrument(self.service.call(&mut req, &mut res), t.span())
                        .await
                }
                None => self.service.call(&mut req, &mut res).await,
            },
        };
        let mut keep = true;
        let mut close_reason = None;
        match outcome {
            Err(Error::Denied(d)) if !res.is_started() => {
                if let Err(e) = crate::edge::answer(&req, &mut res, d) {
                    tracing::error!(path = req.path(), "denial not sent: {e}");
                    close_reason = Some(CloseReason::ProtocolError);
                }
            }
            Ok(()) if res.is_complete() => {}
            Ok(()) if !res.is_started() => {
                tracing::error!(
                    path = req.path(),
                    request_id = req.request_id(),
                    "service returned without a response; sending 500"
                );
                let _ = send_error(&req, &mut res, 500, INTERNAL, INTERNAL_MESSAGE, &[]);
            }
            Ok(()) => {
                tracing::error!(
                    path = req.path(),
                    request_id = req.request_id(),
                    "service left a streamed response unfinished; closing"
                );
                if res.retract() {
                    res.close_connection();
                    let _ = send_error(&req, &mut res, 500, INTERNAL, INTERNAL_MESSAGE, &[]);
                }
                close_reason = Some(CloseReason::ProtocolError);
            }
            Err(e) => {
                let (status, reason) = match &e {
                    Error::Http(pe) => (pe.status(), CloseReason::ProtocolError),
                    Error::Timeout("request body") => (408, CloseReason::ReadTimeout),
                    Error::Timeout(_) => (0, CloseReason::WriteTimeout),
                    Error::Io(_) => (0, CloseReason::IoError),
                    _ => (500, CloseReason::ProtocolError),
                };
                if status == 500 {
                    // The error's text is for the log only: the client gets a code and the id.
                    tracing::error!(
                        path = req.path(),
                        request_id = req.request_id(),
                        "service failed: {e}"
                    );
                }
                if status >= 400 {
                    core.stats().protocol_error(status);
                }
                if status > 0 && (!res.is_started() || res.retract()) {
                    res.close_connection();
                    let (code, message) = match &e {
                        Error::Http(pe) => (problem::http_code(status), pe.to_string()),
                        Error::Timeout(_) => (problem::http_code(408), e.to_string()),
                        _ => (INTERNAL, INTERNAL_MESSAGE.to_string()),
                    };
                    let _ = send_error(&req, &mut res, status, code, &message, &[]);
                }
                close_reason = Some(reason);
            }
        }
        keep &= res.keep_alive();
        let status = res.status();
        if let (Some(t), Some(start)) = (trace, export) {
            t.export(start, &req, status);
        }
        if let Some(a) = access.as_mut() {
            a.status = status;
            a.bytes = res.body_bytes();
        }
        drop(res);
        if status > 0 {
            self.pending.push(Pending {
                method,
                status,
                received: now,
                access,
            });
        }
        if let Some(reason) = close_reason {
            let _ = self.flush().await;
            return Err(reason);
        }
        let mut body = req.body;
        if !body.is_finished() {
            if body.unanswered_continue() {
                // The client may never send a body it was not invited to: do not wait for it.
                // The response said `Connection: close` (the responder withheld the 100).
                keep = false;
            } else if keep && body.skip_rest().await.is_err() {
                let _ = self.flush().await;
                return Err(CloseReason::ProtocolError);
            }
            // Closing with body bytes unread (or still coming) would make the kernel answer
            // them with a reset that can destroy the response before the client reads it.
            self.linger |= !keep;
        }
        Ok((body.into_leftover(), keep))
    }
}

#[cfg(test)]
mod misuse_tests;
#[cfg(test)]
mod tests;
