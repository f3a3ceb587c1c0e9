//! The connection state shared by the client's handles and its two background tasks: the
//! codec, the output buffer, and what each stream, ping and opener is waiting for.
//!
//! Everything runs on one core, so a `RefCell` is enough; no borrow is ever held across an
//! `.await`. The application calls are in `ops.rs`; this file is the receiving side.

use super::error::{Failure, reset_message};
use bytes::{Bytes, BytesMut};
use ringwire_protocol::stream::{Connection, Error as CodecError, ErrorCode, Event, Settings};
use std::{
    collections::{HashMap, VecDeque},
    io,
    rc::Rc,
    task::{Context, Poll, Waker},
    time::Instant,
};

/// What the client knows about one stream it opened, until its `Stream` handle is dropped.
pub(crate) struct Slot {
    pub(crate) service: Rc<str>,
    /// Received payloads not yet handed to the application. Still charged against the
    /// windows: they are consumed when `recv` hands them out.
    pub(crate) queue: VecDeque<Bytes>,
    /// The server sent END_STREAM.
    pub(crate) end: bool,
    /// Why the stream can no longer be used (RESET, refused by a GOAWAY, a stream error).
    pub(crate) failed: Option<Failure>,
    pub(crate) recv: Option<Waker>,
    pub(crate) send: Vec<Waker>,
    /// A split pub/sub message being put together by `recv_message`.
    pub(crate) assembling: Option<BytesMut>,
}

impl Slot {
    pub(crate) fn new(service: Rc<str>) -> Slot {
        Slot {
            service,
            queue: VecDeque::new(),
            end: false,
            failed: None,
            recv: None,
            send: Vec::new(),
            assembling: None,
        }
    }

    pub(crate) fn wake_all(&mut self) {
        if let Some(w) = self.recv.take() {
            w.wake();
        }
        self.send.drain(..).for_each(Waker::wake);
    }
}

pub(crate) struct Ping {
    pub(crate) id: u64,
    pub(crate) sent: Instant,
    pub(crate) answered: Option<Instant>,
    pub(crate) waker: Option<Waker>,
}

pub(crate) struct State {
    pub(crate) conn: Connection,
    /// Frames waiting for the writer task: every call appends here and the writer flushes
    /// whatever accumulated with one `write_all`.
    pub(crate) out: Vec<u8>,
    /// The writer's other buffer, so steady traffic swaps two vectors and allocates nothing.
    spare: Vec<u8>,
    writer: Option<Waker>,
    handshake: Option<Waker>,
    pub(crate) streams: HashMap<u32, Slot>,
    pub(crate) openers: Vec<Waker>,
    pub(crate) pings: Vec<Ping>,
    pub(crate) next_ping: u64,
    /// The largest message `send` keeps in one frame; see `atomic_limit`.
    pub(crate) atomic_limit: usize,
    /// The server's GOAWAY: its code and debug text.
    pub(crate) goaway: Option<(ErrorCode, String)>,
    /// Why the connection is over; every later call fails with it.
    pub(crate) dead: Option<Failure>,
    /// No handle will add output any more: the writer exits once `out` is flushed.
    closing: bool,
}

impl State {
    pub(crate) fn new(settings: Settings, token: Option<&[u8]>) -> io::Result<State> {
        let conn = match token {
            Some(token) => Connection::new_client_with_token(settings, token)
                .map_err(|e| super::error::usage(e, "cannot use this token"))?,
            None => Connection::new(ringwire_protocol::stream::Role::Client, settings)
                .map_err(|e| super::error::usage(e, "invalid client settings"))?,
        };
        Ok(State {
            conn,
            out: Vec::with_capacity(4096),
            spare: Vec::with_capacity(4096),
            writer: None,
            handshake: None,
            streams: HashMap::new(),
            openers: Vec::new(),
            pings: Vec::new(),
            next_ping: 0,
            atomic_limit: 1,
            goaway: None,
            dead: None,
            closing: false,
        })
    }

    pub(crate) fn wake_writer(&mut self) {
        if !self.out.is_empty() || self.closing || self.dead.is_some() {
            if let Some(w) = self.writer.take() {
                w.wake();
            }
        }
    }

    /// Writer task: the next batch to write, or `None` when it should stop.
    pub(crate) fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        if !self.out.is_empty() {
            let next = std::mem::take(&mut self.spare);
            return Poll::Ready(Some(std::mem::replace(&mut self.out, next)));
        }
        if self.closing || self.dead.is_some() {
            return Poll::Ready(None);
        }
        self.writer = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Writer task: a buffer that was written, to be reused.
    pub(crate) fn recycle(&mut self, mut buf: Vec<u8>) {
        // A burst must not pin a huge buffer for the rest of the connection.
        if buf.capacity() <= 1 << 20 {
            buf.clear();
            self.spare = buf;
        }
    }

    /// The end is this client's doing (a close, or every handle dropped), not a failure.
    pub(crate) fn ended_by_client(&self) -> bool {
        self.closing
            && self
                .dead
                .as_ref()
                .is_none_or(|f| f.kind() == io::ErrorKind::NotConnected)
    }

    /// The handles are gone: flush what is queued, then let the writer end.
    pub(crate) fn close_quietly(&mut self) {
        self.closing = true;
        self.wake_writer();
    }

    pub(crate) fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(f) = &self.dead {
            return Poll::Ready(Err(f.to_io()));
        }
        if self.conn.is_ready() {
            return Poll::Ready(Ok(()));
        }
        self.handshake = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Ends the connection for everyone: every waiting call wakes up and finds `dead`.
    pub(crate) fn fail(&mut self, f: Failure) {
        if self.dead.is_some() {
            return;
        }
        self.dead = Some(f);
        if let Some(w) = self.handshake.take() {
            w.wake();
        }
        self.streams.values_mut().for_each(Slot::wake_all);
        self.openers.drain(..).for_each(Waker::wake);
        for p in &mut self.pings {
            if let Some(w) = p.waker.take() {
                w.wake();
            }
        }
        self.wake_writer();
    }

    /// The server closed; `tail` is what it sent after the last whole frame.
    pub(crate) fn on_eof(&mut self, tail: &[u8]) {
        let message = match (&self.goaway, self.conn.is_ready()) {
            (None, false) if super::io::looks_like_tls(tail) => {
                "the server answered with a TLS record and closed the connection: it speaks TLS \
                 on that port (connect with TLS, --tls)"
                    .to_string()
            }
            (Some((code, _)), _) => {
                format!(
                    "the server closed the connection after GOAWAY {code} (it is shutting down)"
                )
            }
            (None, false) => "the server closed the connection during the handshake (is this a \
                              ringwire stream port? the HTTP port needs the upgrade, a TLS port \
                              needs TLS)"
                .to_string(),
            (None, true) => "the server closed the connection".to_string(),
        };
        self.fail(Failure::new(io::ErrorKind::UnexpectedEof, None, message));
    }

    pub(crate) fn on_io_error(&mut self, e: &io::Error) {
        let message = format!("the connection to the server failed: {e}");
        self.fail(Failure::new(e.kind(), None, message));
    }

    /// Decodes every whole frame in `chunk` and returns how many bytes that took; the rest is
    /// a partial frame for the caller to keep.
    pub(crate) fn on_input(&mut self, chunk: &Bytes) -> usize {
        let mut pos = 0;
        while self.dead.is_none() {
            match self.conn.decode(&chunk[pos..], &mut self.out) {
                Ok((used, event)) => {
                    pos += used;
                    match event {
                        Some(event) => self.on_event(event, chunk),
                        None => break,
                    }
                }
                Err(CodecError::UnsupportedVersion(v)) if self.conn.peer_settings().is_none() => {
                    let hint = match v {
                        b'H' => " ('H': an HTTP server? its port needs the upgrade)",
                        // A TLS alert or handshake record: the server wants TLS.
                        0x15 | 0x16 => {
                            " (a TLS record: the server speaks TLS on that port; connect with TLS, --tls)"
                        }
                        _ => "",
                    };
                    let message = format!(
                        "the server does not speak ringwire-stream/1 (its first frame has \
                         version byte {v}){hint}"
                    );
                    let code = Some(ErrorCode::UNSUPPORTED_VERSION);
                    self.fail(Failure::new(io::ErrorKind::InvalidData, code, message));
                }
                Err(e) => {
                    let debug = self.goaway.as_ref().map(|g| g.1.clone());
                    self.fail(Failure::from_codec(e, debug.as_deref()));
                }
            }
        }
        self.wake_openers_if_room();
        self.wake_writer();
        pos
    }

    fn on_event(&mut self, event: Event<'_>, chunk: &Bytes) {
        match event {
            Event::Hello(peer) => {
                self.atomic_limit = atomic_limit(&peer);
                if let Some(w) = self.handshake.take() {
                    w.wake();
                }
            }
            Event::Data { id, data, end } => match self.streams.get_mut(&id) {
                Some(slot) => {
                    if !data.is_empty() {
                        slot.queue.push_back(payload(chunk, data));
                    } else if !end {
                        // An empty DATA frame: the bracket of a split pub/sub message.
                        slot.queue.push_back(Bytes::new());
                    }
                    slot.end |= end;
                    if let Some(w) = slot.recv.take() {
                        w.wake();
                    }
                }
                // No handle will ever consume these bytes: give the window back now.
                None => {
                    let _ = self.conn.consume(id, data.len(), &mut self.out);
                }
            },
            Event::Reset { id, code } => self.stream_failed(id, |service| {
                let msg = reset_message(id, service, code, true);
                Failure::new(io::ErrorKind::ConnectionReset, Some(code), msg)
            }),
            Event::StreamError { id, code } => self.stream_failed(id, |service| {
                let msg = format!(
                    "the server broke the protocol on stream {id} to service \"{service}\"; \
                     this client reset it with {code}"
                );
                Failure::new(io::ErrorKind::InvalidData, Some(code), msg)
            }),
            Event::WindowOpened { id: 0 } => {
                for slot in self.streams.values_mut() {
                    slot.send.drain(..).for_each(Waker::wake);
                }
            }
            Event::WindowOpened { id } => {
                if let Some(slot) = self.streams.get_mut(&id) {
                    slot.send.drain(..).for_each(Waker::wake);
                }
            }
            Event::Pong(payload) => {
                let id = u64::from_be_bytes(payload);
                if let Some(p) = self.pings.iter_mut().find(|p| p.id == id) {
                    p.answered = Some(Instant::now());
                    if let Some(w) = p.waker.take() {
                        w.wake();
                    }
                }
            }
            Event::GoAway {
                last_id,
                code,
                debug,
            } => self.on_goaway(last_id, code, &String::from_utf8_lossy(debug)),
            // The codec already answered the PING; OPEN, refusals and tokens are server events.
            Event::Ping(_)
            | Event::StreamOpened { .. }
            | Event::Refused { .. }
            | Event::Auth(_) => {}
        }
    }

    fn on_goaway(&mut self, last_id: u32, code: ErrorCode, debug: &str) {
        self.goaway = Some((code, debug.to_string()));
        let quoted = if debug.is_empty() {
            String::new()
        } else {
            format!(" \"{debug}\"")
        };
        // The codec dropped the streams above `last_id` without an event each.
        for (&id, slot) in self.streams.iter_mut() {
            if id > last_id && slot.failed.is_none() {
                let msg = format!(
                    "stream {id} to service \"{}\" was not processed: the server is going away \
                     (GOAWAY {code}{quoted}); safe to retry on a new connection",
                    slot.service
                );
                let f = Failure::new(
                    io::ErrorKind::ConnectionRefused,
                    Some(ErrorCode::REFUSED_STREAM),
                    msg,
                );
                slot.failed = Some(f);
                slot.wake_all();
            }
        }
        self.openers.drain(..).for_each(Waker::wake);
        if let Some(e) = self.conn.error() {
            self.fail(Failure::from_codec(e, Some(debug)));
        }
    }

    fn stream_failed(&mut self, id: u32, failure: impl FnOnce(&str) -> Failure) {
        if let Some(slot) = self.streams.get_mut(&id) {
            if slot.failed.is_none() {
                slot.failed = Some(failure(&slot.service));
            }
            slot.wake_all();
        }
    }

    /// Wakes callers of `open` blocked on the server's MAX_CONCURRENT_STREAMS once a stream
    /// has closed.
    pub(crate) fn wake_openers_if_room(&mut self) {
        if self.openers.is_empty() {
            return;
        }
        let limit = self
            .conn
            .peer_settings()
            .map_or(0, |p| p.max_concurrent_streams as usize);
        if self.conn.open_streams() < limit || !self.conn.is_ready() {
            self.openers.drain(..).for_each(Waker::wake);
        }
    }
}

/// The largest message `send` puts in a single frame, waiting for the windows to hold all of
/// it. A ringwire receiver returns window in steps of half its initial window, so only half
/// is sure to come back while this client waits: waiting for more could wait forever.
fn atomic_limit(peer: &Settings) -> usize {
    let half = |w: u32| (w / 2) as usize;
    (peer.max_frame_size as usize)
        .min(half(peer.initial_stream_window))
        .min(half(peer.initial_connection_window))
        .max(1)
}

/// A received payload as `Bytes`: a slice of the receive chunk when it is a good part of it,
/// otherwise a copy, so a few small queued messages cannot pin many large chunks.
fn payload(chunk: &Bytes, data: &[u8]) -> Bytes {
    if data.len() * 4 >= chunk.len() {
        chunk.slice_ref(data)
    } else {
        Bytes::copy_from_slice(data)
    }
}

/// Maps an error from a codec call the application made to an `io::Error`: a fatal one ends
/// the connection for everyone, a usage error only fails this call.
pub(crate) fn codec_error(state: &mut State, e: CodecError, what: &str) -> io::Error {
    if e.is_fatal() {
        if state.dead.is_none() {
            let debug = state.goaway.as_ref().map(|g| g.1.clone());
            state.fail(Failure::from_codec(e, debug.as_deref()));
        }
        return match &state.dead {
            Some(f) => f.to_io(),
            None => io::Error::other(e),
        };
    }
    super::error::usage(e, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_messages_up_to_half_a_window_and_one_frame() {
        let mut s = Settings::default();
        assert_eq!(atomic_limit(&s), 16 * 1024);
        s.initial_stream_window = 4096;
        assert_eq!(atomic_limit(&s), 2048);
        s.initial_connection_window = 0;
        assert_eq!(atomic_limit(&s), 1);
    }

    #[test]
    fn small_payloads_are_copied_large_ones_sliced() {
        let chunk = Bytes::from(vec![1u8; 1000]);
        let big = payload(&chunk, &chunk[100..400]);
        assert_eq!(big.as_ptr(), chunk[100..].as_ptr());
        let small = payload(&chunk, &chunk[0..10]);
        assert_ne!(small.as_ptr(), chunk.as_ptr());
        assert_eq!(&small[..], &chunk[..10]);
    }
}
