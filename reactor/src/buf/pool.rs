//! A per-core free list of equally sized heap buffers.
//!
//! The readiness backend receives into these, and the io_uring backend falls back to them when
//! its provided-buffer ring runs dry. Buffers are taken only while data is in flight, so an idle
//! connection holds none.

use std::cell::{Cell, RefCell};

/// A free list of `size`-byte buffers; at most `max_free` are kept for reuse.
#[derive(Debug)]
pub(crate) struct BufPool {
    size: usize,
    max_free: usize,
    free: RefCell<Vec<Vec<u8>>>,
    outstanding: Cell<usize>,
}

impl BufPool {
    pub(crate) fn new(size: usize, max_free: usize) -> Self {
        BufPool {
            size,
            max_free,
            free: RefCell::new(Vec::new()),
            outstanding: Cell::new(0),
        }
    }

    /// The size every buffer of this pool has.
    #[cfg_attr(target_os = "linux", allow(dead_code))] // used by the non-Linux sendfile fallback
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// An empty buffer with at least `size` bytes of capacity.
    pub(crate) fn take(&self) -> Vec<u8> {
        self.outstanding.set(self.outstanding.get() + 1);
        self.free
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.size))
    }

    /// Returns a buffer taken with [`BufPool::take`].
    pub(crate) fn put(&self, mut buf: Vec<u8>) {
        self.outstanding
            .set(self.outstanding.get().saturating_sub(1));
        let mut free = self.free.borrow_mut();
        if free.len() < self.max_free && buf.capacity() == self.size {
            buf.clear();
            free.push(buf);
        }
    }

    /// Buffers currently handed out (for stats and leak tests).
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_and_bounds_free_list() {
        let pool = BufPool::new(64, 1);
        let a = pool.take();
        let b = pool.take();
        assert_eq!(pool.outstanding(), 2);
        assert!(a.capacity() >= 64);
        let a_ptr = a.as_ptr();
        pool.put(a);
        pool.put(b);
        assert_eq!(pool.outstanding(), 0);
        assert_eq!(
            pool.free.borrow().len(),
            1,
            "free list is bounded by max_free"
        );
        let again = pool.take();
        assert_eq!(again.as_ptr(), a_ptr, "a returned buffer is reused");
    }
}
