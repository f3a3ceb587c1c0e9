//! The built-in stream services, as per-stream state machines driven by the connection loop:
//! `echo` sends every byte back on the same stream; `pubsub` takes one command line
//! (`SUB <channel>\n` or `PUB <channel>\n`), then subscribes the stream or publishes each
//! following DATA frame as one message.

use super::{
    StreamServer,
    hub::{Hub, Signal},
    pubsub::{Command, Publisher, Subscriber, parse_command},
};
use crate::{Core, auth::Need, edge::Access, stats::OpenStream};
use ringwire_protocol::stream::{Connection, Error as ProtoError, ErrorCode};
use std::rc::Rc;

pub(crate) enum Svc {
    /// Bytes received but not yet echoed (the client's send window stays charged for them,
    /// which is what slows a client that does not read its echoes).
    Echo {
        backlog: Vec<u8>,
        end: bool,
    },
    /// A pubsub stream waiting for its command line; the client's access checks it.
    Command(Rc<Access>),
    /// A stream whose service is done with it.
    Ended,
    Pub(Publisher),
    /// Dropping it ends the subscription, whatever ended the stream or the connection.
    Sub(Subscriber),
    /// A service plugged in from above (`StreamServer::with_services`).
    App(super::app::App),
}

/// What happened to a stream after handling an event.
pub(crate) enum After {
    Keep,
    /// The stream's state can go (closed, reset, or ended on both sides).
    Remove,
}

/// A DATA frame for stream `id`.
#[allow(clippy::too_many_arguments)] // one call site; the loop's state, split for borrowing
pub(crate) fn on_data(
    svc: &mut Svc,
    id: u32,
    data: &[u8],
    end: bool,
    conn: &mut Connection,
    out: &mut Vec<u8>,
    hub: Option<&Rc<Hub>>,
    signal: &Rc<Signal>,
) -> Result<After, ProtoError> {
    match svc {
        Svc::Echo {
            backlog,
            end: ended,
        } => {
            *ended |= end;
            if backlog.is_empty() {
                let n = conn.send_data(id, data, end, out)?;
                conn.consume(id, n, out)?;
                backlog.extend_from_slice(&data[n..]);
            } else {
                backlog.extend_from_slice(data);
            }
        }
        Svc::Command(access) => {
            conn.consume(id, data.len(), out)?;
            let need = match parse_command(data) {
                Some(Command::Sub(name)) => Some(Need::Sub(name)),
                Some(Command::Pub(name)) => Some(Need::Pub(name)),
                None => None,
            };
            if let Some(Err(denial)) = need.map(|n| access.request(n)) {
                conn.reset(id, denial.stream_code(), out)?;
                return Ok(After::Remove);
            }
            match (parse_command(data), hub) {
                (Some(Command::Sub(name)), Some(hub)) => {
                    let sub = hub.subscribe(hub.channel_name(name), signal.clone());
                    *svc = Svc::Sub(Subscriber::new(sub));
                }
                // A durable channel keeps its messages in the store: publishing goes through
                // the `channels` service, which appends first.
                (Some(Command::Pub(name)), Some(hub)) if hub.is_durable(name) => {
                    conn.reset(id, ErrorCode::SERVICE_ERROR, out)?;
                    return Ok(After::Remove);
                }
                (Some(Command::Pub(name)), Some(hub)) => {
                    let channel = hub.channel_name(name);
                    *svc = Svc::Pub(Publisher::new(hub.clone(), channel, signal.clone()));
                }
                (None, _) | (_, None) => {
                    conn.reset(id, ErrorCode::SERVICE_ERROR, out)?;
                    return Ok(After::Remove);
                }
            }
            if end {
                return finish(svc, id, conn, out);
            }
        }
        Svc::App(app) => {
            app.receive(data, end);
            return pump(svc, id, conn, out);
        }
        Svc::Pub(publisher) => {
            publisher.message(id, data, conn, out)?;
            if publisher.refused {
                conn.reset(id, ErrorCode::UNAVAILABLE, out)?;
                return Ok(After::Remove);
            }
            if end {
                publisher.ended = true;
                return pump(svc, id, conn, out);
            }
        }
        Svc::Ended => conn.consume(id, data.len(), out)?,
        Svc::Sub(_) => {
            // A subscriber sends nothing after its command; END ends the subscription.
            conn.consume(id, data.len(), out)?;
            if end {
                return finish(svc, id, conn, out);
            }
        }
    }
    Ok(if conn.stream_state(id).is_none() {
        After::Remove
    } else {
        After::Keep
    })
}

/// Sends what flow control now allows: echo backlog, subscription mail.
pub(crate) fn pump(
    svc: &mut Svc,
    id: u32,
    conn: &mut Connection,
    out: &mut Vec<u8>,
) -> Result<After, ProtoError> {
    if let Svc::App(app) = svc {
        let finished = app.pump(id, conn, out)?;
        return Ok(if finished { After::Remove } else { After::Keep });
    }
    match svc {
        Svc::Echo { backlog, end } if !backlog.is_empty() || *end => {
            if conn.stream_state(id).is_none() {
                return Ok(After::Remove);
            }
            let n = conn.send_data(id, backlog, *end, out)?;
            conn.consume(id, n, out)?;
            backlog.drain(..n);
        }
        Svc::Sub(subscriber) => {
            let overflowed = subscriber.pump(id, conn, out)?;
            if overflowed {
                // What the windows allowed went first, as the spec says.
                conn.reset(id, ErrorCode::SLOW_CONSUMER, out)?;
                return Ok(After::Remove);
            }
        }
        Svc::Pub(publisher) => {
            let all_sent = publisher.pump(id, conn, out)?;
            if publisher.refused {
                conn.reset(id, ErrorCode::UNAVAILABLE, out)?;
                return Ok(After::Remove);
            }
            if all_sent && publisher.ended {
                return finish(svc, id, conn, out);
            }
        }
        _ => {}
    }
    Ok(if conn.stream_state(id).is_none() {
        After::Remove
    } else {
        After::Keep
    })
}

/// The client ended its side (and a publisher's messages all went out): end ours.
fn finish(
    svc: &mut Svc,
    id: u32,
    conn: &mut Connection,
    out: &mut Vec<u8>,
) -> Result<After, ProtoError> {
    // Leaves the channel now (a subscription is dropped with its state).
    *svc = Svc::Ended;
    conn.end_stream(id, out)?;
    Ok(After::Remove)
}

/// Drain: a subscription is ended by the server (it would never end otherwise).
pub(crate) fn end_for_drain(
    svc: &mut Svc,
    id: u32,
    conn: &mut Connection,
    out: &mut Vec<u8>,
    _hub: Option<&Rc<Hub>>,
) -> Result<After, ProtoError> {
    match svc {
        Svc::Sub(_) => finish(svc, id, conn, out),
        _ => Ok(After::Keep),
    }
}

/// A stream going away for any reason. Its state's drop does the work (a subscription leaves
/// its channel); kept as the one place streams are let go.
pub(crate) fn dropped(svc: Svc, _hub: Option<&Rc<Hub>>) {
    drop(svc);
}

/// Starts serving stream `id` with the service `name` the edge let through.
pub(super) fn open<'c>(
    id: u32,
    name: &'static str,
    access: Access,
    streams: &mut Vec<(u32, Svc, OpenStream<'c>)>,
    server: &StreamServer,
    signal: &Rc<Signal>,
    core: &'c Core,
) {
    let stats = core.stats();
    let svc = match name {
        "echo" => {
            stats.stream_opened(0);
            Svc::Echo {
                backlog: Vec::new(),
                end: false,
            }
        }
        "pubsub" => {
            stats.stream_opened(1);
            Svc::Command(Rc::new(access))
        }
        _ => {
            stats.stream_opened(3);
            let Some((_, app)) = server.named(name) else {
                return;
            };
            Svc::App(super::app::App::new(app.as_ref(), signal, access))
        }
    };
    streams.push((id, svc, stats.open_stream()));
}
