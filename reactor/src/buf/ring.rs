//! io_uring's provided-buffer ring: a ring of buffer descriptors shared with the kernel, from
//! which a multishot receive picks a buffer for each completion. Receives then need no buffer
//! per connection: memory is taken only when bytes arrive and comes back when the
//! [`RecvBuf`](super::RecvBuf) that holds them is dropped.
//!
//! A slot the kernel handed over is named by a [`BufId`], an owned token: it cannot be copied,
//! only made by [`BufRing::claim`] (unsafe: the caller vouches that a completion handed the slot
//! over and that nobody claimed it before) and consumed by [`BufRing::recycle`]. Offering one
//! slot to the kernel twice, which would let it write two receives into the same memory while
//! the first is still being read, is therefore impossible from safe code.

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

/// One slot of the ring that the kernel handed to us. Owned and neither `Clone` nor `Copy`:
/// whoever holds it is the only one who may read the slot, and giving the slot back
/// ([`BufRing::recycle`]) consumes it. It names its ring too (by the address of the ring's
/// buffers, unique while the ring lives), so it cannot be used with another ring.
#[derive(Debug)]
pub(crate) struct BufId {
    bid: u16,
    ring: usize,
}

// Fails to compile if `BufId` ever becomes `Clone` (or `Copy`): the two impls below would
// then both apply, and the path would be ambiguous.
const _: fn() = || {
    trait AmbiguousIfClone<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfClone<()> for T {}
    impl<T: Clone> AmbiguousIfClone<u8> for T {}
    let _ = <BufId as AmbiguousIfClone<_>>::some_item;
};

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
        // `entries` is a u16, so it is at most 32768 once it is a power of two.
        if !entries.is_power_of_two() {
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
            out: Cell::new(0),
        };
        for bid in 0..entries {
            this.offer(bid);
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

    /// How many filled buffers one receiver may have waiting for its consumer before its
    /// multishot receive is cancelled (and re-armed only once the consumer asks for more).
    /// Without it one connection that does not read takes every slot of the core: the kernel
    /// moves its bytes out of the socket into our buffers, so TCP flow control never pushes
    /// back on the sender. A thirty-second of the ring, between 4 and 64 (16 of the default
    /// 512). The cancel takes effect at the next submission; what the kernel delivered in the
    /// same loop turn still arrives, so a receiver holds this plus at most one turn's receipts
    /// (in tests, a few dozen), never the whole ring.
    pub(crate) fn per_receiver(&self) -> usize {
        (self.entries as usize / 32).clamp(4, 64)
    }

    /// The identity a [`BufId`] of this ring carries.
    fn id(&self) -> usize {
        self.bufs.ptr.as_ptr() as usize
    }

    /// Slot `id` names, after checking that `id` belongs to this ring.
    fn own(&self, id: &BufId) -> u16 {
        assert_eq!(id.ring, self.id(), "buffer id of another ring");
        id.bid
    }

    fn slot(&self, bid: u16) -> *mut u8 {
        assert!(bid < self.entries, "buffer id {bid} out of range");
        self.bufs
            .ptr
            .as_ptr()
            .wrapping_add(bid as usize * self.buf_size as usize)
    }

    /// The first `len` bytes of the slot `id` names (the bytes its completion reported).
    pub(crate) fn bytes(&self, id: &BufId, len: u32) -> &[u8] {
        assert!(
            len <= self.buf_size,
            "completion length {len} exceeds the buffer size"
        );
        let bid = self.own(id);
        // SAFETY: `own`/`slot` checked `id` is this ring's and `bid < entries`, so `len <=
        // buf_size` bytes lie in this ring's mapping (alive as long as `&self`). A non-Clone
        // `BufId` lives only between `claim` (kernel done with the slot) and `recycle` (consumes
        // it): while `id` is borrowed the kernel does not write the slot. mmap zero-fills it.
        unsafe { std::slice::from_raw_parts(self.slot(bid), len as usize) }
    }

    /// Counts a completion that carries a slot of this ring (at reap time, before anyone
    /// claims it), so [`outstanding`](Self::outstanding) includes results queued for a task
    /// that has not polled yet.
    pub(crate) fn delivered(&self) {
        self.out.set(self.out.get() + 1);
    }

    /// The owned token for slot `bid`, handed over by a completion.
    ///
    /// # Safety
    /// `bid` must come from the buffer-select flags of a completion of an operation that
    /// selected from this ring, and no token may have been claimed for that completion before:
    /// one completion, one token. The kernel then no longer writes the slot, and it is not in
    /// the ring again until the token comes back through [`recycle`](Self::recycle).
    pub(crate) unsafe fn claim(&self, bid: u16) -> BufId {
        assert!(bid < self.entries, "buffer id {bid} out of range");
        BufId {
            bid,
            ring: self.id(),
        }
    }

    /// Offers the slot `id` names to the kernel again, consuming the token.
    pub(crate) fn recycle(&self, id: BufId) {
        self.offer(self.own(&id));
        self.out.set(self.out.get().saturating_sub(1));
    }

    /// Appends slot `bid` to the ring and publishes the new tail.
    fn offer(&self, bid: u16) {
        let addr = self.slot(bid) as u64;
        let tail = self.tail.get();
        let idx = (tail & (self.entries - 1)) as usize;
        let entry = self.ring.ptr.as_ptr().cast::<RawEntry>().wrapping_add(idx);
        // SAFETY: `idx < entries`, so `entry` lies inside the ring mapping (which holds at least
        // `entries` descriptors). The kernel reads only descriptors before the published tail,
        // and `idx` is the tail itself, so nobody reads this one while we write it; writing the
        // three fields one by one leaves `resv` (the tail, in slot 0) untouched.
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
        ring.delivered();
        assert_eq!(ring.outstanding(), 1);
        // SAFETY: stands in for a completion that handed slot 3 over; claimed once.
        let id = unsafe { ring.claim(3) };
        assert_eq!(ring.bytes(&id, 5).len(), 5);
        ring.recycle(id);
        assert_eq!(ring.outstanding(), 0);
        assert_eq!(ring.tail.get(), 9);
    }

    #[test]
    #[should_panic(expected = "another ring")]
    fn a_buffer_id_of_another_ring_is_refused() {
        let (a, b) = (
            BufRing::new(8, 64, 0).unwrap(),
            BufRing::new(8, 64, 0).unwrap(),
        );
        // SAFETY: stands in for a completion of ring `a` that handed slot 1 over.
        let id = unsafe { a.claim(1) };
        b.recycle(id);
    }

    #[test]
    fn each_receiver_may_hold_a_bounded_share() {
        assert_eq!(BufRing::new(512, 64, 0).unwrap().per_receiver(), 16);
        assert_eq!(BufRing::new(8, 64, 0).unwrap().per_receiver(), 4);
        assert_eq!(BufRing::new(32768, 64, 0).unwrap().per_receiver(), 64);
    }

    #[test]
    fn rejects_non_power_of_two() {
        assert!(BufRing::new(12, 64, 0).is_err());
    }
}
