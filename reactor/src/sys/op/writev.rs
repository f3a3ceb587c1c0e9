//! Vectored write of several owned buffers (a response head and its body) in one call.
//!
//! One call passes at most [`IOV_MAX`] parts (the kernel refuses more with EINVAL); a longer
//! list goes out in several calls. Both backends send with `MSG_NOSIGNAL`, so a peer that has
//! gone away is an `EPIPE` error, never a SIGPIPE: io_uring uses `SENDMSG` rather than
//! `WRITEV`, which has no flags argument.

use crate::{
    buf::{BufResult, IoBuf},
    sys::{
        Io,
        poll::{Direction, RawIo},
    },
};
use mio::event::Source;
use std::io;

/// The most iovecs one `writev`/`sendmsg` accepts (`UIO_MAXIOV` on Linux, `IOV_MAX` in POSIX
/// terms, 1024 on Linux and the BSDs).
pub(crate) const IOV_MAX: usize = 1024;

/// (pointer, length) of the bytes of `bufs` after the first `skip`: at most [`IOV_MAX`] parts,
/// the rest is for the next call.
fn part_iter<B: IoBuf>(bufs: &[B], mut skip: usize) -> impl Iterator<Item = (*const u8, usize)> {
    bufs.iter()
        .filter_map(move |b| {
            let len = b.bytes_init();
            if skip >= len {
                skip -= len;
                return None;
            }
            let part = (b.stable_ptr().wrapping_add(skip), len - skip);
            skip = 0;
            Some(part)
        })
        .take(IOV_MAX)
}

/// [`part_iter`], collected.
fn parts<B: IoBuf>(bufs: &[B], skip: usize) -> Vec<(*const u8, usize)> {
    part_iter(bufs, skip).collect()
}

#[cfg(target_os = "linux")]
struct WritevData<B> {
    bufs: Vec<B>,
    // Read by the kernel while the op is in flight: heap memory owned here, so it stays put
    // when the data moves (into the driver, if the future is dropped) and outlives the SQE.
    _iov: Vec<libc::iovec>,
    _msg: Box<libc::msghdr>,
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
    match io {
        #[cfg(target_os = "linux")]
        Io::Uring(fd) => {
            use io_uring::{opcode, types};
            let iov: Vec<libc::iovec> = part_iter(&bufs, skip)
                .map(|(p, l)| libc::iovec {
                    iov_base: p as *mut libc::c_void,
                    iov_len: l,
                })
                .collect();
            // SAFETY: msghdr is plain data; all-zero is "no address, no control data".
            let mut msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
            msg.msg_iov = iov.as_ptr().cast_mut();
            // At most IOV_MAX (1024) parts: fits every libc's msg_iovlen type.
            msg.msg_iovlen = iov.len() as _;
            let sqe = opcode::SendMsg::new(types::Fd(fd.raw()), &*msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build();
            let data = WritevData {
                bufs,
                _iov: iov,
                _msg: msg,
            };
            // SAFETY: the SQE points at the boxed msghdr, which points at the iovec array,
            // whose entries point into the buffers of `bufs` (stable, IoBuf contract); all
            // three are heap memory owned by WritevData, which Op::submit keeps alive and in
            // place until the completion.
            match unsafe { crate::sys::uring::Op::submit(data, sqe) } {
                Ok(op) => op.await,
                Err((e, data)) => (Err(e), data.bufs),
            }
        }
        Io::Poll(reg) => {
            let parts = parts(&bufs, skip);
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
    fn one_call_takes_at_most_iov_max_parts() {
        let bufs: Vec<&'static [u8]> = vec![b"ab"; 3000];
        let p = parts(&bufs, 0);
        assert_eq!(p.len(), IOV_MAX);
        let p = parts(&bufs, 2 * 2500 + 1);
        assert_eq!(p.len(), 500, "the tail after the skip");
        assert_eq!(p[0].1, 1);
    }

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
