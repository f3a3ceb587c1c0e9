//! The application's calls on the shared state: open, send, receive, finish, reset, ping,
//! close. Each `poll_*` either finishes or leaves a waker where the reader task will find it.

use super::error::{ClientError, Failure, reset_message};
use super::state::{Ping, Slot, State, codec_error};
use bytes::{Bytes, BytesMut};
use ringwire_protocol::stream::{Error as CodecError, ErrorCode, StreamState};
use std::{
    io,
    rc::Rc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

/// The largest split message `recv_message` puts together: a message is one publisher's
/// DATA frame, so no server publishes more than the largest MAX_FRAME_SIZE.
const MAX_SPLIT_MESSAGE: usize = (1 << 24) - 1;

impl State {
    pub(crate) fn poll_open(
        &mut self,
        service: &str,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<u32>> {
        if let Some(f) = &self.dead {
            return Poll::Ready(Err(f.to_io()));
        }
        match self.conn.open_stream(service, &mut self.out) {
            Ok(id) => {
                self.streams.insert(id, Slot::new(Rc::from(service)));
                self.wake_writer();
                Poll::Ready(Ok(id))
            }
            Err(CodecError::TooManyStreams) => {
                self.openers.push(cx.waker().clone());
                Poll::Pending
            }
            Err(CodecError::GoingAway) => Poll::Ready(Err(self.going_away(service))),
            Err(e) => {
                let what = format!("cannot open a stream to service \"{service}\"");
                Poll::Ready(Err(codec_error(self, e, &what)))
            }
        }
    }

    fn going_away(&self, service: &str) -> io::Error {
        let message = match &self.goaway {
            Some((code, debug)) => format!(
                "cannot open a stream to service \"{service}\": the server is going away \
                 (GOAWAY {code}{}) and accepts no new streams on this connection; reconnect",
                if debug.is_empty() {
                    String::new()
                } else {
                    format!(" \"{debug}\"")
                }
            ),
            None => format!(
                "cannot open a stream to service \"{service}\": this client is closing the \
                 connection"
            ),
        };
        let code = self.goaway.as_ref().map(|g| g.0);
        io::Error::new(
            io::ErrorKind::ConnectionRefused,
            ClientError::new(code, message),
        )
    }

    fn slot(&self, id: u32) -> &Slot {
        self.streams
            .get(&id)
            .expect("a Stream handle keeps its slot")
    }

    /// Whether stream `id` may still carry DATA from this side.
    fn check_sendable(&self, id: u32) -> io::Result<()> {
        let slot = self.slot(id);
        if let Some(f) = slot.failed.as_ref().or(self.dead.as_ref()) {
            return Err(f.to_io());
        }
        match self.conn.stream_state(id) {
            Some(StreamState::Open | StreamState::HalfClosedRemote) => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                ClientError::new(
                    None,
                    format!(
                        "cannot send on stream {id} to service \"{}\": this side already \
                         finished it",
                        slot.service
                    ),
                ),
            )),
        }
    }

    /// Sends `data[*sent..]` on stream `id` as far as the windows allow, keeping a message of
    /// up to `atomic_limit` bytes in one frame (a frame boundary is a message boundary for
    /// services such as pub/sub), and larger ones in pieces of at least that size.
    pub(crate) fn poll_send(
        &mut self,
        id: u32,
        data: &[u8],
        sent: &mut usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if let Err(e) = self.check_sendable(id) {
                return Poll::Ready(Err(e));
            }
            let remaining = data.len() - *sent;
            if remaining == 0 {
                return Poll::Ready(Ok(()));
            }
            let need = remaining.min(self.atomic_limit);
            if self.conn.send_capacity(id) < need {
                let slot = self.streams.get_mut(&id).expect("slot");
                if !slot.send.iter().any(|w| w.will_wake(cx.waker())) {
                    slot.send.push(cx.waker().clone());
                }
                return Poll::Pending;
            }
            match self
                .conn
                .send_data(id, &data[*sent..], false, &mut self.out)
            {
                Ok(n) => *sent += n,
                Err(e) => return Poll::Ready(Err(codec_error(self, e, "cannot send"))),
            }
            self.wake_writer();
        }
    }

    pub(crate) fn finish(&mut self, id: u32) -> io::Result<()> {
        self.check_sendable(id)?;
        if let Err(e) = self.conn.end_stream(id, &mut self.out) {
            return Err(codec_error(self, e, "cannot finish the stream"));
        }
        self.wake_openers_if_room();
        self.wake_writer();
        Ok(())
    }

    pub(crate) fn reset(&mut self, id: u32, code: ErrorCode) -> io::Result<()> {
        if let Some(f) = &self.dead {
            return Err(f.to_io());
        }
        let slot = self.streams.get_mut(&id).expect("slot");
        if slot.failed.is_none() {
            let msg = reset_message(id, &slot.service, code, false);
            slot.failed = Some(Failure::new(
                io::ErrorKind::ConnectionReset,
                Some(code),
                msg,
            ));
        }
        slot.queue.clear();
        slot.wake_all();
        // A stream the codec already closed (both sides ended, or the server reset it) needs
        // no RESET on the wire.
        if self.conn.stream_state(id).is_some() {
            if let Err(e) = self.conn.reset(id, code, &mut self.out) {
                return Err(codec_error(self, e, "cannot reset the stream"));
            }
        }
        self.wake_openers_if_room();
        self.wake_writer();
        Ok(())
    }

    /// The next payload of stream `id`. Handing it out is what consumes it: the codec then
    /// returns its bytes to the server's windows (the backpressure of a slow reader).
    pub(crate) fn poll_recv(
        &mut self,
        id: u32,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Bytes>>> {
        let slot = self.streams.get_mut(&id).expect("slot");
        while let Some(data) = slot.queue.pop_front() {
            if data.is_empty() {
                continue; // a split message's bracket: payloads go out as they came
            }
            // Fails only once the connection is gone, when there is no window left to return.
            let _ = self.conn.consume(id, data.len(), &mut self.out);
            self.wake_writer();
            return Poll::Ready(Ok(Some(data)));
        }
        Self::recv_end(slot, self.dead.as_ref(), cx)
    }

    fn recv_end(
        slot: &mut Slot,
        dead: Option<&Failure>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Bytes>>> {
        if slot.end {
            return Poll::Ready(Ok(None));
        }
        if let Some(f) = slot.failed.as_ref().or(dead) {
            return Poll::Ready(Err(f.to_io()));
        }
        slot.recv = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The next whole pub/sub message of stream `id`: one DATA frame, or the frames between
    /// two empty ones (a split message, see `docs/PROTOCOL.md`).
    pub(crate) fn poll_recv_message(
        &mut self,
        id: u32,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Bytes>>> {
        let mut consumed = 0;
        let ready = self.assemble(id, &mut consumed);
        if consumed > 0 {
            // Fails only once the connection is gone, when there is no window left to return.
            let _ = self.conn.consume(id, consumed, &mut self.out);
            self.wake_writer();
        }
        let slot = self.streams.get_mut(&id).expect("slot");
        match ready {
            Some(r) => Poll::Ready(r.map(Some)),
            None => {
                if slot.end {
                    // A split message cut by the end of the stream is incomplete: dropped.
                    slot.assembling = None;
                }
                Self::recv_end(slot, self.dead.as_ref(), cx)
            }
        }
    }

    /// Takes queued payloads of stream `id` until a whole message is there.
    fn assemble(&mut self, id: u32, consumed: &mut usize) -> Option<io::Result<Bytes>> {
        let slot = self.streams.get_mut(&id).expect("slot");
        while let Some(data) = slot.queue.pop_front() {
            if data.is_empty() {
                match slot.assembling.take() {
                    None => slot.assembling = Some(BytesMut::new()),
                    Some(whole) => return Some(Ok(whole.freeze())),
                }
                continue;
            }
            *consumed += data.len();
            match &mut slot.assembling {
                None => return Some(Ok(data)),
                Some(part) if part.len() + data.len() > MAX_SPLIT_MESSAGE => {
                    let msg = format!(
                        "stream {id} to service \"{}\": a split message grew past {} bytes, \
                         more than any server may publish",
                        slot.service, MAX_SPLIT_MESSAGE
                    );
                    slot.assembling = None;
                    return Some(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        ClientError::new(None, msg),
                    )));
                }
                Some(part) => part.extend_from_slice(&data),
            }
        }
        None
    }

    /// The `Stream` handle is gone: a stream still open on the wire is cancelled so the
    /// server stops sending and both sides free it.
    pub(crate) fn drop_stream(&mut self, id: u32) {
        self.streams.remove(&id);
        if self.dead.is_none() && self.conn.stream_state(id).is_some() {
            let _ = self.conn.reset(id, ErrorCode::CANCEL, &mut self.out);
            self.wake_openers_if_room();
            self.wake_writer();
        }
    }

    pub(crate) fn start_ping(&mut self) -> io::Result<u64> {
        if let Some(f) = &self.dead {
            return Err(f.to_io());
        }
        let id = self.next_ping;
        self.next_ping += 1;
        if let Err(e) = self.conn.ping(id.to_be_bytes(), &mut self.out) {
            return Err(codec_error(self, e, "cannot ping"));
        }
        self.pings.push(Ping {
            id,
            sent: Instant::now(),
            answered: None,
            waker: None,
        });
        self.wake_writer();
        Ok(id)
    }

    pub(crate) fn poll_ping(
        &mut self,
        id: u64,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Duration>> {
        let Some(i) = self.pings.iter().position(|p| p.id == id) else {
            return Poll::Ready(Err(io::Error::other("ping already answered")));
        };
        if let Some(at) = self.pings[i].answered {
            let p = self.pings.swap_remove(i);
            return Poll::Ready(Ok(at.saturating_duration_since(p.sent)));
        }
        if let Some(f) = &self.dead {
            self.pings.swap_remove(i);
            return Poll::Ready(Err(f.to_io()));
        }
        self.pings[i].waker = Some(cx.waker().clone());
        Poll::Pending
    }

    pub(crate) fn forget_ping(&mut self, id: u64) {
        self.pings.retain(|p| p.id != id);
    }

    /// `Client::close`: a GOAWAY so the server knows the close is deliberate, then the
    /// connection is over for every handle once the writer has flushed.
    pub(crate) fn close_by_client(&mut self) {
        if self.dead.is_none() && self.conn.is_ready() {
            let _ = self
                .conn
                .goaway(ErrorCode::NO_ERROR, b"client closing", &mut self.out);
        }
        self.fail(Failure::new(
            io::ErrorKind::NotConnected,
            None,
            "the connection was closed by this client".to_string(),
        ));
        self.close_quietly();
    }
}
