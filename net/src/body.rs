//! A request body, streamed to the service as slices of the buffers it arrives in.

use crate::transport::Transport;
use crate::{
    Core, Error,
    conn::deadline::{self, Expired},
};
use ringwire_protocol::http1::{BodyDecoder, CONTINUE_100, Event, Framing};
use ringwire_reactor::{buf::RecvBuf, time::Sleep};
use std::{cell::Cell, io, time::Duration};

/// Where a request's `Expect: 100-continue` stands. Shared by its [`Body`] (which sends the
/// `100 Continue` when the service first waits for body bytes) and its
/// [`Responder`](crate::Responder) (which withholds it once the final response is under way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Continue {
    /// No expectation, or no body to invite.
    NotExpected,
    /// The client waits for `100 Continue`; nothing sent yet.
    Pending,
    /// `100 Continue` was sent.
    Sent,
    /// The final response came first: no `100 Continue` will be sent, and the connection
    /// closes after the response (announced with `Connection: close`), since the client may
    /// or may not send the body it was not invited to.
    Withheld,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Src {
    First,
    Extra,
    Carry,
}

/// Where the bytes after a body (the next pipelined request) are.
pub(crate) enum Leftover {
    /// At this offset of the bytes that followed the head.
    First(usize),
    /// In a later receive buffer, from this offset.
    Recv(RecvBuf, usize),
    /// Copied into an owned buffer.
    Owned(Vec<u8>),
}

/// The body of a request. Read it with [`Body::chunk`]; what the service leaves unread is
/// read and discarded before the next request (or the connection is closed, after an
/// unanswered `Expect: 100-continue`).
///
/// With `Expect: 100-continue`, the first read that waits for the client sends `100 Continue`
/// (after every earlier pipelined response). Read the body before answering: once the final
/// response is sent (or a streamed one first flushed), no `100 Continue` follows, and the
/// connection closes after the response.
pub struct Body<'r> {
    stream: &'r Transport,
    core: &'r Core,
    decoder: BodyDecoder,
    framing: Framing,
    first: &'r [u8],
    first_pos: usize,
    extra: Option<(RecvBuf, usize)>,
    carry: Vec<u8>,
    carry_pos: usize,
    timer: &'r mut Sleep,
    idle: Duration,
    expect: &'r Cell<Continue>,
    ended: bool,
}

impl<'r> Body<'r> {
    #[allow(clippy::too_many_arguments)] // internal constructor, one call site
    pub(crate) fn new(
        stream: &'r Transport,
        core: &'r Core,
        decoder: BodyDecoder,
        framing: Framing,
        first: &'r [u8],
        timer: &'r mut Sleep,
        idle: Duration,
        expect: &'r Cell<Continue>,
    ) -> Self {
        let ended = decoder.is_finished();
        Body {
            stream,
            core,
            decoder,
            framing,
            first,
            first_pos: 0,
            extra: None,
            carry: Vec::new(),
            carry_pos: 0,
            timer,
            idle,
            expect,
            ended,
        }
    }

    /// How the body is framed: none, a length, or chunked.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether the body has been read to its end.
    pub fn is_finished(&self) -> bool {
        self.ended
    }

    fn source(&self, src: Src) -> &[u8] {
        match src {
            Src::Carry => &self.carry[self.carry_pos..],
            Src::Extra => self.extra.as_ref().map_or(&[][..], |(b, p)| &b[*p..]),
            Src::First => &self.first[self.first_pos..],
        }
    }

    fn current(&self) -> Src {
        if self.carry_pos < self.carry.len() {
            Src::Carry
        } else if self.extra.is_some() {
            Src::Extra
        } else {
            Src::First
        }
    }

    fn advance(&mut self, src: Src, n: usize) {
        match src {
            Src::Carry => self.carry_pos += n,
            Src::Extra => {
                if let Some((_, p)) = &mut self.extra {
                    *p += n;
                }
            }
            Src::First => self.first_pos += n,
        }
    }

    /// The next piece of the body, borrowed from the receive buffer it arrived in; `None`
    /// at the end. Waits for the client (at most the body timeout between bytes).
    pub async fn chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        let (src, begin, end) = loop {
            if self.ended {
                return Ok(None);
            }
            let src = self.current();
            // Field by field, so the decoder can be borrowed mutably beside the input.
            let input: &[u8] = match src {
                Src::Carry => &self.carry[self.carry_pos..],
                Src::Extra => self.extra.as_ref().map_or(&[][..], |(b, p)| &b[*p..]),
                Src::First => &self.first[self.first_pos..],
            };
            let (used, event) = self.decoder.decode(input)?;
            match event {
                Event::Data(d) => {
                    let len = d.len();
                    // Slices are taken after the loop, once `self` is no longer borrowed by it.
                    let base = self.source_offset(src);
                    self.advance(src, used);
                    break (src, base + used - len, base + used);
                }
                Event::End => {
                    self.advance(src, used);
                    self.ended = true;
                    return Ok(None);
                }
                Event::NeedMore => {
                    self.advance(src, used);
                    self.read_more(src).await?;
                }
            }
        };
        Ok(Some(self.slice(src, begin, end)))
    }

    /// Offset of the current position within the source's whole buffer.
    fn source_offset(&self, src: Src) -> usize {
        match src {
            Src::Carry => self.carry_pos,
            Src::Extra => self.extra.as_ref().map_or(0, |(_, p)| *p),
            Src::First => self.first_pos,
        }
    }

    fn slice(&self, src: Src, begin: usize, end: usize) -> &[u8] {
        match src {
            Src::Carry => &self.carry[begin..end],
            Src::Extra => self.extra.as_ref().map_or(&[][..], |(b, _)| &b[begin..end]),
            Src::First => &self.first[begin..end],
        }
    }

    async fn read_more(&mut self, src: Src) -> Result<(), Error> {
        // Whatever the decoder left unconsumed must be read again with the new bytes.
        if src == Src::Carry {
            self.carry.drain(..self.carry_pos);
        } else {
            let rest = self.source(src).to_vec();
            self.advance(src, rest.len());
            self.carry = rest;
        }
        self.carry_pos = 0;
        if self.expect.get() == Continue::Pending {
            // Earlier pipelined responses were written before the service was called, and
            // nothing of this request's response is out yet (it would have withheld the 100):
            // the 100 goes out in order.
            self.expect.set(Continue::Sent);
            let (res, _) = self.stream.write_all(CONTINUE_100).await;
            res?;
        }
        let deadline = ringwire_reactor::time::now() + self.idle;
        let buf = match deadline::until(self.timer, deadline, self.stream.recv()).await {
            Err(Expired) => return Err(Error::Timeout("request body")),
            Ok(Err(e)) => return Err(Error::Io(e)),
            Ok(Ok(None)) => return Err(Error::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(Ok(Some(buf))) => buf,
        };
        self.core.stats().bytes_in(buf.len());
        if self.carry.is_empty() {
            self.extra = Some((buf, 0));
        } else {
            self.carry.extend_from_slice(&buf);
            self.extra = None;
        }
        Ok(())
    }

    /// Whether reading on could make the client wait for a `100 Continue` it never got.
    pub(crate) fn unanswered_continue(&self) -> bool {
        matches!(self.expect.get(), Continue::Pending | Continue::Withheld)
    }

    /// Reads and discards the rest of the body.
    pub(crate) async fn skip_rest(&mut self) -> Result<(), Error> {
        while self.chunk().await?.is_some() {}
        Ok(())
    }

    /// Where the next request's bytes are.
    pub(crate) fn into_leftover(mut self) -> Leftover {
        if self.carry_pos < self.carry.len() {
            self.carry.drain(..self.carry_pos);
            Leftover::Owned(self.carry)
        } else if let Some((buf, pos)) = self.extra {
            Leftover::Recv(buf, pos)
        } else {
            Leftover::First(self.first_pos)
        }
    }
}
