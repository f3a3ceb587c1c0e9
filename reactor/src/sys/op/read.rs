//! Read into a caller-owned buffer.

use crate::{
    buf::{BufResult, IoBufMut},
    sys::{
        Io,
        poll::{Direction, RawIo},
    },
};
use mio::event::Source;

#[cfg(target_os = "linux")]
pub(crate) struct ReadData<B> {
    buf: B,
}

/// Submits an io_uring read of `fd` into `buf`; the returned op owns the buffer.
#[cfg(target_os = "linux")]
pub(crate) fn submit_uring<B: IoBufMut>(
    fd: std::os::fd::RawFd,
    mut buf: B,
) -> Result<crate::sys::uring::Op<ReadData<B>>, (std::io::Error, B)> {
    use io_uring::{opcode, types};
    let ptr = buf.stable_mut_ptr();
    let len = buf.bytes_total().min(u32::MAX as usize) as u32;
    // Offset -1: the descriptor's own position, the only one sockets and pipes have.
    let sqe = opcode::Read::new(types::Fd(fd), ptr, len)
        .offset(u64::MAX)
        .build();
    // SAFETY: `ptr..ptr+len` is `buf`'s writable memory, which ReadData owns and which does
    // not move with it (IoBufMut contract).
    unsafe { crate::sys::uring::Op::submit(ReadData { buf }, sqe) }.map_err(|(e, d)| (e, d.buf))
}

#[cfg(target_os = "linux")]
impl<B: IoBufMut> crate::sys::uring::Completable for ReadData<B> {
    type Output = BufResult<usize, B>;

    fn complete(mut self, res: i32, _flags: u32) -> Self::Output {
        match crate::sys::uring::cqe_result(res) {
            Ok(n) => {
                // SAFETY: the kernel reports `n` bytes written from the buffer's start.
                unsafe { self.buf.set_init(n as usize) };
                (Ok(n as usize), self.buf)
            }
            Err(e) => (Err(e), self.buf),
        }
    }
}

/// Reads once into `buf`'s capacity; `Ok(0)` is end of stream.
pub(crate) async fn read<S: Source + RawIo, B: IoBufMut>(
    io: &Io<S>,
    mut buf: B,
) -> BufResult<usize, B> {
    let ptr = buf.stable_mut_ptr();
    let len = buf.bytes_total();
    match io {
        #[cfg(target_os = "linux")]
        Io::Uring(fd) => {
            use io_uring::{opcode, types};
            let len = len.min(u32::MAX as usize) as u32;
            // Offset -1: the descriptor's own position, the only one sockets and pipes have.
            let sqe = opcode::Read::new(types::Fd(fd.raw()), ptr, len)
                .offset(u64::MAX)
                .build();
            // SAFETY: `ptr..ptr+len` is `buf`'s writable memory, which ReadData owns and which
            // does not move with it (IoBufMut contract).
            match unsafe { crate::sys::uring::Op::submit(ReadData { buf }, sqe) } {
                Ok(op) => op.await,
                Err((e, data)) => (Err(e), data.buf),
            }
        }
        Io::Poll(reg) => {
            // SAFETY: `ptr..ptr+len` is `buf`'s writable memory and `buf` outlives the call.
            let res = reg
                .io(Direction::Read, |s| unsafe { s.read_raw(ptr, len) })
                .await;
            if let Ok(n) = res {
                // SAFETY: read(2) initialised the first `n` bytes.
                unsafe { buf.set_init(n) };
            }
            (res, buf)
        }
    }
}
