//! Write from a caller-owned buffer.

use crate::{
    buf::{BufResult, IoBuf},
    sys::{
        Io,
        poll::{Direction, RawIo},
    },
};
use mio::event::Source;
use std::io;

#[cfg(target_os = "linux")]
struct WriteData<B> {
    buf: B,
}

#[cfg(target_os = "linux")]
impl<B: IoBuf> crate::sys::uring::Completable for WriteData<B> {
    type Output = BufResult<usize, B>;

    fn complete(self, res: i32, _flags: u32) -> Self::Output {
        (
            crate::sys::uring::cqe_result(res).map(|n| n as usize),
            self.buf,
        )
    }
}

/// Writes once from `buf`; may write fewer bytes than it holds.
pub(crate) async fn write<S: Source + RawIo, B: IoBuf>(io: &Io<S>, buf: B) -> BufResult<usize, B> {
    let ptr = buf.stable_ptr();
    let len = buf.bytes_init();
    match io {
        #[cfg(target_os = "linux")]
        Io::Uring(fd) => {
            use io_uring::{opcode, types};
            let len = len.min(u32::MAX as usize) as u32;
            let sqe = opcode::Send::new(types::Fd(fd.raw()), ptr, len)
                .flags(libc::MSG_NOSIGNAL)
                .build();
            // SAFETY: `ptr..ptr+len` is `buf`'s initialised memory, owned by WriteData and
            // stable across moves (IoBuf contract).
            match unsafe { crate::sys::uring::Op::submit(WriteData { buf }, sqe) } {
                Ok(op) => op.await,
                Err((e, data)) => (Err(e), data.buf),
            }
        }
        Io::Poll(reg) => {
            // SAFETY: `ptr..ptr+len` is `buf`'s initialised memory and `buf` outlives the call.
            let res = reg
                .io(Direction::Write, |s| unsafe { s.write_raw(ptr, len) })
                .await;
            (res, buf)
        }
    }
}

/// Writes all of `buf`, however many system calls (or SQEs) that takes.
pub(crate) async fn write_all<S: Source + RawIo, B: IoBuf>(
    io: &Io<S>,
    mut buf: B,
) -> BufResult<(), B> {
    let total = buf.bytes_init();
    let mut done = 0;
    while done < total {
        let (res, slice) = write(io, buf.slice(done..)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}
