//! systemd socket activation: listening sockets handed over in `LISTEN_FDS`.

use std::{io, net::TcpListener};

/// The TCP listeners systemd passed to this process (`LISTEN_PID` must be ours), or an empty
/// list when there are none. Can be called once per process; later calls fail.
pub fn systemd_listeners() -> io::Result<Vec<TcpListener>> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    if !pid_ok || count == 0 {
        return Ok(Vec::new());
    }
    #[cfg(unix)]
    {
        let fds = crate::sys::unix::take_inherited(count)?;
        fds.into_iter()
            .map(|fd| {
                listener(fd).map_err(|e| io::Error::new(e.kind(), format!("LISTEN_FDS: {e}")))
            })
            .collect()
    }
    #[cfg(not(unix))]
    {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "socket activation is a Unix feature",
        ))
    }
}

/// A copy of `fd` that a child process inherits across `exec` (no `FD_CLOEXEC`), for handing
/// listening sockets to a successor process (a zero-downtime upgrade). The copy shares the
/// socket with `fd`: the same accept queue, so no connection is lost between the two
/// processes. Drop it in the parent once the child is spawned.
#[cfg(unix)]
pub fn inheritable(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
    crate::sys::unix::dup_inheritable(fd)
}

/// Takes ownership of descriptors a parent handed to this process at known numbers (see
/// [`inheritable`]), checking that each is open, and marks them close-on-exec. Shares the
/// once-per-process guard with [`systemd_listeners`].
#[cfg(unix)]
pub fn take_fds(fds: &[std::os::fd::RawFd]) -> io::Result<Vec<std::os::fd::OwnedFd>> {
    crate::sys::unix::take_inherited_at(fds)
}

/// `fd` as a TCP listener, if it is a listening stream socket.
#[cfg(unix)]
pub fn listener(fd: std::os::fd::OwnedFd) -> io::Result<TcpListener> {
    let sock = socket2::Socket::from(fd);
    #[cfg(target_os = "linux")]
    let listening = sock.is_listener()?;
    #[cfg(not(target_os = "linux"))]
    let listening = true; // SO_ACCEPTCONN is not portable; accept() will tell
    if sock.r#type()? != socket2::Type::STREAM || !listening {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a descriptor handed over is not a listening TCP socket",
        ));
    }
    Ok(sock.into())
}

/// Spawns `cmd` detached from this process: an intermediate child forks the real one and
/// exits at once, so the real one is re-parented to the nearest subreaper (under systemd:
/// the service manager, which then supervises it as its own child, not as an "alien" process
/// it cannot wait for). Returns the intermediate (wait for it: it has exited or is about to);
/// the real process's id must come from the process itself. A failed `exec` is still reported
/// as an error, as for a plain spawn.
#[cfg(unix)]
pub fn spawn_detached(cmd: &mut std::process::Command) -> io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: fork(2) and _exit(2) are. The intermediate calls nothing else and
    // exits; the grandchild returns and goes on to exec, as any spawned child does.
    unsafe {
        cmd.pre_exec(|| match libc::fork() {
            -1 => Err(io::Error::last_os_error()),
            0 => Ok(()),
            _ => libc::_exit(0),
        });
    }
    cmd.spawn()
}

/// A close-on-exec pipe (read end, write end): how a successor process says it is ready.
#[cfg(target_os = "linux")]
pub fn pipe() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    crate::sys::unix::pipe()
}
