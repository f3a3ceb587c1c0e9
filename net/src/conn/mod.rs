//! The HTTP/1.1 connection loop: receive, parse every complete request in the buffer, answer
//! each through the service, write all ready responses at once, receive again.
//!
//! A connection alternates between two phases. *Idle*: it waits for the next request holding
//! only its socket and a timer (no receive buffer, no parser, no output buffer). *Busy*: a
//! boxed future, allocated per burst of requests, takes a parser and an output buffer from
//! the core's pools and returns them when the burst is done. Idle connections, the common case
//! for keep-alive, stay small.

pub(crate) mod deadline;
pub(crate) mod input;
pub(crate) mod output;

use crate::{
    CloseReason, Config, Core, Error, Request, Responder, Service,
    body::{Body, Leftover},
    stats::method_class,
};
use deadline::{Expired, until};
use input::Input;
use output::{FlushError, Output};
use ringwire_protocol::http1::{
    self, BodyDecoder, HTTP_DATE_LEN, Parser, Reply, RequestHead, Response, ResponseBody, Status,
    Version,
};
use ringwire_reactor::{
    buf::RecvBuf,
    net::TcpStream,
    time::{self, Sleep},
};
use std::{
    future::poll_fn,
    pin::{Pin, pin},
    rc::Rc,
    task::Poll,
    time::Instant,
};

/// Removes the connection from the core's registry however its task ends (also when aborted).
struct Registration<'a> {
    core: &'a Core,
    key: usize,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.core.deregister(self.key);
    }
}

/// The task of one HTTP connection.
pub(crate) async fn run<S: Service>(stream: TcpStream, core: Rc<Core>, service: Rc<S>, key: usize) {
    let _registration = Registration { core: &core, key };
    let reason = serve(&stream, &core, &*service, key).await;
    core.stats().closed(reason);
    if matches!(
        reason,
        CloseReason::ProtocolError | CloseReason::ReadTimeout
    ) {
        linger(&stream).await;
    }
}

/// After an error response the client may still be sending; closing with unread bytes makes
/// the kernel answer with a reset that can destroy the response before the client reads it.
/// So: end our side, then read and discard for a short while (nginx's lingering close).
async fn linger(stream: &TcpStream) {
    const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
    const MAX_DISCARD: usize = 1 << 20;
    if stream.shutdown(std::net::Shutdown::Write).await.is_err() {
        return;
    }
    let deadline = time::now() + LINGER;
    let mut timer = time::sleep_until(deadline);
    let mut discarded = 0;
    while discarded < MAX_DISCARD {
        match until(&mut timer, deadline, stream.recv()).await {
            Ok(Ok(Some(buf))) => discarded += buf.len(),
            _ => break,
        }
    }
}

async fn serve<S: Service>(
    stream: &TcpStream,
    core: &Core,
    service: &S,
    key: usize,
) -> CloseReason {
    let mut timer = time::sleep_until(time::now());
    loop {
        let first = match idle(stream, core, key, &mut timer).await {
            Ok(first) => first,
            Err(reason) => return reason,
        };
        core.stats().bytes_in(first.len());
        if let Some(reason) = Box::pin(burst(stream, core, service, first, &mut timer)).await {
            return reason;
        }
    }
}

/// Waits for the first bytes of the next request.
async fn idle(
    stream: &TcpStream,
    core: &Core,
    key: usize,
    timer: &mut Sleep,
) -> Result<RecvBuf, CloseReason> {
    if core.is_draining() {
        return Err(CloseReason::Drain);
    }
    timer.reset(time::now() + core.config().keepalive_timeout);
    let mut recv = pin!(stream.recv());
    let got = poll_fn(|cx| {
        if let Poll::Ready(r) = recv.as_mut().poll(cx) {
            return Poll::Ready(Ok(r));
        }
        if core.is_draining() {
            return Poll::Ready(Err(CloseReason::Drain));
        }
        if Pin::new(&mut *timer).poll(cx).is_ready() {
            return Poll::Ready(Err(CloseReason::KeepAliveTimeout));
        }
        core.set_idle(key, Some(cx.waker()));
        Poll::Pending
    })
    .await;
    core.set_idle(key, None);
    match got? {
        Ok(Some(buf)) => Ok(buf),
        Ok(None) => Err(CloseReason::ClientClosed),
        Err(_) => Err(CloseReason::IoError),
    }
}

/// Requests answered but not yet written: their durations are recorded when the write ends.
struct Pending {
    method: usize,
    status: u16,
    received: Instant,
}

/// Per-burst state, boxed with the burst.
struct Burst<'a, S> {
    stream: &'a TcpStream,
    core: &'a Core,
    service: &'a S,
    config: Rc<Config>,
    out: Output,
    wtimer: Sleep,
    pending: Vec<Pending>,
}

/// Answers requests until the input is used up and every response is written. Returns why the
/// connection must close, or `None` to keep it.
async fn burst<S: Service>(
    stream: &TcpStream,
    core: &Core,
    service: &S,
    first: RecvBuf,
    timer: &mut Sleep,
) -> Option<CloseReason> {
    let config = core.config();
    let mut parser = core.take_parser(&config);
    let mut input = Input::Recv { buf: first, pos: 0 };
    let mut b = Burst {
        stream,
        core,
        service,
        config,
        out: Output::default(),
        wtimer: time::sleep_until(time::now()),
        pending: Vec::new(),
    };
    let result = b.requests(&mut parser, &mut input, timer).await;
    b.out.release(core);
    core.put_parser(parser, &b.config);
    result
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
                    let date = self.core.date(now);
                    let config = self.config.clone();
                    http1::encode_error(
                        self.out.buf(self.core),
                        &e,
                        &date,
                        config.server_name.as_deref(),
                    );
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
        let mut reply = head.reply();
        if core.is_draining() {
            reply.keep_alive = false;
        }
        let decoder = BodyDecoder::new(head.framing(), &self.config.limits);
        let body = Body::new(
            self.stream,
            core,
            decoder,
            head.framing(),
            after,
            timer,
            self.config.body_timeout,
            head.expect_continue(),
        );
        let mut req = Request {
            head,
            body,
            received: now,
            core: core.index(),
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
            &mut self.wtimer,
            self.config.write_timeout,
        );
        let outcome = self.service.call(&mut req, &mut res).await;
        let mut keep = true;
        let mut close_reason = None;
        match outcome {
            Ok(()) if res.is_complete() => {}
            Ok(()) if !res.is_started() => {
                tracing::error!(
                    path = req.path(),
                    "service returned without a response; sending 500"
                );
                let _ = res.send(500, &[], b"internal server error: no response\n");
            }
            Ok(()) => {
                tracing::error!(
                    path = req.path(),
                    "service left a streamed response unfinished; closing"
                );
                if res.retract() {
                    res.close_connection();
                    let _ = res.send(500, &[], b"internal server error: unfinished response\n");
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
                if matches!(e, Error::Service(_) | Error::Listen { .. }) {
                    tracing::error!(path = req.path(), "service failed: {e}");
                }
                if status >= 400 {
                    core.stats().protocol_error(status);
                }
                if status > 0 && (!res.is_started() || res.retract()) {
                    res.close_connection();
                    let msg = format!("{e}\n");
                    let _ = res.send(
                        status,
                        &[("Content-Type", b"text/plain; charset=utf-8")],
                        msg.as_bytes(),
                    );
                }
                close_reason = Some(reason);
            }
        }
        keep &= res.keep_alive();
        let status = res.status();
        drop(res);
        if status > 0 {
            self.pending.push(Pending {
                method,
                status,
                received: now,
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
                keep = false;
            } else if keep && body.skip_rest().await.is_err() {
                let _ = self.flush().await;
                return Err(CloseReason::ProtocolError);
            }
        }
        Ok((body.into_leftover(), keep))
    }

    /// A minimal response that closes the connection (408 and the like).
    fn simple(&mut self, status: u16, message: &str, now: Instant) {
        let date: [u8; HTTP_DATE_LEN] = self.core.date(now);
        let reply = Reply {
            version: Version::Http11,
            keep_alive: false,
            head_request: false,
        };
        let body = format!("{message}\n");
        let response = Response {
            status,
            reason: None,
            body: ResponseBody::Length(body.len() as u64),
            headers: &[("Content-Type", b"text/plain; charset=utf-8")],
            date: &date,
            server: self.config.server_name.as_deref(),
        };
        let buf = self.out.buf(self.core);
        if response.encode(reply, buf).is_ok() {
            buf.extend_from_slice(body.as_bytes());
        }
    }

    async fn flush(&mut self) -> Result<(), CloseReason> {
        if !self.out.is_empty() {
            match self
                .out
                .flush(self.stream, &mut self.wtimer, self.config.write_timeout)
                .await
            {
                Ok(n) => self.core.stats().bytes_out(n),
                Err(FlushError::Timeout) => return Err(CloseReason::WriteTimeout),
                Err(FlushError::Io(_)) => return Err(CloseReason::IoError),
            }
        }
        let now = time::now();
        for p in self.pending.drain(..) {
            let micros = now.saturating_duration_since(p.received).as_micros() as u64;
            self.core.stats().request(p.method, p.status, micros);
        }
        Ok(())
    }
}
