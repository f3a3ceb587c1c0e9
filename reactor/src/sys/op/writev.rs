//! Vectored write of several owned buffers (a response head and its body) in one call.

use crate::{
    buf::{BufResult, IoBuf},
    sys::{
        Io,
        poll::{Direction, RawIo},
    },
};
use mio::event::Source;
use std::io;

/// (pointer, length) of every byte of `bufs` after the first `skip`.
fn parts<B: IoBuf>(bufs: &[B], mut skip: usize) -> Vec<(*const u8, usize)> {
    let mut out = Vec::with_capacity(bufs.len());
    for b in bufs {
        let len = b.bytes_init();
        if skip >= len {
            skip -= len;
            continue;
        }
        out.push((b.stable_ptr().wrapping_add(skip), len - skip));
        skip = 0;
    }
    out
}

#[cfg(target_os = "linux")]
struct WritevData<B> {
    bufs: Vec<B>,
    // Read by the kernel at submission: heap memory owned here, so it outlives the SQE.
    _iov: Vec<libc::iovec>,
}

#[cfg(target_os = "linux")]
impl<B: IoBuf> crate::sys::uring::Completable for WritevData<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn complete(self, res: i32, _flags: u32) -> Self::Output {
        (
            crate::sys::uring::cqe_result(res).map(|n| n as usize),
            self.bufs,
        )
    }
}

/// One vectored write of `bufs` minus their first `skip` bytes.
async fn writev_from<S: Source + RawIo, B: IoBuf>(
    io: &Io<S>,
    bufs: Vec<B>,
    skip: usize,
) -> BufResult<usize, Vec<B>> {
    let parts = parts(&bufs, skip);
    match io {
        #[cfg(target_os = "linux")]
        Io::Uring(fd) => {
            use io_uring::{opcode, types};
            let iov: Vec<libc::iovec> = parts
                .iter()
                .map(|&(p, l)| libc::iovec {
                    iov_base: p as *mut libc::c_void,
                    iov_len: l,
                })
                .collect();
            let sqe =
                opcode::Writev::new(types::Fd(fd.raw()), iov.as_ptr(), iov.len() as u32).build();
            // SAFETY: every iovec points into a buffer of `bufs` (stable, IoBuf contract), and
            // both `bufs` and the iovec array are heap memory owned by WritevData.
            match unsafe { crate::sys::uring::Op::submit(WritevData { bufs, _iov: iov }, sqe) } {
                Ok(op) => op.await,
                Err((e, data)) => (Err(e), data.bufs),
            }
        }
        Io::Poll(reg) => {
            // SAFETY: every part points into `bufs`, which outlives the call.
            let res = reg
                .io(Direction::Write, |s| unsafe { s.writev_raw(&parts) })
                .await;
            (res, bufs)
        }
    }
}

/// Writes every byte of `bufs`, in order.
pub(crate) async fn writev_all<S: Source + RawIo, B: IoBuf>(
    io: &Io<S>,
    mut bufs: Vec<B>,
) -> BufResult<(), Vec<B>> {
    let total: usize = bufs.iter().map(IoBuf::bytes_init).sum();
    let mut done = 0;
    while done < total {
        let (res, back) = writev_from(io, bufs, done).await;
        bufs = back;
        match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), bufs),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), bufs),
        }
    }
    (Ok(()), bufs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_skip_whole_and_partial_buffers() {
        let bufs: Vec<&'static [u8]> = vec![b"abc", b"", b"defg"];
        let lens: Vec<usize> = parts(&bufs, 0).iter().map(|p| p.1).collect();
        assert_eq!(lens, [3, 4]);
        let p = parts(&bufs, 4);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].1, 3);
        assert_eq!(p[0].0, bufs[2].as_ptr().wrapping_add(1));
        assert!(parts(&bufs, 7).is_empty());
    }
}
