//! The connection state machine, receiving side: frames in, events out.

use super::error::{Error, ErrorCode};
use super::event::{Event, Role};
use super::flow::{RecvWindow, SendWindow};
use super::frame::{self, Frame};
use super::header::FrameType;
use super::settings::{MAX_AUTH_TOKEN, MIN_FRAME_SIZE, Settings};
use super::streams::{Stream, StreamState, Streams};

/// One connection's protocol state, without any I/O. See the [module docs](super).
#[derive(Debug, Clone)]
pub struct Connection {
    pub(crate) role: Role,
    pub(crate) local: Settings,
    pub(crate) peer: Option<Settings>,
    pub(crate) hello_sent: bool,
    pub(crate) streams: Streams,
    pub(crate) send: SendWindow,
    pub(crate) recv: RecvWindow,
    /// Highest client stream id seen: in an OPEN received (server) or sent (client).
    pub(crate) last_id: u32,
    /// Server: highest stream id accepted, the `last_id` of a GOAWAY.
    pub(crate) last_accepted: u32,
    pub(crate) goaway_sent: Option<u32>,
    pub(crate) goaway_received: Option<u32>,
    pub(crate) failed: Option<Error>,
    pub(crate) auth: Auth,
}

/// Where the handshake stands with respect to a token (docs/PROTOCOL.md, "Handshake").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    /// No token in this handshake, or its part is done.
    None,
    /// Client: the token its HELLO will carry.
    Send(Token),
    /// Server: a HELLO with the AUTH flag arrived (these settings); AUTH must come next.
    AwaitToken(Settings),
    /// Server: the token was reported; the application accepts or refuses the client.
    AwaitDecision(Settings),
}

/// A token held by a client until it is sent. Its `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token(pub(crate) Box<[u8]>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({} bytes)", self.0.len())
    }
}

impl Connection {
    /// A connection in `role` enforcing `local` settings (which the peer learns from this
    /// side's HELLO). Fails if a setting is out of range ([`Settings::validate`]).
    pub fn new(role: Role, local: Settings) -> Result<Connection, Error> {
        local.validate()?;
        Ok(Connection {
            role,
            local,
            peer: None,
            hello_sent: false,
            // Grown on demand up to the limit; a huge limit must not cost memory up front.
            streams: Streams::with_capacity(local.max_concurrent_streams.min(128) as usize),
            send: SendWindow::new(0),
            recv: RecvWindow::new(local.initial_connection_window),
            last_id: 0,
            last_accepted: 0,
            goaway_sent: None,
            goaway_received: None,
            failed: None,
            auth: Auth::None,
        })
    }

    /// A client whose HELLO carries the AUTH flag and is followed by an AUTH frame with
    /// `token` (a signed token, as `ringwire token issue` prints it). The server answers with
    /// its HELLO if it accepts the token, or with GOAWAY UNAUTHENTICATED or FORBIDDEN.
    ///
    /// Fails with [`Error::BadToken`] for an empty token or one over
    /// [`MAX_AUTH_TOKEN`](super::MAX_AUTH_TOKEN) bytes, and as [`Connection::new`] for
    /// settings out of range.
    pub fn new_client_with_token(local: Settings, token: &[u8]) -> Result<Connection, Error> {
        if token.is_empty() || token.len() > MAX_AUTH_TOKEN {
            return Err(Error::BadToken);
        }
        let mut conn = Connection::new(Role::Client, local)?;
        conn.auth = Auth::Send(Token(token.into()));
        Ok(conn)
    }

    /// Decodes frames from `input` until one has something to report.
    ///
    /// Returns how many bytes were consumed and the event, or `None` when the rest of the
    /// input is an incomplete frame: keep the bytes after `consumed`, read more, call again.
    /// Frames with nothing to report (DATA for a stream that is already closed, updates for
    /// it) are consumed silently on the way. Whatever the codec must send in reply (HELLO,
    /// PONG, WINDOW_UPDATE, RESET, GOAWAY) is appended to `out`.
    ///
    /// A connection error writes GOAWAY into `out` and is returned by this and every later
    /// call. The result never depends on how the input was split across calls.
    pub fn decode<'a>(
        &mut self,
        input: &'a [u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, Option<Event<'a>>), Error> {
        self.check_alive()?;
        if let Auth::AwaitDecision(_) = self.auth {
            return Err(Error::NotReady);
        }
        let mut pos = 0;
        loop {
            let decoded = frame::decode(&input[pos..], &self.local);
            let (frame, len) = match decoded {
                Ok(Some(f)) => f,
                Ok(None) => return Ok((pos, None)),
                Err(e) => return Err(self.fail(e, out)),
            };
            pos += len;
            match self.on_frame(frame, out) {
                Ok(Some(event)) => return Ok((pos, Some(event))),
                Ok(None) => {}
                Err(e) => return Err(self.fail(e, out)),
            }
        }
    }

    pub(crate) fn check_alive(&self) -> Result<(), Error> {
        self.failed.map_or(Ok(()), Err)
    }

    /// Ends the connection with `e`: a GOAWAY for an error this side detected, then every
    /// stream dropped so nothing can be sent or delivered any more.
    fn fail(&mut self, e: Error, out: &mut Vec<u8>) -> Error {
        if let (Some(code), false) = (e.code(), matches!(e, Error::PeerError(_))) {
            self.write_goaway(code, e.message().as_bytes(), out);
        }
        self.close_all(e);
        e
    }

    pub(crate) fn close_all(&mut self, e: Error) {
        self.failed = Some(e);
        self.streams.remove_above(0);
        self.recv = RecvWindow::new(0);
    }

    /// The `last_id` this side puts in a GOAWAY: the highest stream it accepted (server), or
    /// 0 (a client accepts no streams).
    fn goaway_last_id(&self) -> u32 {
        match self.role {
            Role::Server => self.goaway_sent.unwrap_or(self.last_accepted),
            Role::Client => 0,
        }
    }

    pub(crate) fn write_goaway(&mut self, code: ErrorCode, debug: &[u8], out: &mut Vec<u8>) -> u32 {
        let last_id = self.goaway_last_id();
        let max = self.peer.map_or(MIN_FRAME_SIZE, |p| p.max_frame_size) as usize - 8;
        let debug = &debug[..debug.len().min(max)];
        Frame::GoAway {
            last_id,
            code,
            debug,
        }
        .encode(out);
        self.goaway_sent = Some(last_id);
        last_id
    }

    fn on_frame<'a>(
        &mut self,
        frame: Frame<'a>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Event<'a>>, Error> {
        let Some(peer) = self.peer else {
            return self.on_handshake_frame(frame, out);
        };
        match frame {
            Frame::Hello(_) | Frame::HelloAuth(_) => Err(Error::UnexpectedHello),
            Frame::Auth(_) => Err(Error::UnexpectedAuth),
            Frame::Open { id, service } => self.on_open(id, service, peer, out),
            Frame::Data { id, data, end } => self.on_data(id, data, end, out),
            Frame::Reset { id, code } => {
                self.check_opened(id)?;
                Ok(self
                    .close_stream(id, out)
                    .then_some(Event::Reset { id, code }))
            }
            Frame::WindowUpdate { id: 0, increment } => {
                if !self.send.increase(increment) {
                    return Err(Error::ConnectionWindowOverflow);
                }
                Ok(Some(Event::WindowOpened { id: 0 }))
            }
            Frame::WindowUpdate { id, increment } => {
                self.check_opened(id)?;
                let Some(s) = self.streams.get_mut(id) else {
                    return Ok(None);
                };
                if !s.send.increase(increment) {
                    return Ok(Some(self.stream_error(
                        id,
                        ErrorCode::FLOW_CONTROL_ERROR,
                        out,
                    )));
                }
                Ok((!s.local_end).then_some(Event::WindowOpened { id }))
            }
            Frame::Ping(payload) => {
                Frame::Pong(payload).encode(out);
                Ok(Some(Event::Ping(payload)))
            }
            Frame::Pong(payload) => Ok(Some(Event::Pong(payload))),
            Frame::GoAway { .. } => Ok(self.on_goaway(frame)),
        }
    }

    /// A frame before the peer's HELLO took effect.
    fn on_handshake_frame<'a>(
        &mut self,
        frame: Frame<'a>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Event<'a>>, Error> {
        if let Auth::AwaitToken(settings) = self.auth {
            let Frame::Auth(token) = frame else {
                return Err(Error::ExpectedAuth);
            };
            self.auth = Auth::AwaitDecision(settings);
            return Ok(Some(Event::Auth(token)));
        }
        match frame {
            Frame::Hello(settings) => Ok(Some(self.on_hello(settings, out))),
            // Not answered: the token decides, once it has arrived.
            Frame::HelloAuth(settings) if self.role == Role::Server => {
                self.auth = Auth::AwaitToken(settings);
                Ok(None)
            }
            Frame::HelloAuth(_) => Err(Error::UnexpectedAuth),
            Frame::GoAway { .. } if self.role == Role::Client => Ok(self.on_goaway(frame)),
            _ => Err(Error::ExpectedHello),
        }
    }

    pub(crate) fn on_hello<'a>(&mut self, peer: Settings, out: &mut Vec<u8>) -> Event<'a> {
        self.peer = Some(peer);
        self.send = SendWindow::new(peer.initial_connection_window);
        if self.role == Role::Server {
            Frame::Hello(self.local).encode(out);
            self.hello_sent = true;
        }
        Event::Hello(peer)
    }

    fn on_open<'a>(
        &mut self,
        id: u32,
        service: &'a str,
        peer: Settings,
        out: &mut Vec<u8>,
    ) -> Result<Option<Event<'a>>, Error> {
        if self.role == Role::Client {
            return Err(Error::UnexpectedOpen);
        }
        if id % 2 == 0 || id <= self.last_id {
            return Err(Error::StreamIdNotIncreasing);
        }
        self.last_id = id;
        if self.goaway_sent.is_some()
            || self.streams.len() >= self.local.max_concurrent_streams as usize
        {
            write_reset(id, ErrorCode::REFUSED_STREAM, out);
            return Ok(Some(Event::Refused { id }));
        }
        let send = peer.initial_stream_window;
        self.streams
            .push(Stream::new(id, send, self.local.initial_stream_window));
        self.last_accepted = id;
        Ok(Some(Event::StreamOpened { id, service }))
    }

    fn on_data<'a>(
        &mut self,
        id: u32,
        data: &'a [u8],
        end: bool,
        out: &mut Vec<u8>,
    ) -> Result<Option<Event<'a>>, Error> {
        self.check_opened(id)?;
        // Fits a u32: the frame decoder bounds payloads by MAX_FRAME_SIZE (2^24-1).
        let n = data.len() as u32;
        if !self.recv.receive(n) {
            return Err(Error::ConnectionWindowExceeded);
        }
        let Some(s) = self.streams.get_mut(id) else {
            // Closed already (we may have reset it while these bytes were in flight): drop
            // them, but give their connection credit back or the connection would shrink.
            self.discard(n, out);
            return Ok(None);
        };
        let violation = if s.remote_end {
            Some(ErrorCode::STREAM_CLOSED)
        } else if !s.recv.receive(n) {
            Some(ErrorCode::FLOW_CONTROL_ERROR)
        } else {
            None
        };
        if let Some(code) = violation {
            self.discard(n, out);
            return Ok(Some(self.stream_error(id, code, out)));
        }
        if end {
            s.remote_end = true;
            if s.local_end {
                self.close_stream(id, out);
            }
        }
        Ok(Some(Event::Data { id, data, end }))
    }

    fn on_goaway<'a>(&mut self, frame: Frame<'a>) -> Option<Event<'a>> {
        let Frame::GoAway {
            last_id,
            code,
            debug,
        } = frame
        else {
            return None;
        };
        let last = self.goaway_received.map_or(last_id, |l| l.min(last_id));
        self.goaway_received = Some(last);
        if self.role == Role::Client {
            // Streams the server never processed: closed here, for the caller to retry.
            let held = self.streams.remove_above(last);
            self.recv.release(held);
        }
        if code != ErrorCode::NO_ERROR || self.peer.is_none() {
            self.close_all(Error::PeerError(code));
        }
        Some(Event::GoAway {
            last_id,
            code,
            debug,
        })
    }

    /// A frame may name only a stream that was opened: an odd id no higher than the last
    /// OPEN. Anything else is a peer that lost track of its streams.
    fn check_opened(&self, id: u32) -> Result<(), Error> {
        if id % 2 == 1 && id <= self.last_id {
            Ok(())
        } else {
            Err(Error::IdleStream)
        }
    }

    /// Drops `n` bytes the connection window took but no stream will deliver.
    fn discard(&mut self, n: u32, out: &mut Vec<u8>) {
        let released = self.recv.release(n);
        debug_assert!(released);
        self.announce_connection_credit(out);
    }

    fn stream_error<'a>(&mut self, id: u32, code: ErrorCode, out: &mut Vec<u8>) -> Event<'a> {
        self.close_stream(id, out);
        write_reset(id, code, out);
        Event::StreamError { id, code }
    }

    /// Removes a stream; what the application still held of it goes back to the connection
    /// window (it will never be consumed through a stream that is gone). `false` if the
    /// stream was not open.
    pub(crate) fn close_stream(&mut self, id: u32, out: &mut Vec<u8>) -> bool {
        let Some(mut s) = self.streams.remove(id) else {
            return false;
        };
        let held = s.recv.release_all();
        let released = self.recv.release(held);
        debug_assert!(released);
        self.announce_connection_credit(out);
        true
    }

    pub(crate) fn announce_connection_credit(&mut self, out: &mut Vec<u8>) {
        if let Some(n) = self.recv.take_update() {
            write_window_update(0, n, out);
        }
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The settings this side enforces (and announces).
    pub fn settings(&self) -> &Settings {
        &self.local
    }

    /// The peer's settings, once its HELLO has arrived.
    pub fn peer_settings(&self) -> Option<&Settings> {
        self.peer.as_ref()
    }

    /// Whether the handshake is done and the connection has not failed: streams and DATA
    /// may flow.
    pub fn is_ready(&self) -> bool {
        self.peer.is_some() && self.failed.is_none()
    }

    /// The error that ended the connection, if one did.
    pub fn error(&self) -> Option<Error> {
        self.failed
    }

    /// The state of stream `id`, or `None` if it is not open (never opened, or closed).
    pub fn stream_state(&self, id: u32) -> Option<StreamState> {
        self.streams.get(id).map(Stream::state)
    }

    /// How many streams are open (in any state short of closed). A draining server closes
    /// the connection when this reaches 0.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// The `last_id` of the GOAWAY this side sent, if it sent one.
    pub fn goaway_sent(&self) -> Option<u32> {
        self.goaway_sent
    }

    /// The lowest `last_id` of the GOAWAYs the peer sent, if it sent any.
    pub fn goaway_received(&self) -> Option<u32> {
        self.goaway_received
    }

    /// Checks the accounting invariants; panics if one is broken. For tests and fuzzing.
    #[doc(hidden)]
    pub fn assert_invariants(&self) {
        let held: u64 = self.streams.iter().map(|s| u64::from(s.recv.held())).sum();
        assert_eq!(
            held,
            u64::from(self.recv.held()),
            "connection held != sum of streams"
        );
        let total =
            |w: &RecvWindow| u64::from(w.window()) + u64::from(w.held()) + u64::from(w.credit());
        assert!(total(&self.recv) <= u64::from(super::settings::MAX_WINDOW));
        let mut last = 0;
        for s in self.streams.iter() {
            assert!(s.id > last && s.id % 2 == 1 && s.id <= self.last_id);
            assert!(
                !(s.local_end && s.remote_end),
                "closed stream {} kept",
                s.id
            );
            assert!(total(&s.recv) <= u64::from(super::settings::MAX_WINDOW));
            last = s.id;
        }
        if self.failed.is_some() {
            assert_eq!(self.streams.len(), 0);
        }
        if self.peer.is_some() {
            let limit = match self.role {
                Role::Server => self.local.max_concurrent_streams,
                Role::Client => self.peer.map_or(0, |p| p.max_concurrent_streams),
            };
            assert!(self.streams.len() <= limit as usize);
        }
    }
}

pub(crate) fn write_reset(id: u32, code: ErrorCode, out: &mut Vec<u8>) {
    Frame::Reset { id, code }.encode(out);
}

pub(crate) fn write_window_update(id: u32, increment: u32, out: &mut Vec<u8>) {
    frame::encode_header(out, FrameType::WindowUpdate, 0, id, 4);
    out.extend_from_slice(&increment.to_be_bytes());
}
