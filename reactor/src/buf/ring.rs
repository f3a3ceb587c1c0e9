//! io_uring's provided-buffer ring: a ring of buffer descriptors shared with the kernel, from
//! which a multishot receive picks a buffer for each completion. Receives then need no buffer
//! per connection: memory is taken only when bytes arrive and comes back when the
//! [`RecvBuf`](super::RecvBuf) that holds them is dropped.

use std::{
    cell::Cell,
    io,
    ptr::{self, NonNull},
    sync::atomic::{AtomicU16, Ordering},
};

/// `struct io_uring_buf` from the kernel ABI (16 bytes). In slot 0, `resv` is the ring's tail.
#[repr(C)]
struct RawEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// An anonymous private mapping, unmapped on drop. Pages are allocated only when touched.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Self> {
        // SAFETY: an anonymous private mapping with no address hint aliases nothing; the result
        // is checked for MAP_FAILED before use.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr..ptr+len` is exactly the mapping created in `new`, and no reference into
        // it outlives `self` (RecvBufs hold an Rc to the ring that owns this mapping).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The ring and its buffers. Lives in an `Rc` shared by the driver and every outstanding
/// [`RecvBuf`](super::RecvBuf); the kernel only ever reads descriptors and writes into slots
/// it has been given and not yet returned.
pub(crate) struct BufRing {
    bgid: u16,
    entries: u16,
    buf_size: u32,
    ring: Mapping,
    bufs: Mapping,
    tail: Cell<u16>,
    out: Cell<u32>,
}

impl BufRing {
    /// Maps a ring of `entries` (a power of two, at most 32768) buffers of `buf_size` bytes
    /// and offers all of them to the kernel. The caller registers it under `bgid`.
    pub(crate) fn new(entries: u16, buf_size: u32, bgid: u16) -> io::Result<Self> {
        if !entries.is_power_of_two() || entries > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring size must be 2^n",
            ));
        }
        let ring_len = (entries as usize * size_of::<RawEntry>()).next_multiple_of(page_size());
        let ring = Mapping::new(ring_len)?;
        let bufs = Mapping::new(entries as usize * buf_size as usize)?;
        let this = BufRing {
            bgid,
            entries,
            buf_size,
            ring,
            bufs,
            tail: Cell::new(0),
            out: Cell::new(entries as u32),
        };
        for bid in 0..entries {
            this.recycle(bid);
        }
        Ok(this)
    }

    /// Address of the descriptor ring, for `IORING_REGISTER_PBUF_RING`.
    pub(crate) fn ring_addr(&self) -> u64 {
        self.ring.ptr.as_ptr() as u64
    }

    pub(crate) fn entries(&self) -> u16 {
        self.entries
    }

    pub(crate) fn bgid(&self) -> u16 {
        self.bgid
    }

    /// Buffers the kernel has handed to us and that are not back in the ring yet.
    pub(crate) fn outstanding(&self) -> u32 {
        self.out.get()
    }

    fn slot(&self, bid: u16) -> *mut u8 {
        assert!(bid < self.entries, "buffer id {bid} out of range");
        self.bufs
            .ptr
            .as_ptr()
            .wrapping_add(bid as usize * self.buf_size as usize)
    }

    /// The `len` received bytes in slot `bid`.
    pub(crate) fn bytes(&self, bid: u16, len: u32) -> &[u8] {
        assert!(
            len <= self.buf_size,
            "completion length {len} exceeds the buffer size"
        );
        // SAFETY: `slot` checked `bid`; the kernel handed this slot over with a completion of
        // `len` bytes (<= buf_size, checked) and does not touch it again until `recycle`, which
        // only the single owner of the slot (a RecvBuf) calls. The mapping outlives `&self`.
        unsafe { std::slice::from_raw_parts(self.slot(bid), len as usize) }
    }

    /// Offers slot `bid` to the kernel again. Called exactly once per slot handed out.
    pub(crate) fn recycle(&self, bid: u16) {
        let addr = self.slot(bid) as u64;
        let tail = self.tail.get();
        let idx = (tail & (self.entries - 1)) as usize;
        let entry = self.ring.ptr.as_ptr().cast::<RawEntry>().wrapping_add(idx);
        // SAFETY: `idx < entries`, so `entry` lies inside the ring mapping. The kernel does not
        // read descriptors at or after the tail until the tail is published below, and writing
        // the three fields one by one leaves `resv` (the tail, in slot 0) untouched.
        unsafe {
            ptr::addr_of_mut!((*entry).addr).write(addr);
            ptr::addr_of_mut!((*entry).len).write(self.buf_size);
            ptr::addr_of_mut!((*entry).bid).write(bid);
        }
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: the tail lives in slot 0's `resv` (kernel ABI), a naturally aligned u16 inside
        // the mapping; the kernel reads it concurrently, hence an atomic release store, which
        // also orders the descriptor writes above before it.
        let tail_ptr =
            unsafe { ptr::addr_of_mut!((*self.ring.ptr.as_ptr().cast::<RawEntry>()).resv) };
        // SAFETY: as above: aligned, in bounds, only ever accessed atomically by us.
        unsafe { AtomicU16::from_ptr(tail_ptr) }.store(tail, Ordering::Release);
        self.out.set(self.out.get() - 1);
    }

    /// Records that the kernel handed slot `bid` to us in a completion.
    pub(crate) fn taken(&self, bid: u16) {
        debug_assert!(bid < self.entries);
        self.out.set(self.out.get() + 1);
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as usize } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_offers_every_buffer_and_tracks_outstanding() {
        let ring = BufRing::new(8, 128, 0).unwrap();
        assert_eq!(ring.outstanding(), 0);
        assert_eq!(ring.tail.get(), 8);
        assert_eq!(
            ring.ring_addr() % page_size() as u64,
            0,
            "ring must be page aligned"
        );
        ring.taken(3);
        assert_eq!(ring.outstanding(), 1);
        assert_eq!(ring.bytes(3, 5).len(), 5);
        ring.recycle(3);
        assert_eq!(ring.outstanding(), 0);
        assert_eq!(ring.tail.get(), 9);
    }

    #[test]
    fn rejects_non_power_of_two() {
        assert!(BufRing::new(12, 64, 0).is_err());
    }
}
