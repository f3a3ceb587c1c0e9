//! Received bytes not yet consumed by the parser.
//!
//! Complete requests are parsed in place, straight from the buffer the reactor received into.
//! Only an incomplete request is copied, into a connection-owned buffer, so the receive
//! buffer goes back to the core while the connection waits for the rest.

use ringwire_reactor::buf::RecvBuf;

pub(crate) enum Input {
    Empty,
    Recv { buf: RecvBuf, pos: usize },
    Carry { buf: Vec<u8>, pos: usize },
}

impl Input {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Input::Empty => &[],
            Input::Recv { buf, pos } => &buf[*pos..],
            Input::Carry { buf, pos } => &buf[*pos..],
        }
    }

    /// Drops `n` consumed bytes (releasing the buffer once all are consumed).
    pub(crate) fn advance(&mut self, n: usize) {
        let done = match self {
            Input::Empty => true,
            Input::Recv { buf, pos } => {
                *pos += n;
                *pos >= buf.len()
            }
            Input::Carry { buf, pos } => {
                *pos += n;
                *pos >= buf.len()
            }
        };
        if done {
            *self = Input::Empty;
        }
    }

    /// Replaces the input with the unconsumed part of a later buffer.
    pub(crate) fn replace(&mut self, buf: RecvBuf, pos: usize) {
        *self = if pos >= buf.len() {
            Input::Empty
        } else {
            Input::Recv { buf, pos }
        };
    }

    /// Copies unconsumed bytes out of a receive buffer, so it can go back to the core while
    /// the connection waits for more.
    pub(crate) fn detach(&mut self) {
        if let Input::Recv { buf, pos } = self {
            let owned = buf[*pos..].to_vec();
            *self = Input::Carry { buf: owned, pos: 0 };
        }
    }

    /// Appends newly received bytes.
    pub(crate) fn push(&mut self, more: RecvBuf) {
        match self {
            Input::Empty => *self = Input::Recv { buf: more, pos: 0 },
            Input::Recv { .. } => {
                self.detach();
                self.push(more);
            }
            Input::Carry { buf, pos } => {
                if *pos > 0 {
                    buf.drain(..*pos);
                    *pos = 0;
                }
                buf.extend_from_slice(&more);
            }
        }
    }
}
