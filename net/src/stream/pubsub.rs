//! The `pubsub` service's streams: the command line, publishers held by full cross-core
//! queues, and subscribers sent their messages under the message rule of `docs/PROTOCOL.md`.
//!
//! **Message rule** (towards a subscriber): a message of at most the subscriber's *message
//! limit* (the smallest of its MAX_FRAME_SIZE and half of each of its initial windows, at
//! least 1) goes in one DATA frame, sent when the windows hold all of it. A larger message is
//! *split*: an empty DATA frame opens it, its bytes follow in as many non-empty DATA frames as
//! the windows and MAX_FRAME_SIZE need, and a second empty DATA frame closes it. Empty DATA
//! frames need no window, so a split message can always make progress.

use super::hub::{Held, Hub, SendError, Signal, Subscription};
use bytes::Bytes;
use ringwire_protocol::stream::{
    Connection, Error as ProtoError, FrameHeader, FrameType, Settings,
};
use std::{collections::VecDeque, rc::Rc, sync::Arc};

pub use ringwire_protocol::channels::{MAX_CHANNEL, valid_channel};

/// A `pubsub` stream's command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// `SUB <channel>\n`
    Sub(&'a str),
    /// `PUB <channel>\n`
    Pub(&'a str),
}

/// Parses a `pubsub` stream's first DATA payload: `SUB <channel>\n` or `PUB <channel>\n`
/// (the verb in capitals, one space, a channel as [`valid_channel`] defines it: 1 to
/// [`MAX_CHANNEL`] bytes of dot-separated non-empty tokens of `A-Z a-z 0-9 _ : -`, one `\n`,
/// nothing else). `None` for anything else.
pub fn parse_command(line: &[u8]) -> Option<Command<'_>> {
    let line = line.strip_suffix(b"\n")?;
    let (verb, channel) = (line.get(..4)?, line.get(4..)?);
    if !valid_channel(channel) {
        return None;
    }
    // A valid channel is ASCII.
    let channel = std::str::from_utf8(channel).ok()?;
    match verb {
        b"SUB " => Some(Command::Sub(channel)),
        b"PUB " => Some(Command::Pub(channel)),
        _ => None,
    }
}

/// The largest message a peer with `settings` gets in one DATA frame: its MAX_FRAME_SIZE, or
/// half an initial window if smaller (a ringwire receiver returns window in steps of half its
/// initial window, so only half is sure to come back while the sender waits).
pub fn message_limit(settings: &Settings) -> usize {
    let half = |w: u32| (w / 2) as usize;
    (settings.max_frame_size as usize)
        .min(half(settings.initial_stream_window))
        .min(half(settings.initial_connection_window))
        .max(1)
}

/// A publishing stream.
pub(crate) struct Publisher {
    hub: Rc<Hub>,
    channel: Arc<str>,
    signal: Rc<Signal>,
    /// Messages received but not yet taken by every core; their bytes are not consumed, so
    /// the publisher's window stays charged for them.
    waiting: VecDeque<Waiting>,
    /// The publisher ended its side; ours ends once `waiting` is empty.
    pub(crate) ended: bool,
    /// The cluster bridge refused a message (published nowhere): the caller resets the
    /// stream with `UNAVAILABLE`.
    pub(crate) refused: bool,
}

enum Waiting {
    /// Behind another held message: not published anywhere yet.
    New(Bytes),
    /// Published locally, still owed to some cores.
    Held(Held, usize),
}

impl Publisher {
    pub(crate) fn new(hub: Rc<Hub>, channel: Arc<str>, signal: Rc<Signal>) -> Publisher {
        Publisher {
            hub,
            channel,
            signal,
            waiting: VecDeque::new(),
            ended: false,
            refused: false,
        }
    }

    /// One message (a DATA frame's payload).
    pub(crate) fn message(
        &mut self,
        id: u32,
        data: &[u8],
        conn: &mut Connection,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtoError> {
        if data.is_empty() {
            return Ok(());
        }
        let payload = Bytes::copy_from_slice(data);
        if !self.waiting.is_empty() {
            self.waiting.push_back(Waiting::New(payload));
            return Ok(());
        }
        match self.hub.publish(&self.channel, 0, payload, &self.signal) {
            Ok(()) => conn.consume(id, data.len(), out),
            Err(SendError::Held(held)) => {
                self.waiting.push_back(Waiting::Held(held, data.len()));
                Ok(())
            }
            Err(SendError::Unavailable) => {
                self.refused = true;
                Ok(())
            }
        }
    }

    /// Retries what is held; consumes (returns the window of) each message every core took.
    /// True when nothing is held any more.
    pub(crate) fn pump(
        &mut self,
        id: u32,
        conn: &mut Connection,
        out: &mut Vec<u8>,
    ) -> Result<bool, ProtoError> {
        while let Some(front) = self.waiting.front_mut() {
            let len = match front {
                Waiting::New(payload) => {
                    let len = payload.len();
                    match self
                        .hub
                        .publish(&self.channel, 0, payload.clone(), &self.signal)
                    {
                        Ok(()) => len,
                        Err(SendError::Held(held)) => {
                            *front = Waiting::Held(held, len);
                            return Ok(false);
                        }
                        Err(SendError::Unavailable) => {
                            self.refused = true;
                            return Ok(false);
                        }
                    }
                }
                Waiting::Held(held, len) => {
                    if !self.hub.retry(held, &self.signal) {
                        return Ok(false);
                    }
                    *len
                }
            };
            self.waiting.pop_front();
            conn.consume(id, len, out)?;
        }
        Ok(true)
    }
}

/// A subscribed stream.
pub(crate) struct Subscriber {
    sub: Subscription,
    /// A split message being sent, and how much of it went out.
    split: Option<(Bytes, usize)>,
}

impl Subscriber {
    pub(crate) fn new(sub: Subscription) -> Subscriber {
        Subscriber { sub, split: None }
    }

    /// Sends what the windows allow under the message rule. True if the subscription
    /// overflowed: what could be sent was sent, and the caller resets the stream.
    pub(crate) fn pump(
        &mut self,
        id: u32,
        conn: &mut Connection,
        out: &mut Vec<u8>,
    ) -> Result<bool, ProtoError> {
        let limit = conn.peer_settings().map_or(1, message_limit);
        let mailbox = self.sub.mailbox();
        loop {
            if let Some((msg, sent)) = &mut self.split {
                *sent += conn.send_data(id, &msg[*sent..], false, out)?;
                if *sent < msg.len() {
                    break;
                }
                marker(id, out);
                self.split = None;
                continue;
            }
            let Some(msg) = mailbox.front() else { break };
            if msg.len() <= limit {
                if conn.send_capacity(id) < msg.len() {
                    break;
                }
                conn.send_data(id, &msg, false, out)?;
            } else {
                marker(id, out);
                self.split = Some((msg, 0));
            }
            mailbox.pop();
        }
        Ok(mailbox.overflowed())
    }
}

/// An empty DATA frame: opens or closes a split message. It needs no window (the codec's
/// `send_data` sends no empty frame without END_STREAM, so it is written here).
fn marker(id: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&FrameHeader::new(FrameType::Data, 0, id, 0).to_bytes());
}

#[cfg(test)]
mod tests;
