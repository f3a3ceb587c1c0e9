//! One stream-protocol connection: decode frames in place from the receive buffers, run each
//! stream's service, write everything ready in one write, wait for bytes or mail.

use super::{
    StreamServer,
    hub::Signal,
    service::{self, After, Svc},
};
use crate::{
    CloseReason, Core,
    conn::{
        deadline::{Expired, until},
        input::Input,
    },
};
use ringwire_protocol::stream::{Connection, ErrorCode, Event, Role};
use ringwire_reactor::{net::TcpStream, time};
use std::{future::poll_fn, rc::Rc, task::Poll};

/// At most this many already-received buffers are decoded before a write...
const EAGER_RECVS: u32 = 64;
/// ...and none once this much output is waiting.
const EAGER_OUT: usize = 256 * 1024;

enum Wake {
    Bytes(std::io::Result<Option<ringwire_reactor::buf::RecvBuf>>),
    Mail,
    Drain,
}

/// Serves a connection switched from HTTP/1.1 by `Upgrade`; `initial` holds the bytes that
/// followed the upgrade request.
pub(crate) async fn upgraded(
    stream: &TcpStream,
    core: &Core,
    key: usize,
    initial: Vec<u8>,
) -> CloseReason {
    match core.stream_server() {
        Some(server) => serve(stream, core, &server, key, initial).await,
        None => CloseReason::ProtocolError,
    }
}

/// Serves one connection until it closes; `initial` holds bytes already read (after an HTTP
/// upgrade). Returns why it ended.
pub(crate) async fn serve(
    stream: &TcpStream,
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
    let mut streams: Vec<(u32, Svc)> = Vec::new();
    let mut wtimer = time::sleep_until(time::now());
    let mut goaway = false;
    let mut mail = false;
    let mut eager = 0;
    let mut ended = None;
    loop {
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
                    let _ = flush(stream, &mut out, &mut wtimer, core).await;
                    return CloseReason::ProtocolError;
                }
            };
            let Some(event) = event else { break };
            let handled = on_event(
                event,
                &mut conn,
                &mut streams,
                &mut out,
                server,
                &signal,
                &mut goaway,
                core,
            );
            input.advance(used);
            if let Err(e) = handled {
                tracing::debug!("stream connection: {e}");
                let _ = flush(stream, &mut out, &mut wtimer, core).await;
                return CloseReason::ProtocolError;
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
                let (id, svc) = &mut streams[i];
                match service::pump(svc, *id, &mut conn, &mut out) {
                    Ok(After::Keep) => i += 1,
                    Ok(After::Remove) => service::dropped(streams.swap_remove(i).1, hub),
                    Err(_) => return CloseReason::ProtocolError,
                }
            }
        }
        if core.is_draining() && !goaway {
            goaway = true;
            stats.stream_goaway();
            let _ = conn.goaway(ErrorCode::NO_ERROR, b"draining", &mut out);
            let mut i = 0;
            while i < streams.len() {
                let (id, svc) = &mut streams[i];
                match service::end_for_drain(svc, *id, &mut conn, &mut out, hub) {
                    Ok(After::Keep) => i += 1,
                    _ => service::dropped(streams.swap_remove(i).1, hub),
                }
            }
        }
        if let Err(reason) = flush(stream, &mut out, &mut wtimer, core).await {
            return reason;
        }
        if let Some(reason) = ended {
            return reason;
        }
        if goaway && conn.open_streams() == 0 {
            return CloseReason::Drain;
        }
        // Wait for bytes or mail, holding no receive buffer while the peer is slow.
        input.detach();
        let idle = streams.is_empty();
        if idle {
            core.set_idle(key, Some(time::now()));
        }
        let woke = poll_fn(|cx| {
            if let Poll::Ready(r) = stream.poll_recv(cx) {
                return Poll::Ready(Wake::Bytes(r));
            }
            if signal.take(cx.waker()) {
                return Poll::Ready(Wake::Mail);
            }
            if !goaway {
                if core.is_draining() {
                    return Poll::Ready(Wake::Drain);
                }
                core.watch_drain(key, cx.waker());
            }
            Poll::Pending
        })
        .await;
        if idle {
            core.set_idle(key, None);
        }
        eager = 0;
        match woke {
            Wake::Bytes(Ok(Some(buf))) => {
                stats.bytes_in(buf.len());
                input.push(buf);
            }
            Wake::Bytes(Ok(None)) => return CloseReason::ClientClosed,
            Wake::Bytes(Err(_)) => return CloseReason::IoError,
            Wake::Mail => mail = true,
            Wake::Drain => {}
        }
    }
}

#[allow(clippy::too_many_arguments)] // the loop's state, passed apart for borrowing
fn on_event(
    event: Event<'_>,
    conn: &mut Connection,
    streams: &mut Vec<(u32, Svc)>,
    out: &mut Vec<u8>,
    server: &StreamServer,
    signal: &Rc<Signal>,
    goaway: &mut bool,
    core: &Core,
) -> Result<(), ringwire_protocol::stream::Error> {
    let hub = server.hub.as_ref();
    let stats = core.stats();
    match event {
        Event::StreamOpened { id, service } => match service {
            "echo" => {
                stats.stream_opened(0);
                streams.push((
                    id,
                    Svc::Echo {
                        backlog: Vec::new(),
                        end: false,
                    },
                ));
            }
            "pubsub" if hub.is_some() => {
                stats.stream_opened(1);
                streams.push((id, Svc::Command));
            }
            _ => {
                stats.stream_opened(2);
                conn.reset(id, ErrorCode::UNKNOWN_SERVICE, out)?;
            }
        },
        Event::Data { id, data, end } => {
            stats.stream_message_in();
            if let Some(i) = streams.iter().position(|(s, _)| *s == id) {
                let (_, svc) = &mut streams[i];
                if let After::Remove = service::on_data(svc, id, data, end, conn, out, hub, signal)?
                {
                    service::dropped(streams.swap_remove(i).1, hub);
                }
            }
        }
        Event::Reset { id, .. } | Event::StreamError { id, .. } => {
            stats.stream_reset();
            if let Some(i) = streams.iter().position(|(s, _)| *s == id) {
                service::dropped(streams.swap_remove(i).1, hub);
            }
        }
        Event::GoAway { .. } => *goaway = true,
        Event::Hello(_)
        | Event::Refused { .. }
        | Event::WindowOpened { .. }
        | Event::Ping(_)
        | Event::Pong(_) => {}
    }
    Ok(())
}

async fn flush(
    stream: &TcpStream,
    out: &mut Vec<u8>,
    timer: &mut ringwire_reactor::time::Sleep,
    core: &Core,
) -> Result<(), CloseReason> {
    if out.is_empty() {
        return Ok(());
    }
    let buf = std::mem::take(out);
    let n = buf.len();
    let deadline = time::now() + core.config().write_timeout;
    match until(timer, deadline, stream.write_all(buf)).await {
        Ok((Ok(()), mut buf)) => {
            core.stats().bytes_out(n);
            buf.clear();
            *out = buf;
            Ok(())
        }
        Ok((Err(_), _)) => Err(CloseReason::IoError),
        Err(Expired) => Err(CloseReason::WriteTimeout),
    }
}
