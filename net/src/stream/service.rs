//! The built-in stream services, as per-stream state machines driven by the connection loop:
//! `echo` sends every byte back on the same stream; `pubsub` takes one command line
//! (`SUB <channel>\n` or `PUB <channel>\n`), then subscribes the stream or publishes each
//! following DATA frame as one message.

use super::hub::{Hub, Mailbox, Signal};
use ringwire_protocol::stream::{Connection, Error as ProtoError, ErrorCode};
use std::{rc::Rc, sync::Arc};

/// Longest channel name.
const MAX_CHANNEL: usize = 64;

pub(crate) enum Svc {
    /// Bytes received but not yet echoed (the client's send window stays charged for them,
    /// which is what slows a client that does not read its echoes).
    Echo {
        backlog: Vec<u8>,
        end: bool,
    },
    /// A pubsub stream waiting for its command line.
    Command,
    Pub {
        channel: Arc<str>,
    },
    Sub {
        channel: Arc<str>,
        mailbox: Rc<Mailbox>,
    },
}

/// Parses `SUB <channel>\n` / `PUB <channel>\n`.
pub(crate) fn command(line: &[u8]) -> Option<(bool, &str)> {
    let line = line.strip_suffix(b"\n")?;
    let (verb, channel) = (line.get(..4)?, line.get(4..)?);
    let sub = match verb {
        b"SUB " => true,
        b"PUB " => false,
        _ => return None,
    };
    let ok = !channel.is_empty()
        && channel.len() <= MAX_CHANNEL
        && channel
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(c));
    if !ok {
        return None;
    }
    std::str::from_utf8(channel).ok().map(|c| (sub, c))
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
        Svc::Command => {
            conn.consume(id, data.len(), out)?;
            match (command(data), hub) {
                (Some((true, name)), Some(hub)) => {
                    let channel = hub.channel_name(name);
                    let mailbox = hub.subscribe(channel.clone(), signal.clone());
                    *svc = Svc::Sub { channel, mailbox };
                }
                (Some((false, name)), Some(hub)) => {
                    *svc = Svc::Pub {
                        channel: hub.channel_name(name),
                    }
                }
                (None, _) | (_, None) => {
                    conn.reset(id, ErrorCode::SERVICE_ERROR, out)?;
                    return Ok(After::Remove);
                }
            }
            if end {
                return finish(svc, id, conn, out, hub);
            }
        }
        Svc::Pub { channel } => {
            if !data.is_empty() {
                if let Some(hub) = hub {
                    hub.publish(channel, bytes::Bytes::copy_from_slice(data));
                }
            }
            conn.consume(id, data.len(), out)?;
            if end {
                return finish(svc, id, conn, out, hub);
            }
        }
        Svc::Sub { .. } => {
            // A subscriber sends nothing after its command; END ends the subscription.
            conn.consume(id, data.len(), out)?;
            if end {
                return finish(svc, id, conn, out, hub);
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
    match svc {
        Svc::Echo { backlog, end } if !backlog.is_empty() || *end => {
            if conn.stream_state(id).is_none() {
                return Ok(After::Remove);
            }
            let n = conn.send_data(id, backlog, *end, out)?;
            conn.consume(id, n, out)?;
            backlog.drain(..n);
        }
        Svc::Sub { mailbox, channel } => {
            if mailbox.overflowed() {
                conn.reset(id, ErrorCode::SLOW_CONSUMER, out)?;
                let _ = channel; // the caller drops the state, which leaves the channel
                return Ok(After::Remove);
            }
            while let Some(msg) = mailbox.front() {
                // A message goes out whole, in one frame, or waits for the window.
                if conn.send_capacity(id) < msg.len() {
                    break;
                }
                conn.send_data(id, &msg, false, out)?;
                mailbox.pop();
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

/// The client ended its side: end ours (subscriptions end with it).
fn finish(
    svc: &mut Svc,
    id: u32,
    conn: &mut Connection,
    out: &mut Vec<u8>,
    hub: Option<&Rc<Hub>>,
) -> Result<After, ProtoError> {
    if let (Svc::Sub { channel, .. }, Some(hub)) = (&*svc, hub) {
        let name = channel.clone();
        *svc = Svc::Command;
        hub.unsubscribe(&name);
    }
    conn.end_stream(id, out)?;
    Ok(After::Remove)
}

/// Drain: a subscription is ended by the server (it would never end otherwise).
pub(crate) fn end_for_drain(
    svc: &mut Svc,
    id: u32,
    conn: &mut Connection,
    out: &mut Vec<u8>,
    hub: Option<&Rc<Hub>>,
) -> Result<After, ProtoError> {
    match svc {
        Svc::Sub { .. } => finish(svc, id, conn, out, hub),
        _ => Ok(After::Keep),
    }
}

/// A stream going away for any reason: leave its channel (after dropping the mailbox, so the
/// channel's list can be tidied at once).
pub(crate) fn dropped(svc: Svc, hub: Option<&Rc<Hub>>) {
    if let (Svc::Sub { channel, mailbox }, Some(hub)) = (svc, hub) {
        drop(mailbox);
        hub.unsubscribe(&channel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines() {
        assert_eq!(command(b"SUB news\n"), Some((true, "news")));
        assert_eq!(command(b"PUB a.b:c-d_e\n"), Some((false, "a.b:c-d_e")));
        for bad in [
            &b"SUB news"[..],
            b"SUB \n",
            b"sub news\n",
            b"SUB a b\n",
            b"SUBnews\n",
            b"PUB \xff\n",
        ] {
            assert_eq!(command(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(
            command(format!("SUB {}\n", "x".repeat(65)).as_bytes()),
            None
        );
    }
}
