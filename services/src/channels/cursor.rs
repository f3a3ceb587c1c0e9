//! Live delivery of a durable channel to one subscriber, in order and without duplicates.
//!
//! A subscriber of a durable channel hears about new messages "live" from the cores that
//! publish them. Live notices can arrive out of order (each core's appends are in sequence
//! order, but two cores interleave), can be duplicated, and are lost when the subscriber's
//! mailbox overflows. The store is the truth: it holds every sequence number in
//! `[first, next)` of the channel's log, and retention may raise `first` at any time.
//!
//! [`Cursor`] is the sans-I/O state of one subscriber: it says which live messages to deliver,
//! when to read from the store instead (catch-up), and which ranges were lost to trimming
//! (gaps). It is either *live* (a live notice for exactly the next sequence is delivered as
//! it is) or *catching up* (everything comes from the store, from [`Cursor::read_from`],
//! until a read reaches the log's end). It starts catching up, so a start in the past and a
//! start at the head are the same code path.
//!
//! A read that finds nothing cannot tell a log trimmed to empty from one with nothing new:
//! such a gap is reported when the next record is read, or at once by [`Cursor::on_trimmed`]
//! where the caller knows the log's `first` (say from the answer to a subscribe).
//!
//! One assumption: a live notice for `seq` is sent only after `seq` can be read from the store
//! (the append committed first). Then no message is skipped and none is delivered twice. Live
//! notices and overflows may be handled while a store read is in flight (the cursor then
//! reads again), as long as [`Cursor::read_from`] is called when the read starts.
//!
//! The handler loop:
//!
//! ```text
//! let mut cur = Cursor::new(start);
//! if let Some(gap) = cur.on_trimmed(info.first) { send_gap(gap) }   // optional, at once
//! loop {
//!     while let Some(from) = cur.read_from() {
//!         let batch = db.log_read(name, from, LIMIT).await?;
//!         for r in &batch {
//!             match cur.on_read(r.seq) {
//!                 Read::Deliver => send(r),
//!                 Read::Gap(gap) => { send_gap(gap); send(r) }
//!                 Read::Drop => {}
//!             }
//!         }
//!         if let Some(gap) = cur.on_read_end(batch.len() < LIMIT) { send_gap(gap) }
//!     }
//!     match mailbox.recv().await {
//!         Msg::Live(seq, data) => if cur.on_live(seq) == Live::Deliver { send(seq, data) },
//!         Msg::Overflow => cur.on_overflow(),
//!     }
//! }
//! ```

/// Sequence numbers `[from, to)` that were trimmed from the store before they were delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The first one lost.
    pub from: u64,
    /// One past the last one lost.
    pub to: u64,
}

/// What to do with a live message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// Deliver it now (it is the next one).
    Deliver,
    /// Do not deliver it: already delivered, or the cursor is catching up and will read it
    /// from the store.
    Drop,
    /// Do not deliver it: messages before it are missing, so the cursor now catches up from
    /// the store (which has this one too); read from [`Cursor::read_from`].
    CatchUp,
}

/// What to do with a record read from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Deliver it.
    Deliver,
    /// Report the gap (trimmed before delivery), then deliver it.
    Gap(Gap),
    /// Do not deliver it (already delivered).
    Drop,
}

/// One subscriber's position in a durable channel; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The next sequence number to deliver; everything below was delivered or reported lost.
    next: u64,
    /// One past the highest sequence number a live notice announced.
    seen: u64,
    /// `seen` when the current store read started.
    seen_at_read: u64,
    /// Whether live messages were lost since the current store read started.
    lost_since_read: bool,
    /// Whether messages come from the store until a read reaches the log's end.
    catching_up: bool,
}

impl Cursor {
    /// A cursor that delivers from sequence `next` on (at least 1), catching up first.
    pub fn new(next: u64) -> Cursor {
        let next = next.max(1);
        Cursor {
            next,
            seen: next,
            seen_at_read: next,
            lost_since_read: false,
            catching_up: true,
        }
    }

    /// The next sequence number to deliver.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Whether the cursor reads from the store (rather than delivering live messages).
    pub fn is_catching_up(&self) -> bool {
        self.catching_up
    }

    /// Where to read the store from now, while catching up (call it when the read starts);
    /// `None` when live.
    pub fn read_from(&mut self) -> Option<u64> {
        self.seen_at_read = self.seen;
        self.lost_since_read = false;
        self.catching_up.then_some(self.next)
    }

    /// A live message `seq` arrived.
    pub fn on_live(&mut self, seq: u64) -> Live {
        if seq < self.next {
            return Live::Drop;
        }
        self.seen = self.seen.max(seq.saturating_add(1));
        if self.catching_up {
            Live::Drop
        } else if seq == self.next {
            self.next += 1;
            Live::Deliver
        } else {
            self.catching_up = true;
            Live::CatchUp
        }
    }

    /// A record `seq` came from a store read that started at [`Cursor::read_from`] (records in
    /// increasing order). A jump over sequence numbers means the store trimmed them: a gap.
    pub fn on_read(&mut self, seq: u64) -> Read {
        if seq < self.next {
            return Read::Drop;
        }
        let from = self.next;
        self.next = seq.saturating_add(1);
        if seq > from {
            Read::Gap(Gap { from, to: seq })
        } else {
            Read::Deliver
        }
    }

    /// A store read is done; `reached_end`: it returned fewer records than asked, so it saw
    /// the log's end. Then sequence numbers announced before the read started that it did not
    /// return were trimmed: returns that gap and moves past it. The cursor goes live once it
    /// has also passed every sequence number announced during the read, and no overflow came
    /// during the read; otherwise [`Cursor::read_from`] asks for another read.
    pub fn on_read_end(&mut self, reached_end: bool) -> Option<Gap> {
        if !reached_end {
            return None;
        }
        let gap = self.on_trimmed(self.seen_at_read);
        if self.next >= self.seen && !self.lost_since_read {
            self.catching_up = false;
        }
        gap
    }

    /// The mailbox overflowed: live messages were lost, so catch up from the store.
    pub fn on_overflow(&mut self) {
        self.catching_up = true;
        self.lost_since_read = true;
    }

    /// The store's log now starts at `first`: if the cursor is below it, the messages in
    /// between are lost; returns that gap and moves past it.
    pub fn on_trimmed(&mut self, first: u64) -> Option<Gap> {
        if self.next >= first {
            return None;
        }
        let gap = Gap {
            from: self.next,
            to: first,
        };
        self.next = first;
        Some(gap)
    }
}

#[cfg(test)]
mod tests;
