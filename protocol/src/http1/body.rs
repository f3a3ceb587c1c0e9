//! Request body decoding for every framing: nothing, a fixed length, or chunked.

use super::chunked::{Chunked, Step};
use super::error::Error;
use super::head::Framing;
use super::limits::Limits;

/// What [`BodyDecoder::decode`] found in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Body bytes: a slice of the input, never copied. More may follow.
    ///
    /// The slice is always the end of the consumed prefix, `input[consumed - len..consumed]`,
    /// so a caller holding its buffer as `bytes::Bytes` can take that range with
    /// `Bytes::slice` and keep the body without copying it.
    Data(&'a [u8]),
    /// The input was used up before the body ended: read more, then call again with the
    /// bytes after the consumed ones.
    NeedMore,
    /// The body is complete (for chunked: last chunk and trailers read). Bytes after the
    /// consumed ones belong to the next request.
    End,
}

#[derive(Debug, Clone)]
enum Kind {
    Length(u64),
    Chunked(Chunked),
    Failed(Error),
}

/// Decodes one request body. Feed it the bytes after the head, then after each call drop the
/// `consumed` bytes it reports and call again; the input may be split at any byte.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    kind: Kind,
}

impl BodyDecoder {
    /// A decoder for `framing`, enforcing `limits.max_body` (and, for chunked bodies, the
    /// chunk-line and trailer limits).
    pub fn new(framing: Framing, limits: &Limits) -> Self {
        let kind = match framing {
            Framing::None => Kind::Length(0),
            Framing::Length(n) if n > limits.max_body => Kind::Failed(Error::BodyTooLarge),
            Framing::Length(n) => Kind::Length(n),
            Framing::Chunked => Kind::Chunked(Chunked::new(limits)),
        };
        BodyDecoder { kind }
    }

    /// Decodes from `input`, returning how many bytes were consumed and what they held.
    ///
    /// One call yields at most one `Data`; call again for the rest. After `End` every call
    /// returns `(0, End)`. After an error every call returns the same error.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Event<'a>), Error> {
        match &mut self.kind {
            Kind::Failed(e) => Err(*e),
            Kind::Length(0) => Ok((0, Event::End)),
            Kind::Length(_) if input.is_empty() => Ok((0, Event::NeedMore)),
            Kind::Length(remaining) => {
                let n = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                *remaining -= n as u64;
                Ok((n, Event::Data(&input[..n])))
            }
            Kind::Chunked(c) => match c.decode(input) {
                Ok(Step::Data(from, to)) => Ok((to, Event::Data(&input[from..to]))),
                Ok(Step::NeedMore(n)) => Ok((n, Event::NeedMore)),
                Ok(Step::End(n)) => Ok((n, Event::End)),
                Err(e) => {
                    self.kind = Kind::Failed(e);
                    Err(e)
                }
            },
        }
    }

    /// Whether the whole body has been decoded.
    pub fn is_finished(&self) -> bool {
        match &self.kind {
            Kind::Length(n) => *n == 0,
            Kind::Chunked(c) => c.is_done(),
            Kind::Failed(_) => false,
        }
    }
}
