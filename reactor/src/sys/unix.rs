//! The one place raw Unix system calls are turned into `io::Result`.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Turns a libc-style return value (`-1` and errno on failure) into `io::Result`.
pub(crate) fn cvt<T: Copy + PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A blocking, close-on-exec eventfd: the io_uring backend keeps a read of it in flight as its
/// cross-thread wake, and a read of a non-blocking eventfd would fail with EAGAIN at once.
#[cfg(target_os = "linux")]
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; the returned descriptor is checked and then owned.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter, waking whoever waits on it.
#[cfg(target_os = "linux")]
pub(crate) fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live local; EAGAIN (counter saturated) still leaves the fd
    // readable, which is all a wake needs.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

/// A pipe pair (read end, write end), close-on-exec, for splicing files into sockets.
#[cfg(target_os = "linux")]
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Pins the calling thread to `cpu`.
#[cfg(target_os = "linux")]
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cpu index beyond CPU_SETSIZE",
        ));
    }
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set, CPU_SET indexes within it
    // (checked above), and sched_setaffinity reads `size_of::<cpu_set_t>()` bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        cvt(libc::sched_setaffinity(
            0,
            size_of::<libc::cpu_set_t>(),
            &set,
        ))?;
    }
    Ok(())
}

/// CPUs this process may run on.
#[cfg(target_os = "linux")]
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: sched_getaffinity writes at most `size_of::<cpu_set_t>()` bytes into `set`;
    // CPU_ISSET reads indexes below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        cvt(libc::sched_getaffinity(
            0,
            size_of::<libc::cpu_set_t>(),
            &mut set,
        ))?;
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect())
    }
}

#[cfg(target_os = "linux")]
fn sigset(signals: &[i32]) -> io::Result<libc::sigset_t> {
    // SAFETY: sigemptyset/sigaddset only write into the local set; invalid signal numbers are
    // reported through their return value.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            cvt(libc::sigaddset(&mut set, s))?;
        }
        Ok(set)
    }
}

/// Blocks `signals` on the calling thread (threads it creates afterwards inherit the mask).
#[cfg(target_os = "linux")]
pub(crate) fn block_signals(signals: &[i32]) -> io::Result<()> {
    let set = sigset(signals)?;
    // SAFETY: reads the set we built; no old mask is requested.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if r != 0 {
        Err(io::Error::from_raw_os_error(r))
    } else {
        Ok(())
    }
}

/// `kill(getpid(), signal)`: sends `signal` to this process.
#[cfg(target_os = "linux")]
pub(crate) fn raise_in_process(signal: i32) -> io::Result<()> {
    // SAFETY: getpid has no preconditions; kill takes plain integers and touches no memory of
    // ours.
    cvt(unsafe { libc::kill(libc::getpid(), signal) }).map(drop)
}

/// Sends `signal` to process `pid`.
#[cfg(target_os = "linux")]
pub(crate) fn kill(pid: u32, signal: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "not a process id"))?;
    // SAFETY: kill takes plain integers and touches no memory of ours.
    cvt(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// A signalfd for `signals` (which must be blocked in every thread to be delivered to it).
#[cfg(target_os = "linux")]
pub(crate) fn signalfd(signals: &[i32], nonblocking: bool) -> io::Result<OwnedFd> {
    let set = sigset(signals)?;
    let flags = libc::SFD_CLOEXEC | if nonblocking { libc::SFD_NONBLOCK } else { 0 };
    // SAFETY: -1 asks for a new descriptor; the set is a live local.
    let fd = cvt(unsafe { libc::signalfd(-1, &set, flags) })?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat2(root, path, O_RDONLY|O_CLOEXEC, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS)`.
#[cfg(target_os = "linux")]
pub(crate) fn openat2_beneath(
    root: &std::fs::File,
    path: &std::path::Path,
) -> io::Result<std::fs::File> {
    use std::os::{fd::AsRawFd, unix::ffi::OsStrExt};
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: open_how is plain data; all-zero is valid and the fields are set below.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: the path is a NUL-terminated string and `how` a live struct of the size passed;
    // the kernel only reads both.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c_path.as_ptr(),
            &how as *const libc::open_how,
            size_of::<libc::open_how>(),
        )
    };
    let fd = cvt(fd)? as RawFd;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// Takes ownership of the `count` descriptors systemd passed from fd 3 on, once per process.
#[cfg(unix)]
pub(crate) fn take_inherited(count: usize) -> io::Result<Vec<std::os::fd::OwnedFd>> {
    let fds: Vec<RawFd> = (3..3 + count as RawFd).collect();
    take_inherited_at(&fds)
}

/// Claims descriptors `fds`, handed to this process by its parent (systemd's 3.., or an
/// upgrading ringwire's list), once per process.
pub(crate) fn take_inherited_at(fds: &[RawFd]) -> io::Result<Vec<std::os::fd::OwnedFd>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Err(io::Error::other("inherited sockets were already taken"));
    }
    let mut sorted = fds.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != fds.len() || sorted.first().is_some_and(|fd| *fd < 3) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "inherited descriptors must be distinct and above stderr",
        ));
    }
    let mut out = Vec::with_capacity(fds.len());
    for &fd in fds {
        // F_GETFD fails with EBADF on a descriptor that is not open: refuse to claim it.
        // SAFETY: fcntl(F_GETFD) only inspects the descriptor table.
        cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
        // SAFETY: the parent handed these descriptors to this process (systemd: LISTEN_PID
        // checked by the caller; an upgrading ringwire: its list in our environment), the
        // check above shows each is open, they are distinct and not stdio (checked above),
        // and TAKEN makes this the only place that ever takes ownership of them.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: FD_CLOEXEC keeps them from leaking into child processes.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
        out.push(owned);
    }
    Ok(out)
}

/// A duplicate of `fd` without `FD_CLOEXEC`, so that a child inherits it across `exec`.
pub(crate) fn dup_inheritable(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    // SAFETY: F_DUPFD only reads the descriptor table; `fd` is open for the borrow's length.
    let new = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD, 3) })?;
    // SAFETY: `new` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Keeps SIGPIPE blocked on the calling thread while it lives (the runtime holds one for the
/// length of `block_on`). Sends carry `MSG_NOSIGNAL`, but `sendfile(2)` and `splice(2)` into
/// a socket whose peer has gone take no flags and raise SIGPIPE at the thread that runs them
/// (with io_uring, the loop thread whenever the kernel completes the operation inline). A
/// blocked, thread-directed signal is only left pending, never acted on, so the call fails
/// with EPIPE and the process lives even where SIGPIPE has its default (fatal) disposition,
/// as in a program that embeds the reactor without Rust's start-up code ignoring it.
#[cfg(target_os = "linux")]
pub(crate) struct SigpipeBlocked {
    /// SIGPIPE was blocked already (by the embedder): leave the mask and pending set alone.
    was_blocked: bool,
}

#[cfg(target_os = "linux")]
impl SigpipeBlocked {
    pub(crate) fn new() -> Self {
        let Ok(set) = sigset(&[libc::SIGPIPE]) else {
            return SigpipeBlocked { was_blocked: true };
        };
        // SAFETY: sigset_t is plain data; all-zero is a valid (empty) set for the old mask.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: reads `set` and writes the previous mask into `old`, both live locals.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
        // SAFETY: `old` was filled in by pthread_sigmask (or is the empty set if it failed).
        let was_blocked = r != 0 || unsafe { libc::sigismember(&old, libc::SIGPIPE) } == 1;
        SigpipeBlocked { was_blocked }
    }
}

#[cfg(target_os = "linux")]
impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        if self.was_blocked {
            return;
        }
        let Ok(set) = sigset(&[libc::SIGPIPE]) else {
            return;
        };
        // Take every SIGPIPE left pending by a failed transfer first: unblocking with one
        // pending would deliver it now, killing the process at its default disposition.
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: reads the set and the zero timeout, both live locals; no siginfo is asked
        // for. Each call consumes at most one pending SIGPIPE and fails (EAGAIN) once none is.
        while unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) } == libc::SIGPIPE {}
        // SAFETY: reads the set we built; no old mask is requested.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
}
