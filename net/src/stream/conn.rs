//! One stream-protocol connection: decode frames in place from the receive buffers, run each
//! stream's service, write everything ready in one write, wait for bytes, mail or a deadline.
//!
//! What a peer can make a connection cost is bounded: the handshake, every frame, an idle
//! connection and an unanswered keep-alive PING have deadlines ([`Clock`]), and the work a
//! peer provokes for free (resets, refused streams, PINGs, empty DATA) is capped per second
//! ([`RateMeter`]). Either ends the connection with a GOAWAY whose code says why.

use super::{
    StreamServer,
    gate::Admission,
    hub::Signal,
    service::{self, After, Svc},
    timing::{Clock, Due},
};
use crate::transport::Transport;
use crate::{
    CloseReason, Core,
    auth::Need,
    conn::{
        deadline::{Expired, until},
        input::Input,
    },
    stats::OpenStream,
};
use ringwire_protocol::stream::{
    CapExceeded, Connection, ErrorCode, Event, PeerWork, RateCaps, RateMeter, Role,
};
use ringwire_reactor::time::{self, Sleep};
use std::{future::Future, future::poll_fn, pin::Pin, rc::Rc, task::Poll};

/// At most this many already-received buffers are decoded before a write...
const EAGER_RECVS: u32 = 64;
/// ...and none once this much output is waiting.
const EAGER_OUT: usize = 256 * 1024;

enum Wake {
    Bytes(std::io::Result<Option<ringwire_reactor::buf::RecvBuf>>),
    Mail,
    Drain,
    Deadline,
}

/// Serves a connection switched from HTTP/1.1 by `Upgrade`; `initial` holds the bytes that
/// followed the upgrade request. (The HTTP loop lingers after an error close itself.)
pub(crate) async fn upgraded(
    stream: &Transport,
    core: &Core,
    key: usize,
    initial: Vec<u8>,
) -> CloseReason {
    match core.stream_server() {
        Some(server) => run(stream, core, &server, key, initial).await,
        None => CloseReason::ProtocolError,
    }
}

/// Serves a connection whose TLS handshake chose the stream protocol by ALPN on the HTTP
/// port, with this core's stream server.
pub(crate) async fn serve_on_core(stream: &Transport, core: &Core, key: usize) -> CloseReason {
    match core.stream_server() {
        Some(server) => serve(stream, core, &server, key, Vec::new()).await,
        None => CloseReason::ProtocolError,
    }
}

/// Serves one connection of the stream listener until it closes; returns why it ended.
pub(crate) async fn serve(
    stream: &Transport,
    core: &Core,
    server: &StreamServer,
    key: usize,
    initial: Vec<u8>,
) -> CloseReason {
    let reason = run(stream, core, server, key, initial).await;
    if matches!(
        reason,
        CloseReason::ProtocolError
            | CloseReason::ReadTimeout
            | CloseReason::KeepAliveTimeout
            | CloseReason::Rejected
    ) {
        // Each of these closes after a GOAWAY the client must get to read, even if it is
        // still sending. Boxed: rare, and it would otherwise enlarge every connection's future.
        Box::pin(crate::conn::idle::linger(stream)).await;
    }
    reason
}

/// The write side: the socket, its write timer, and the core for the write timeout.
struct Sink<'a> {
    stream: &'a Transport,
    timer: Sleep,
    core: &'a Core,
}

impl Sink<'_> {
    async fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), CloseReason> {
        if out.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(out);
        let n = buf.len();
        let deadline = time::now() + self.core.config().write_timeout;
        match until(&mut self.timer, deadline, self.stream.write_all(buf)).await {
            Ok((Ok(()), mut buf)) => {
                self.core.stats().bytes_out(n);
                buf.clear();
                *out = buf;
                Ok(())
            }
            Ok((Err(_), _)) => Err(CloseReason::IoError),
            Err(Expired) => Err(CloseReason::WriteTimeout),
        }
    }

    /// Ends the connection with GOAWAY `code`: writes it after whatever is queued.
    async fn goaway(
        &mut self,
        conn: &mut Connection,
        code: ErrorCode,
        debug: &[u8],
        out: &mut Vec<u8>,
    ) {
        let stats = self.core.stats();
        stats.stream_goaway();
        if code != ErrorCode::NO_ERROR {
            stats.stream_error(code.0);
        }
        let _ = conn.goaway(code, debug, out);
        let _ = self.flush(out).await;
    }
}

async fn run(
    stream: &Transport,
    core: &Core,
    server: &StreamServer,
    key: usize,
    initial: Vec<u8>,
) -> CloseReason {
    let stats = core.stats();
    stats.stream_connection();
    let Ok(mut conn) = Connection::new(Role::Server, server.settings) else {
        return CloseReason::ProtocolError;
    };
    let hub = server.hub.as_ref();
    let config = core.config();
    let mut clock = Clock::new(config.stream, config.keepalive_timeout, time::now());
    let mut meter = RateMeter::new(RateCaps::default());
    let mut input = if initial.is_empty() {
        Input::Empty
    } else {
        Input::Carry {
            buf: initial,
            pos: 0,
        }
    };
    let mut out: Vec<u8> = Vec::new();
    let signal = Rc::new(Signal::default());
    let mut admission = Admission::new(core.edge(), core.peer(key), stream.client_identity());
    // Each entry holds its place in the core's open-streams gauge until it is dropped.
    let mut streams: Vec<(u32, Svc, OpenStream<'_>)> = Vec::new();
    let mut sink = Sink {
        stream,
        timer: time::sleep_until(time::now()),
        core,
    };
    if let Err((code, debug)) = admission.at_connect() {
        sink.goaway(&mut conn, code, debug, &mut out).await;
        return CloseReason::Rejected;
    }
    let mut deadline = time::sleep_until(time::now());
    // Ours and the peer's apart: a client's GOAWAY must not keep ours from going out on drain.
    let mut goaway_sent = false;
    let mut peer_goaway = false;
    let mut mail = false;
    let mut eager = 0;
    let mut ended = None;
    // A frame completed since the clock last looked (so a partial frame left is a new one).
    let mut completed = false;
    loop {
        let now = time::now();
        // Everything decodable now; payloads are slices of the receive buffer.
        loop {
            let bytes = input.bytes();
            if bytes.is_empty() {
                break;
            }
            let (used, event) = match conn.decode(bytes, &mut out) {
                Ok(step) => step,
                Err(e) => {
                    stats.stream_error(e.code().map_or(0, |c| c.0));
                    let _ = sink.flush(&mut out).await;
                    return CloseReason::ProtocolError;
                }
            };
            completed |= used > 0;
            let Some(event) = event else {
                // Frames with nothing to report (DATA for a closed stream) were consumed on
                // the way: they must not be decoded again with the partial frame after them.
                input.advance(used);
                break;
            };
            let work = PeerWork::of(&event);
            match event {
                Event::Pong(payload) => clock.pong(payload),
                Event::GoAway { .. } => peer_goaway = true,
                _ => {}
            }
            // The handshake decides who the client is, or refuses it.
            let verdict = match event {
                Event::Auth(token) => admission.on_auth(token).and_then(|()| {
                    conn.accept_hello(&mut out)
                        .map_err(|_| (ErrorCode::PROTOCOL_ERROR, &b"handshake"[..]))
                }),
                _ => Ok(()),
            };
            if let Err((code, debug)) = verdict {
                input.advance(used);
                sink.goaway(&mut conn, code, debug, &mut out).await;
                return CloseReason::Rejected;
            }
            let handled = on_event(
                event,
                &mut conn,
                &mut streams,
                &mut out,
                server,
                &signal,
                core,
                &admission,
            );
            input.advance(used);
            let provoked = match handled {
                Ok(reset) => work.or(reset.then_some(PeerWork::Reset)),
                Err(e) => {
                    tracing::debug!("stream connection: {e}");
                    let _ = sink.flush(&mut out).await;
                    return CloseReason::ProtocolError;
                }
            };
            if let Some(work) = provoked {
                if let Err(over) = meter.record(work, clock.elapsed(now)) {
                    return calm(&mut sink, &mut conn, over, &mut out).await;
                }
            }
        }
        // Bytes that have already arrived are answered by the same write: io_uring hands a
        // burst over as several completions (one per ring buffer), and writing between them
        // splits every answer in two (fan-out measured half-size writes at twice the rate).
        // Bounded, so a peer that never pauses still gets its answers.
        if ended.is_none() && eager < EAGER_RECVS && out.len() < EAGER_OUT {
            eager += 1;
            match poll_fn(|cx| Poll::Ready(stream.poll_recv(cx))).await {
                Poll::Ready(Ok(Some(buf))) => {
                    stats.bytes_in(buf.len());
                    clock.heard(now);
                    input.push(buf);
                    continue;
                }
                Poll::Ready(Ok(None)) => ended = Some(CloseReason::ClientClosed),
                Poll::Ready(Err(_)) => ended = Some(CloseReason::IoError),
                Poll::Pending => {}
            }
        }
        // Send what the windows allow: echo backlogs, subscription mail.
        if mail || !streams.is_empty() {
            mail = false;
            let mut i = 0;
            while i < streams.len() {
                let (id, svc, _) = &mut streams[i];
                match service::pump(svc, *id, &mut conn, &mut out) {
                    Ok(After::Keep) => i += 1,
                    Ok(After::Remove) => service::dropped(streams.swap_remove(i).1, hub),
                    Err(_) => return CloseReason::ProtocolError,
                }
            }
        }
        if core.is_draining() && !goaway_sent {
            goaway_sent = true;
            stats.stream_goaway();
            let _ = conn.goaway(ErrorCode::NO_ERROR, b"draining", &mut out);
            let mut i = 0;
            while i < streams.len() {
                let (id, svc, _) = &mut streams[i];
                match service::end_for_drain(svc, *id, &mut conn, &mut out, hub) {
                    Ok(After::Keep) => i += 1,
                    _ => service::dropped(streams.swap_remove(i).1, hub),
                }
            }
        }
        // Deadlines: what passed is acted on; the earliest still ahead arms the timer.
        let ready = conn.peer_settings().is_some();
        let partial = !input.bytes().is_empty();
        clock.update(now, ready, partial, completed, conn.open_streams());
        completed = false;
        if ended.is_none() {
            if let Some((_, due)) = clock.next().filter(|(at, _)| now >= *at) {
                match due {
                    Due::Ping => {
                        let payload = clock.ping_sent(now);
                        let _ = conn.ping(payload, &mut out);
                    }
                    Due::Idle => {
                        sink.goaway(&mut conn, ErrorCode::NO_ERROR, due.message(), &mut out)
                            .await;
                        return CloseReason::KeepAliveTimeout;
                    }
                    Due::Handshake | Due::Frame | Due::DeadPeer => {
                        tracing::debug!(
                            "stream connection closed: {}",
                            String::from_utf8_lossy(due.message())
                        );
                        sink.goaway(&mut conn, ErrorCode::TIMEOUT, due.message(), &mut out)
                            .await;
                        return CloseReason::ReadTimeout;
                    }
                }
            }
        }
        if let Err(reason) = sink.flush(&mut out).await {
            return reason;
        }
        if let Some(reason) = ended {
            return reason;
        }
        if (goaway_sent || peer_goaway) && conn.open_streams() == 0 {
            return if goaway_sent {
                CloseReason::Drain
            } else {
                CloseReason::ClientClosed
            };
        }
        // Wait for bytes, mail or a deadline, holding no receive buffer while the peer is slow.
        input.detach();
        let timed = clock.next().map(|(at, _)| at);
        if let Some(at) = timed {
            deadline.reset(at);
        }
        let woke = poll_fn(|cx| {
            if let Poll::Ready(r) = stream.poll_recv(cx) {
                return Poll::Ready(Wake::Bytes(r));
            }
            if signal.take(cx.waker()) {
                return Poll::Ready(Wake::Mail);
            }
            if !goaway_sent {
                if core.is_draining() {
                    return Poll::Ready(Wake::Drain);
                }
                core.watch_drain(key, cx.waker());
            }
            if timed.is_some() && Pin::new(&mut deadline).poll(cx).is_ready() {
                return Poll::Ready(Wake::Deadline);
            }
            Poll::Pending
        })
        .await;
        eager = 0;
        match woke {
            Wake::Bytes(Ok(Some(buf))) => {
                stats.bytes_in(buf.len());
                clock.heard(time::now());
                input.push(buf);
            }
            Wake::Bytes(Ok(None)) => return CloseReason::ClientClosed,
            Wake::Bytes(Err(_)) => return CloseReason::IoError,
            Wake::Mail => mail = true,
            Wake::Drain | Wake::Deadline => {}
        }
    }
}

/// A peer over one of its caps: GOAWAY ENHANCE_YOUR_CALM naming the cap, and close.
async fn calm(
    sink: &mut Sink<'_>,
    conn: &mut Connection,
    over: CapExceeded,
    out: &mut Vec<u8>,
) -> CloseReason {
    tracing::debug!("stream connection cut off: {over}");
    let debug = over.work.message().as_bytes();
    sink.goaway(conn, ErrorCode::ENHANCE_YOUR_CALM, debug, out)
        .await;
    CloseReason::ProtocolError
}

/// Handles one event. `Ok(true)`: the server reset a stream because of the peer (an unknown
/// service), which counts against the peer's reset cap.
#[allow(clippy::too_many_arguments)] // one call site; the loop's state, split for borrowing
fn on_event<'c>(
    event: Event<'_>,
    conn: &mut Connection,
    streams: &mut Vec<(u32, Svc, OpenStream<'c>)>,
    out: &mut Vec<u8>,
    server: &StreamServer,
    signal: &Rc<Signal>,
    core: &'c Core,
    admission: &Admission,
) -> Result<bool, ringwire_protocol::stream::Error> {
    let hub = server.hub.as_ref();
    let stats = core.stats();
    match event {
        Event::StreamOpened { id, service } => {
            // The edge first: what the service needs, its rate limits, the core's load.
            let (name, need): (&'static str, _) = match service {
                "echo" => {
                    let protected = admission.protects("echo");
                    ("echo", protected.then_some(Need::Data))
                }
                "pubsub" if hub.is_some() => ("pubsub", Some(Need::Data)),
                name => match server.named(name) {
                    Some((name, app)) => (name, app.need()),
                    None => ("", None),
                },
            };
            if !name.is_empty() {
                match admission.open(name, need, std::time::Instant::now()) {
                    Ok(access) => {
                        service::open(id, name, access, streams, server, signal, core);
                        return Ok(false);
                    }
                    Err(denial) => {
                        stats.stream_error(denial.stream_code().0);
                        conn.reset(id, denial.stream_code(), out)?;
                        return Ok(true);
                    }
                }
            }
            stats.stream_opened(2);
            conn.reset(id, ErrorCode::UNKNOWN_SERVICE, out)?;
            return Ok(true);
        }
        Event::Data { id, data, end } => {
            stats.stream_message_in();
            if let Some(i) = streams.iter().position(|(s, ..)| *s == id) {
                let (_, svc, _) = &mut streams[i];
                if let After::Remove = service::on_data(svc, id, data, end, conn, out, hub, signal)?
                {
                    service::dropped(streams.swap_remove(i).1, hub);
                }
            } else {
                // The service is done with the stream (it ended its side) but the peer is
                // still sending: nobody will read these bytes, so they go back to the
                // windows at once instead of shrinking the connection's for good.
                conn.consume(id, data.len(), out)?;
            }
        }
        Event::Reset { id, .. } | Event::StreamError { id, .. } => {
            stats.stream_reset();
            if let Some(i) = streams.iter().position(|(s, ..)| *s == id) {
                service::dropped(streams.swap_remove(i).1, hub);
            }
        }
        Event::GoAway { .. }
        | Event::Hello(_)
        | Event::Auth(_)
        | Event::Refused { .. }
        | Event::WindowOpened { .. }
        | Event::Ping(_)
        | Event::Pong(_) => {}
    }
    Ok(false)
}
