//! File-to-socket transfer without copying through user space.
//!
//! io_uring has no sendfile opcode: the file is spliced into a pipe and the pipe into the
//! socket, both as SQEs. The readiness backend uses `sendfile(2)` on Linux, and a pread+write
//! loop through a pooled buffer where neither exists.
//!
//! io_uring runs every splice in an io-wq kernel worker thread (it has no non-blocking
//! attempt for splice). Into a blocking socket whose peer stopped reading, that worker would
//! sleep until the peer reads again, so each slow reader would hold a kernel thread. So the
//! socket is switched to `O_NONBLOCK` first (io_uring's own socket operations do not care: they
//! wait for readiness by polling either way): a splice into a full socket then ends at once with
//! `EAGAIN`, and the transfer waits for `POLLOUT` with a poll request, which costs no thread.
//! The driver also caps the workers per ring (`IORING_REGISTER_IOWQ_MAX_WORKERS`).

use crate::sys::Io;
use std::{fs::File, io, rc::Rc};

#[cfg(target_os = "linux")]
mod uring {
    use crate::sys::uring::{Completable, Op, cqe_result};
    use io_uring::{opcode, types};
    use libc::c_int;
    use std::{
        fs::File,
        io,
        os::fd::{AsRawFd, OwnedFd, RawFd},
        rc::Rc,
    };

    /// Bytes moved per splice; the pipe is grown to this where the system allows.
    const CHUNK: u32 = 1 << 20;

    pub(super) struct Pipe {
        r: OwnedFd,
        w: OwnedFd,
    }

    impl Pipe {
        pub(super) fn new() -> io::Result<Rc<Pipe>> {
            let (r, w) = crate::sys::unix::pipe()?;
            // SAFETY: F_SETPIPE_SZ takes an integer; failure (a lower pipe-max-size) only
            // means smaller chunks.
            unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, CHUNK as libc::c_int) };
            Ok(Rc::new(Pipe { r, w }))
        }
    }

    // Both descriptors stay open (and their numbers unreused) until the kernel is done.
    struct SpliceData {
        _pipe: Rc<Pipe>,
        _file: Rc<File>,
    }

    impl Completable for SpliceData {
        type Output = io::Result<u32>;
        fn complete(self, res: i32, _flags: u32) -> Self::Output {
            cqe_result(res)
        }
    }

    /// A one-shot poll request; it refers to no memory of ours.
    struct PollData;

    impl Completable for PollData {
        type Output = io::Result<u32>;
        fn complete(self, res: i32, _flags: u32) -> Self::Output {
            cqe_result(res)
        }
    }

    /// Waits until `fd` is writable (or failed: the next splice then reports why).
    async fn writable(fd: RawFd) -> io::Result<()> {
        let sqe = opcode::PollAdd::new(types::Fd(fd), libc::POLLOUT as u32).build();
        // SAFETY: a poll request carries no pointers; the descriptor stays open because the
        // caller's stream, which closes it through this ring, outlives the awaited op.
        match unsafe { Op::submit(PollData, sqe) } {
            Ok(op) => op.await.map(drop),
            Err((e, _)) => Err(e),
        }
    }

    /// Makes `fd` non-blocking, so that a splice into it never parks an io-wq worker.
    fn set_nonblocking(fd: RawFd) -> io::Result<()> {
        // SAFETY: F_GETFL takes no argument and only reads the descriptor's flags.
        let flags = crate::sys::unix::cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
        if flags & libc::O_NONBLOCK == 0 {
            // SAFETY: F_SETFL takes an integer argument; only the status flags change.
            crate::sys::unix::cvt(unsafe {
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK as c_int)
            })?;
        }
        Ok(())
    }

    async fn splice(
        fd_in: RawFd,
        off_in: i64,
        fd_out: RawFd,
        len: u32,
        pipe: &Rc<Pipe>,
        file: &Rc<File>,
    ) -> io::Result<u32> {
        let sqe = opcode::Splice::new(types::Fd(fd_in), off_in, types::Fd(fd_out), -1, len).build();
        let data = SpliceData {
            _pipe: pipe.clone(),
            _file: file.clone(),
        };
        // SAFETY: a splice carries descriptors, not pointers; `data` keeps them open.
        match unsafe { Op::submit(data, sqe) } {
            Ok(op) => op.await,
            Err((e, _)) => Err(e),
        }
    }

    pub(super) async fn sendfile(
        sock: RawFd,
        file: &Rc<File>,
        offset: u64,
        len: u64,
    ) -> io::Result<u64> {
        set_nonblocking(sock)?;
        let pipe = Pipe::new()?;
        let mut sent = 0u64;
        while sent < len {
            let want = (len - sent).min(CHUNK as u64) as u32;
            let off = i64::try_from(offset + sent).map_err(|_| io::ErrorKind::InvalidInput)?;
            let n = splice(file.as_raw_fd(), off, pipe.w.as_raw_fd(), want, &pipe, file).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shorter than expected",
                ));
            }
            let mut left = n;
            while left > 0 {
                let m = match splice(pipe.r.as_raw_fd(), -1, sock, left, &pipe, file).await {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        writable(sock).await?;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if m == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                left -= m;
            }
            sent += n as u64;
        }
        Ok(sent)
    }
}

/// Sends `len` bytes of `file` from `offset`; returns the bytes sent (always `len` on success).
pub(crate) async fn sendfile(
    io: &Io<mio::net::TcpStream>,
    file: &Rc<File>,
    offset: u64,
    len: u64,
) -> io::Result<u64> {
    match io {
        #[cfg(target_os = "linux")]
        Io::Uring(fd) => uring::sendfile(fd.raw(), file, offset, len).await,
        #[cfg(target_os = "linux")]
        Io::Poll(reg) => {
            use crate::sys::poll::Direction;
            use std::os::fd::AsRawFd;
            let mut sent = 0u64;
            while sent < len {
                let n = reg
                    .io(Direction::Write, |s| {
                        let mut off = (offset + sent) as libc::off_t;
                        let chunk = (len - sent).min(1 << 30) as usize;
                        // SAFETY: `off` is a live local; both descriptors are open for the call.
                        let n = unsafe {
                            libc::sendfile(s.as_raw_fd(), file.as_raw_fd(), &mut off, chunk)
                        };
                        crate::sys::unix::cvt(n).map(|n| n as u64)
                    })
                    .await?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shorter than expected",
                    ));
                }
                sent += n;
            }
            Ok(sent)
        }
        #[cfg(not(target_os = "linux"))]
        Io::Poll(_) => copy_fallback(io, file, offset, len).await,
    }
}

/// Portable fallback: positioned reads into a pooled buffer, each written out whole.
#[cfg(not(target_os = "linux"))]
async fn copy_fallback(
    io: &Io<mio::net::TcpStream>,
    file: &Rc<File>,
    offset: u64,
    len: u64,
) -> io::Result<u64> {
    let pool = crate::runtime::context::with(|cx| cx.pool.clone());
    let mut sent = 0u64;
    while sent < len {
        let mut buf = pool.take();
        let want = ((len - sent) as usize).min(pool.size());
        buf.resize(want, 0);
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&**file, &mut buf, offset + sent)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&**file, &mut buf, offset + sent)?;
        if n == 0 {
            pool.put(buf);
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shorter than expected",
            ));
        }
        buf.truncate(n);
        let (res, buf) = super::write::write_all(io, buf).await;
        pool.put(buf);
        res?;
        sent += n as u64;
    }
    Ok(sent)
}
