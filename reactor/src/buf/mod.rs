//! Owned buffers for completion-based I/O.
//!
//! With io_uring the kernel reads or writes a buffer after the call that submitted the
//! operation has returned, so every I/O call takes its buffer by value and returns it with the
//! result. The traits here describe memory whose address stays put when the value that owns it
//! is moved, which is what lets a future (and the driver, after the future is dropped) carry the
//! buffer around while the kernel uses it.

mod pool;
mod recv;
#[cfg(target_os = "linux")]
pub(crate) mod ring;

pub(crate) use pool::BufPool;
pub use recv::RecvBuf;

use bytes::{Bytes, BytesMut};
use std::ops::{Bound, RangeBounds};

/// The result of an owned-buffer operation: the outcome and the buffer, handed back either way.
pub type BufResult<T, B> = (std::io::Result<T>, B);

/// Memory the kernel may read from while an operation is in flight.
///
/// # Safety
/// `stable_ptr` must point to `bytes_init` initialised bytes that stay valid and at the same
/// address for as long as the value lives, even when the value itself is moved.
pub unsafe trait IoBuf: 'static {
    /// Start of the initialised bytes.
    fn stable_ptr(&self) -> *const u8;
    /// How many bytes from `stable_ptr` are initialised (and will be written out).
    fn bytes_init(&self) -> usize;

    /// A view of `range` of this buffer that can be written without copying.
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n + 1,
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_init(),
        };
        assert!(
            begin <= end && end <= self.bytes_init(),
            "slice {begin}..{end} out of bounds"
        );
        Slice {
            buf: self,
            begin,
            end,
        }
    }
}

/// Memory the kernel may write into while an operation is in flight.
///
/// # Safety
/// `stable_mut_ptr` must point to `bytes_total` bytes of writable memory that stay valid and at
/// the same address for as long as the value lives, even when the value itself is moved, and
/// `set_init(n)` must only mark bytes the caller guarantees are initialised.
pub unsafe trait IoBufMut: IoBuf {
    /// Start of the writable region (the whole capacity).
    fn stable_mut_ptr(&mut self) -> *mut u8;
    /// How many bytes may be written from `stable_mut_ptr`.
    fn bytes_total(&mut self) -> usize;
    /// Records that the first `n` bytes are initialised.
    ///
    /// # Safety
    /// The first `n` bytes from `stable_mut_ptr` must have been initialised.
    unsafe fn set_init(&mut self, n: usize);
}

// SAFETY: a Vec's heap allocation does not move when the Vec does; `len` bytes are initialised.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: the capacity is writable and stays put; `set_len` only grows to bytes the kernel
// reported as written.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn bytes_total(&mut self) -> usize {
        self.capacity()
    }
    unsafe fn set_init(&mut self, n: usize) {
        if n > self.len() {
            // SAFETY: the caller guarantees the first `n` bytes are initialised, and
            // `n <= capacity` because the kernel never writes past `bytes_total`.
            unsafe { self.set_len(n) };
        }
    }
}

// SAFETY: a boxed slice's allocation does not move with the box and is fully initialised.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: the whole boxed slice is initialised and writable; its address is stable.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn bytes_total(&mut self) -> usize {
        self.len()
    }
    unsafe fn set_init(&mut self, _n: usize) {}
}

// SAFETY: `Bytes` points at shared, immutable, heap or static memory that outlives the handle.
unsafe impl IoBuf for Bytes {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: a `BytesMut`'s storage is heap memory that does not move with the handle.
unsafe impl IoBuf for BytesMut {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: as above; the spare capacity is writable and `set_len` marks only written bytes.
unsafe impl IoBufMut for BytesMut {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn bytes_total(&mut self) -> usize {
        self.capacity()
    }
    unsafe fn set_init(&mut self, n: usize) {
        if n > self.len() {
            // SAFETY: the caller guarantees `n` initialised bytes within the capacity.
            unsafe { self.set_len(n) };
        }
    }
}

// SAFETY: static memory never moves and is never freed.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: static memory never moves and is never freed.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

/// A range of an owned buffer, itself an owned buffer: write part of a buffer without copying.
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: usize,
}

impl<B> Slice<B> {
    /// The buffer this slice views, handed back whole.
    pub fn into_inner(self) -> B {
        self.buf
    }
    /// Offset of the slice's first byte within the buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }
    /// Offset just past the slice's last byte.
    pub fn end(&self) -> usize {
        self.end
    }
    /// The underlying buffer.
    pub fn get_ref(&self) -> &B {
        &self.buf
    }
}

// SAFETY: `begin..end` was checked against `bytes_init` when the slice was made, and the inner
// buffer's guarantees carry over to a sub-range.
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn stable_ptr(&self) -> *const u8 {
        self.buf.stable_ptr().wrapping_add(self.begin)
    }
    fn bytes_init(&self) -> usize {
        self.end - self.begin
    }
}

impl<B: IoBuf> std::ops::Deref for Slice<B> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `begin..end` lies inside the inner buffer's initialised bytes (checked at
        // construction), which are valid for as long as `self` is borrowed.
        unsafe { std::slice::from_raw_parts(self.stable_ptr(), self.bytes_init()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_views_the_requested_range() {
        let s = b"hello world".to_vec().slice(6..);
        assert_eq!(&*s, b"world");
        assert_eq!((s.begin(), s.end()), (6, 11));
        assert_eq!(s.into_inner().len(), 11);
        let s = (&b"abc"[..]).slice(..=1);
        assert_eq!(&*s, b"ab");
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn slice_past_the_end_panics() {
        let _ = vec![0u8; 4].slice(2..9);
    }

    #[test]
    fn vec_set_init_grows_len_only() {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"abcd");
        assert_eq!(v.bytes_total(), v.capacity());
        // SAFETY: the first two bytes are initialised (len is 4), so this must be a no-op.
        unsafe { v.set_init(2) };
        assert_eq!(v.len(), 4);
    }
}
