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
        let mut out = Vec::with_capacity(fds.len());
        for fd in fds {
            let sock = socket2::Socket::from(fd);
            #[cfg(target_os = "linux")]
            let listening = sock.is_listener()?;
            #[cfg(not(target_os = "linux"))]
            let listening = true; // SO_ACCEPTCONN is not portable; accept() will tell
            if sock.r#type()? != socket2::Type::STREAM || !listening {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "LISTEN_FDS holds a socket that is not a listening TCP socket",
                ));
            }
            out.push(sock.into());
        }
        Ok(out)
    }
    #[cfg(not(unix))]
    {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "socket activation is a Unix feature",
        ))
    }
}
