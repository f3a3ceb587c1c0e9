//! Moving bytes on the readiness backend: non-blocking system calls on raw pointers taken from
//! owned buffers (so a read never has to zero its buffer first).

use std::io;

/// Byte moves a registered source supports.
pub(crate) trait RawIo {
    /// `read(2)` into `len` writable bytes at `ptr`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be writable memory owned by the caller for the duration of the call.
    unsafe fn read_raw(&self, ptr: *mut u8, len: usize) -> io::Result<usize>;
    /// `send(2)` of `len` initialised bytes at `ptr`, with `MSG_NOSIGNAL` (sockets only): a
    /// closed peer is `EPIPE`, never a SIGPIPE.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be initialised memory valid for the duration of the call.
    unsafe fn write_raw(&self, ptr: *const u8, len: usize) -> io::Result<usize>;
    /// `sendmsg(2)` of the given (pointer, length) pairs, with `MSG_NOSIGNAL` (sockets only).
    ///
    /// # Safety
    /// Every pair must describe initialised memory valid for the duration of the call.
    unsafe fn writev_raw(&self, parts: &[(*const u8, usize)]) -> io::Result<usize>;
}

#[cfg(unix)]
impl<S: std::os::fd::AsRawFd> RawIo for S {
    unsafe fn read_raw(&self, ptr: *mut u8, len: usize) -> io::Result<usize> {
        // SAFETY: the caller guarantees `ptr..ptr+len` is writable and ours for the call.
        let n = unsafe { libc::read(self.as_raw_fd(), ptr.cast(), len) };
        crate::sys::unix::cvt(n).map(|n| n as usize)
    }

    unsafe fn write_raw(&self, ptr: *const u8, len: usize) -> io::Result<usize> {
        // SAFETY: the caller guarantees `ptr..ptr+len` is initialised and live for the call.
        let n = unsafe { libc::send(self.as_raw_fd(), ptr.cast(), len, libc::MSG_NOSIGNAL) };
        crate::sys::unix::cvt(n).map(|n| n as usize)
    }

    unsafe fn writev_raw(&self, parts: &[(*const u8, usize)]) -> io::Result<usize> {
        // Callers pass at most IOV_MAX (1024) parts (`op::writev` caps them).
        let mut iov: Vec<libc::iovec> = parts
            .iter()
            .map(|&(p, l)| libc::iovec {
                iov_base: p as *mut libc::c_void,
                iov_len: l,
            })
            .collect();
        // SAFETY: msghdr is plain data; all-zero is "no address, no control data".
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len() as _;
        // SAFETY: `msg` points at `iov`, whose entries describe memory the caller guarantees
        // is live and initialised; both outlive the call, which only reads them.
        let n = unsafe { libc::sendmsg(self.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        crate::sys::unix::cvt(n).map(|n| n as usize)
    }
}

#[cfg(windows)]
impl RawIo for mio::net::TcpStream {
    unsafe fn read_raw(&self, ptr: *mut u8, len: usize) -> io::Result<usize> {
        use std::io::Read;
        // SAFETY: the caller guarantees the region is writable; zeroing it makes it initialised
        // so a `&mut [u8]` over it is sound.
        let buf = unsafe {
            std::ptr::write_bytes(ptr, 0, len);
            std::slice::from_raw_parts_mut(ptr, len)
        };
        (&*self).read(buf)
    }

    unsafe fn write_raw(&self, ptr: *const u8, len: usize) -> io::Result<usize> {
        use std::io::Write;
        // SAFETY: the caller guarantees the region is initialised and live.
        (&*self).write(unsafe { std::slice::from_raw_parts(ptr, len) })
    }

    unsafe fn writev_raw(&self, parts: &[(*const u8, usize)]) -> io::Result<usize> {
        use std::io::{IoSlice, Write};
        let slices: Vec<IoSlice<'_>> = parts
            .iter()
            // SAFETY: the caller guarantees every part is initialised and live.
            .map(|&(p, l)| IoSlice::new(unsafe { std::slice::from_raw_parts(p, l) }))
            .collect();
        (&*self).write_vectored(&slices)
    }
}
