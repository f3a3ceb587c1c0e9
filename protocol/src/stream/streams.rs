//! The table of open streams.
//!
//! Stream ids only grow (the protocol forbids reuse), so a `Vec` kept sorted by id takes new
//! streams with a push and finds one with a binary search. Removing shifts the tail, which
//! for the default limit of 100 streams is a few hundred bytes of `memmove`; no hashing, and
//! no allocation once the vector has grown to the concurrency limit.

use super::flow::{RecvWindow, SendWindow};

/// Where an open stream stands. A stream both sides have ended, or that either side reset,
/// is closed and no longer in the table ([`Connection::stream_state`](super::Connection::stream_state)
/// answers `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// Both sides may send.
    Open,
    /// This side sent END_STREAM; the peer may still send.
    HalfClosedLocal,
    /// The peer sent END_STREAM; this side may still send.
    HalfClosedRemote,
}

#[derive(Debug, Clone)]
pub(crate) struct Stream {
    pub(crate) id: u32,
    pub(crate) local_end: bool,
    pub(crate) remote_end: bool,
    pub(crate) send: SendWindow,
    pub(crate) recv: RecvWindow,
}

impl Stream {
    pub(crate) fn new(id: u32, send_window: u32, recv_window: u32) -> Stream {
        Stream {
            id,
            local_end: false,
            remote_end: false,
            send: SendWindow::new(send_window),
            recv: RecvWindow::new(recv_window),
        }
    }

    pub(crate) fn state(&self) -> StreamState {
        match (self.local_end, self.remote_end) {
            (false, false) => StreamState::Open,
            (true, false) => StreamState::HalfClosedLocal,
            (false, true) => StreamState::HalfClosedRemote,
            // Such a stream is removed at once; reported as the last state it passed.
            (true, true) => StreamState::HalfClosedRemote,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Streams {
    list: Vec<Stream>,
}

impl Streams {
    pub(crate) fn with_capacity(n: usize) -> Streams {
        Streams {
            list: Vec::with_capacity(n),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    fn index(&self, id: u32) -> Result<usize, usize> {
        self.list.binary_search_by_key(&id, |s| s.id)
    }

    pub(crate) fn get(&self, id: u32) -> Option<&Stream> {
        self.index(id).ok().map(|i| &self.list[i])
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut Stream> {
        self.index(id).ok().map(|i| &mut self.list[i])
    }

    /// Adds a stream whose id is above every id in the table.
    pub(crate) fn push(&mut self, stream: Stream) {
        debug_assert!(self.list.last().is_none_or(|s| s.id < stream.id));
        self.list.push(stream);
    }

    pub(crate) fn remove(&mut self, id: u32) -> Option<Stream> {
        self.index(id).ok().map(|i| self.list.remove(i))
    }

    /// Removes every stream with an id above `last`, returning the bytes they held.
    pub(crate) fn remove_above(&mut self, last: u32) -> u32 {
        let from = self.index(last).map_or_else(|i| i, |i| i + 1);
        self.list
            .drain(from..)
            .map(|mut s| s.recv.release_all())
            .sum()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Stream> {
        self.list.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_table_finds_removes_and_truncates() {
        let mut t = Streams::with_capacity(4);
        for id in [1, 3, 7, 9] {
            t.push(Stream::new(id, 10, 10));
        }
        assert!(t.get(5).is_none());
        assert_eq!(t.remove(3).map(|s| s.id), Some(3));
        t.get_mut(9).unwrap().recv.receive(4);
        assert_eq!(t.remove_above(5), 4);
        assert_eq!(t.iter().map(|s| s.id).collect::<Vec<_>>(), [1]);
        assert_eq!(t.remove_above(0), 0);
        assert_eq!(t.len(), 0);
    }
}
