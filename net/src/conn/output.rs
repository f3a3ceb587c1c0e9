//! Responses waiting to be written. Pipelined responses accumulate in one buffer and go out
//! in one write; bodies handed over as `Bytes` or files are queued in order and sent without
//! copying (vectored writes, sendfile/splice).

use super::deadline::{self, Expired};
use crate::Core;
use crate::transport::Transport;
use bytes::Bytes;
use ringwire_reactor::time::Sleep;
use std::{fs::File, io, rc::Rc, time::Duration};

/// Flush the output buffer once it holds this much, even mid-burst.
pub(crate) const FLUSH_AT: usize = 64 * 1024;
/// Bytes of a file sent under one stall deadline.
const FILE_PIECE: u64 = 1 << 20;
/// Initial capacity of an output buffer.
const OUT_BUF: usize = 4096;
/// An output buffer that grew past this (a big streamed body) is not kept in the pool.
const OUT_BUF_MAX: usize = 256 * 1024;

enum Chunk {
    Bytes(Bytes),
    File {
        file: Rc<File>,
        offset: u64,
        len: u64,
    },
}

/// Why a flush failed.
pub(crate) enum FlushError {
    Io(io::Error),
    Timeout,
}

#[derive(Default)]
pub(crate) struct Output {
    /// Taken from the core's pool on first use, returned when the burst ends.
    buf: Vec<u8>,
    /// Chunks that come before `buf`'s bytes.
    queue: Vec<Chunk>,
}

impl Output {
    pub(crate) fn buf(&mut self, _core: &Core) -> &mut Vec<u8> {
        if self.buf.capacity() == 0 {
            self.buf.reserve(OUT_BUF);
        }
        &mut self.buf
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
            + self
                .queue
                .iter()
                .map(|c| match c {
                    Chunk::Bytes(b) => b.len(),
                    Chunk::File { .. } => 0,
                })
                .sum::<usize>()
    }

    /// A position to roll back to with [`Output::truncate`].
    pub(crate) fn mark(&self) -> (usize, usize) {
        (self.queue.len(), self.buf.len())
    }

    /// Inserts `bytes` at `mark` (taken before anything after it was queued as a chunk).
    pub(crate) fn insert(&mut self, mark: (usize, usize), bytes: &[u8]) {
        debug_assert_eq!(self.queue.len(), mark.0, "no chunk queued since the mark");
        self.buf.splice(mark.1..mark.1, bytes.iter().copied());
    }

    /// Drops everything queued after `mark` (which must predate any flush).
    pub(crate) fn truncate(&mut self, mark: (usize, usize)) {
        self.queue.truncate(mark.0);
        self.buf.truncate(mark.1);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.queue.is_empty()
    }

    fn seal(&mut self) {
        if !self.buf.is_empty() {
            self.queue
                .push(Chunk::Bytes(Bytes::from(std::mem::take(&mut self.buf))));
        }
    }

    pub(crate) fn push_bytes(&mut self, b: Bytes) {
        self.seal();
        self.queue.push(Chunk::Bytes(b));
    }

    pub(crate) fn push_file(&mut self, file: Rc<File>, offset: u64, len: u64) {
        self.seal();
        self.queue.push(Chunk::File { file, offset, len });
    }

    /// Writes everything, in order; each write may stall at most `stall`. Returns bytes sent.
    pub(crate) async fn flush(
        &mut self,
        stream: &Transport,
        timer: &mut Sleep,
        stall: Duration,
    ) -> Result<usize, FlushError> {
        let mut sent = 0usize;
        let queue = std::mem::take(&mut self.queue);
        let mut batch: Vec<Bytes> = Vec::new();
        for chunk in queue {
            match chunk {
                Chunk::Bytes(b) => batch.push(b),
                Chunk::File { file, offset, len } => {
                    sent += write_batch(stream, timer, stall, std::mem::take(&mut batch)).await?;
                    // In pieces, each under the stall deadline: a slow reader of a large file
                    // is fine as long as it keeps reading.
                    let mut done = 0;
                    while done < len {
                        let piece = (len - done).min(FILE_PIECE);
                        let deadline = ringwire_reactor::time::now() + stall;
                        match deadline::until(
                            timer,
                            deadline,
                            stream.sendfile(&file, offset + done, piece),
                        )
                        .await
                        {
                            // No progress and no error: the file shrank. Never spin.
                            Ok(Ok(0)) => {
                                return Err(FlushError::Io(io::ErrorKind::UnexpectedEof.into()));
                            }
                            Ok(Ok(n)) => done += n,
                            Ok(Err(e)) => return Err(FlushError::Io(e)),
                            Err(Expired) => return Err(FlushError::Timeout),
                        }
                    }
                    sent += done as usize;
                }
            }
        }
        sent += write_batch(stream, timer, stall, batch).await?;
        if !self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            let n = buf.len();
            let deadline = ringwire_reactor::time::now() + stall;
            let (res, mut buf) = match deadline::until(timer, deadline, stream.write_all(buf)).await
            {
                Ok(r) => r,
                Err(Expired) => return Err(FlushError::Timeout),
            };
            buf.clear();
            self.buf = buf;
            res.map_err(FlushError::Io)?;
            sent += n;
        }
        Ok(sent)
    }

    /// Empties the output, keeping the buffer's capacity for the next burst.
    pub(crate) fn reset(&mut self) {
        self.queue.clear();
        self.buf.clear();
        if self.buf.capacity() > OUT_BUF_MAX {
            self.buf = Vec::new();
        }
    }
}

async fn write_batch(
    stream: &Transport,
    timer: &mut Sleep,
    stall: Duration,
    batch: Vec<Bytes>,
) -> Result<usize, FlushError> {
    if batch.is_empty() {
        return Ok(0);
    }
    let n: usize = batch.iter().map(Bytes::len).sum();
    let deadline = ringwire_reactor::time::now() + stall;
    match deadline::until(timer, deadline, stream.writev_all(batch)).await {
        Ok((Ok(()), _)) => Ok(n),
        Ok((Err(e), _)) => Err(FlushError::Io(e)),
        Err(Expired) => Err(FlushError::Timeout),
    }
}
