//! [`RecvBuf`]: bytes the reactor received into a buffer of its own choosing.

use super::{BufPool, IoBuf};
use std::{fmt, ops::Deref, rc::Rc};

#[cfg(target_os = "linux")]
use super::ring::{BufId, BufRing};

/// Bytes received by [`TcpStream::recv`](crate::net::TcpStream::recv) into a buffer the reactor
/// picked: a slot of io_uring's provided-buffer ring, or a pooled heap buffer on the readiness
/// backend. Dropping it returns the memory for the next receive, so a connection holds a buffer
/// only while it has unprocessed data.
///
/// It is also an [`IoBuf`], so received bytes can be written back without a copy.
pub struct RecvBuf {
    inner: Inner,
}

enum Inner {
    #[cfg(target_os = "linux")]
    Ring {
        ring: Rc<BufRing>,
        id: BufId,
        len: u32,
    },
    Heap {
        buf: Vec<u8>,
        pool: Rc<BufPool>,
    },
    /// Bytes made by a layer above the socket (a TLS record layer's plaintext), freed on drop.
    Owned(Vec<u8>),
    /// Only while `drop` runs: the buffer went back where it came from.
    Returned,
}

impl RecvBuf {
    #[cfg(target_os = "linux")]
    pub(crate) fn from_ring(ring: Rc<BufRing>, id: BufId, len: u32) -> Self {
        RecvBuf {
            inner: Inner::Ring { ring, id, len },
        }
    }

    pub(crate) fn from_pool(buf: Vec<u8>, pool: Rc<BufPool>) -> Self {
        RecvBuf {
            inner: Inner::Heap { buf, pool },
        }
    }

    /// Whether the bytes sit in the kernel's provided-buffer ring (io_uring) rather than in a
    /// pooled heap buffer.
    pub fn is_ring(&self) -> bool {
        match self.inner {
            #[cfg(target_os = "linux")]
            Inner::Ring { .. } => true,
            Inner::Heap { .. } | Inner::Owned(_) | Inner::Returned => false,
        }
    }
}

/// Received bytes that did not come from the socket's own receive: a TLS layer's decrypted
/// records, handed to the connection loops like any receive.
impl From<Vec<u8>> for RecvBuf {
    fn from(buf: Vec<u8>) -> Self {
        RecvBuf {
            inner: Inner::Owned(buf),
        }
    }
}

impl Deref for RecvBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.inner {
            #[cfg(target_os = "linux")]
            Inner::Ring { ring, id, len } => ring.bytes(id, *len),
            Inner::Heap { buf, .. } | Inner::Owned(buf) => buf,
            Inner::Returned => &[],
        }
    }
}

// SAFETY: a ring slot belongs to this handle alone (it owns the slot's `BufId`, which is not
// Clone) until `drop` gives the token back, and the ring's memory is an mmap that never moves
// while the `Rc<BufRing>` held here keeps it alive; a heap or owned buffer is a `Vec` this
// handle owns and never resizes, so its allocation never moves.
unsafe impl IoBuf for RecvBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.deref().as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.deref().len()
    }
}

impl Drop for RecvBuf {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.inner, Inner::Returned) {
            #[cfg(target_os = "linux")]
            Inner::Ring { ring, id, .. } => ring.recycle(id),
            Inner::Heap { buf, pool } => pool.put(buf),
            Inner::Owned(_) | Inner::Returned => {}
        }
    }
}

impl fmt::Debug for RecvBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBuf")
            .field("len", &self.len())
            .field("ring", &self.is_ring())
            .finish()
    }
}
