//! The connection state machine, sending side: application calls in, frames out.
//!
//! Every call appends complete frames to the caller's buffer (or, for
//! [`Connection::prepare_data`], hands back a header to write in front of the caller's own
//! payload) and never exceeds a limit or a window the peer announced.

use super::conn::{Auth, Connection, write_reset, write_window_update};
use super::error::{Error, ErrorCode};
use super::event::Role;
use super::frame::Frame;
use super::header::{END_STREAM, FrameHeader, FrameType, HEADER_LEN, MAX_STREAM_ID};
use super::streams::Stream;

/// One DATA frame admitted by flow control, for a vectored write: write `header`, then the
/// next `len` bytes of the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFrame {
    /// The frame header, ready to write.
    pub header: [u8; HEADER_LEN],
    /// Payload bytes that must follow it (the windows have been charged for them).
    pub len: usize,
    /// Whether the frame carries END_STREAM.
    pub end: bool,
}

impl Connection {
    /// Client: appends this side's HELLO, the first frame of the connection. Call it once,
    /// before anything else; the server answers with its own HELLO
    /// ([`Event::Hello`](super::Event::Hello)), after which streams may be opened.
    pub fn hello(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.check_alive()?;
        if self.role != Role::Client || self.hello_sent {
            return Err(Error::WrongRole);
        }
        match std::mem::replace(&mut self.auth, Auth::None) {
            Auth::Send(token) => {
                Frame::HelloAuth(self.local).encode(out);
                Frame::Auth(&token.0).encode(out);
            }
            _ => Frame::Hello(self.local).encode(out),
        }
        self.hello_sent = true;
        Ok(())
    }

    /// Server: accepts a client whose token was reported by
    /// [`Event::Auth`](super::Event::Auth), and appends this side's HELLO. Streams may flow
    /// from now on. To refuse the client instead, call [`goaway`](Self::goaway) with
    /// UNAUTHENTICATED or FORBIDDEN and a short debug text, then close.
    ///
    /// [`Error::NotReady`] if no token is waiting for a decision; [`Error::WrongRole`] on a
    /// client, or once the handshake is done.
    pub fn accept_hello(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.check_alive()?;
        if self.role != Role::Server || self.peer.is_some() {
            return Err(Error::WrongRole);
        }
        let Auth::AwaitDecision(peer) = self.auth else {
            return Err(Error::NotReady);
        };
        self.auth = Auth::None;
        self.on_hello(peer, out);
        Ok(())
    }

    /// Client: opens a stream to `service` and returns its id. Data may follow at once.
    ///
    /// Fails, writing nothing, before the server's HELLO ([`Error::NotReady`]), after a
    /// GOAWAY ([`Error::GoingAway`]), at the server's MAX_CONCURRENT_STREAMS
    /// ([`Error::TooManyStreams`]: wait for a stream to close) or with a name the server
    /// would refuse ([`Error::BadServiceName`]).
    pub fn open_stream(&mut self, service: &str, out: &mut Vec<u8>) -> Result<u32, Error> {
        self.check_alive()?;
        if self.role != Role::Client {
            return Err(Error::WrongRole);
        }
        let peer = self.peer.ok_or(Error::NotReady)?;
        if self.goaway_sent.is_some() || self.goaway_received.is_some() {
            return Err(Error::GoingAway);
        }
        let name = service.as_bytes();
        if name.is_empty()
            || name.len() > peer.max_service_name as usize
            || !name.iter().all(|b| (0x21..=0x7e).contains(b))
        {
            return Err(Error::BadServiceName);
        }
        if self.streams.len() >= peer.max_concurrent_streams as usize {
            return Err(Error::TooManyStreams);
        }
        let id = if self.last_id == 0 {
            1
        } else {
            self.last_id + 2
        };
        if id > MAX_STREAM_ID {
            return Err(Error::StreamIdsExhausted);
        }
        Frame::Open { id, service }.encode(out);
        let recv = self.local.initial_stream_window;
        self.streams
            .push(Stream::new(id, peer.initial_stream_window, recv));
        self.last_id = id;
        Ok(id)
    }

    /// Bytes that may be sent on stream `id` right now: the smaller of the stream's and the
    /// connection's send windows. 0 if the stream is not open for sending.
    pub fn send_capacity(&self, id: u32) -> usize {
        match self.streams.get(id) {
            Some(s) if !s.local_end && self.failed.is_none() => {
                s.send.available().min(self.send.available()) as usize
            }
            _ => 0,
        }
    }

    /// Admits one DATA frame of up to `len` bytes on stream `id` and returns its header,
    /// for a caller that writes the payload from its own buffer (a vectored write, no copy).
    ///
    /// The frame holds as much as both send windows and the peer's MAX_FRAME_SIZE allow;
    /// it carries END_STREAM if `end` and all `len` bytes fit. `Ok(None)`: nothing to send,
    /// because the windows are closed (wait for [`Event::WindowOpened`](super::Event::WindowOpened))
    /// or `len` is 0 without `end`. Windows are charged now: the caller must write the
    /// header and exactly `len` payload bytes.
    ///
    /// A frame that closes the stream (END_STREAM after the peer's) returns the bytes the
    /// stream still held to the connection window, which may append a connection
    /// WINDOW_UPDATE to `out`; write `out` too (before or after the frame, either is fine).
    pub fn prepare_data(
        &mut self,
        id: u32,
        len: usize,
        end: bool,
        out: &mut Vec<u8>,
    ) -> Result<Option<DataFrame>, Error> {
        self.check_alive()?;
        let peer = self.peer.ok_or(Error::NotReady)?;
        let conn_window = self.send.available();
        let s = self.streams.get_mut(id).ok_or(Error::StreamNotOpen)?;
        if s.local_end {
            return Err(Error::SendAfterEnd);
        }
        let cap = s.send.available().min(conn_window).min(peer.max_frame_size);
        let n = len.min(cap as usize);
        let fin = end && n == len;
        if n == 0 && !fin {
            return Ok(None);
        }
        // n <= cap, a u32.
        s.send.spend(n as u32);
        self.send.spend(n as u32);
        let flags = if fin { END_STREAM } else { 0 };
        let header = FrameHeader::new(FrameType::Data, flags, id, n as u32).to_bytes();
        if fin {
            s.local_end = true;
            if s.remote_end {
                self.close_stream(id, out);
            }
        }
        Ok(Some(DataFrame {
            header,
            len: n,
            end: fin,
        }))
    }

    /// Appends DATA frames carrying as much of `data` as flow control allows (several frames
    /// if it exceeds the peer's MAX_FRAME_SIZE) and returns how many bytes were taken.
    ///
    /// Never exceeds a window: 0 means blocked (wait for
    /// [`Event::WindowOpened`](super::Event::WindowOpened), then send the rest). With `end`,
    /// END_STREAM goes on the frame that carries the last byte, so it is sent exactly when the
    /// return value equals `data.len()`; an empty `data` with `end` sends a bare END_STREAM.
    pub fn send_data(
        &mut self,
        id: u32,
        data: &[u8],
        end: bool,
        out: &mut Vec<u8>,
    ) -> Result<usize, Error> {
        let mut sent = 0;
        while let Some(frame) = self.prepare_data(id, data.len() - sent, end, out)? {
            // A connection WINDOW_UPDATE that came due was appended before the header.
            out.extend_from_slice(&frame.header);
            out.extend_from_slice(&data[sent..sent + frame.len]);
            sent += frame.len;
            if frame.end || sent == data.len() {
                break;
            }
        }
        Ok(sent)
    }

    /// Ends this side of stream `id` (a bare END_STREAM). Same as `send_data(id, &[], true, out)`.
    pub fn end_stream(&mut self, id: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        self.send_data(id, &[], true, out).map(|_| ())
    }

    /// Resets stream `id` with `code` and closes it; bytes it still held are returned to the
    /// connection window.
    pub fn reset(&mut self, id: u32, code: ErrorCode, out: &mut Vec<u8>) -> Result<(), Error> {
        self.check_alive()?;
        if self.streams.get(id).is_none() {
            return Err(Error::StreamNotOpen);
        }
        write_reset(id, code, out);
        self.close_stream(id, out);
        Ok(())
    }

    /// Tells the codec the application has processed `n` bytes delivered on stream `id`, so
    /// they may be returned to the peer. A WINDOW_UPDATE is appended when the credit owed on
    /// the stream or the connection reaches half its initial window.
    ///
    /// Until this is called, delivered bytes stay charged against both windows: an
    /// application that stops consuming stops its peer. Consuming for a stream that has
    /// closed since does nothing (its bytes were returned when it closed).
    pub fn consume(&mut self, id: u32, n: usize, out: &mut Vec<u8>) -> Result<(), Error> {
        self.check_alive()?;
        let Some(s) = self.streams.get_mut(id) else {
            return Ok(());
        };
        let n = u32::try_from(n).map_err(|_| Error::ConsumedTooMuch)?;
        if !s.recv.release(n) {
            return Err(Error::ConsumedTooMuch);
        }
        // After the peer's END_STREAM it sends nothing more: a stream update would be noise.
        if !s.remote_end {
            if let Some(increment) = s.recv.take_update() {
                write_window_update(id, increment, out);
            }
        }
        let released = self.recv.release(n);
        debug_assert!(released, "connection holds every stream's bytes");
        self.announce_connection_credit(out);
        Ok(())
    }

    /// Opens a receive window by `increment` beyond what was consumed: stream `id`, or the
    /// connection for id 0. Needed when an initial window is 0, or to let one stream burst.
    pub fn grant(&mut self, id: u32, increment: u32, out: &mut Vec<u8>) -> Result<(), Error> {
        self.check_alive()?;
        if increment == 0 {
            return Ok(());
        }
        let window = if id == 0 {
            &mut self.recv
        } else {
            match self.streams.get_mut(id) {
                Some(s) if !s.remote_end => &mut s.recv,
                Some(_) => return Ok(()),
                None => return Err(Error::StreamNotOpen),
            }
        };
        if !window.grant(increment) {
            return Err(Error::WindowOverflow);
        }
        write_window_update(id, increment, out);
        Ok(())
    }

    /// Appends a PING; the peer's PONG comes back as [`Event::Pong`](super::Event::Pong)
    /// with the same payload (a timestamp or a counter: the codec has no clock).
    pub fn ping(&mut self, payload: [u8; 8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.check_alive()?;
        if self.peer.is_none() {
            return Err(Error::NotReady);
        }
        Frame::Ping(payload).encode(out);
        Ok(())
    }

    /// Appends a GOAWAY with `code` and diagnostic `debug` text (cut to fit a frame) and
    /// returns its `last_id`: on a server, the highest stream it accepted.
    ///
    /// With NO_ERROR after the handshake this starts a drain: streams up to `last_id` go on
    /// to their end, later OPENs are refused, and the caller closes the connection once
    /// [`open_streams`](Self::open_streams) is 0. With any other code, or before the
    /// handshake, the connection is over: write out the buffer and close; later calls
    /// return [`Error::Aborted`].
    pub fn goaway(
        &mut self,
        code: ErrorCode,
        debug: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u32, Error> {
        self.check_alive()?;
        let last_id = self.write_goaway(code, debug, out);
        if code != ErrorCode::NO_ERROR || self.peer.is_none() {
            self.close_all(Error::Aborted(code));
        }
        Ok(last_id)
    }
}
