//! One listening socket per worker core, all bound to the same address with `SO_REUSEPORT`:
//! the kernel spreads new connections over the cores, and no core ever takes a lock to accept.
//!
//! `SO_REUSEPORT` lets any process of the same user join the group, so a second `ringwire
//! serve` would silently share the port (probes and scrapes included). The group is therefore
//! made exclusive to this process: a probe bind without `SO_REUSEPORT` fails with "address in
//! use" while anyone listens there, and after binding, the kernel's table of listening sockets
//! must show only ours on that address (two instances racing through the probe both see each
//! other there and both stop).
//!
//! After a `kill -9`, the kernel tears an io_uring instance (and the listening sockets it holds)
//! down asynchronously, so for a moment the dead process's listeners are still there. "Address
//! in use" is therefore retried for [`IN_USE_GRACE`] before it is final.

use crate::Error;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// How long an address in use is retried before binding fails (see the module docs).
pub const IN_USE_GRACE: Duration = Duration::from_secs(2);

fn retry_in_use<T>(mut bind: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
    let deadline = Instant::now() + IN_USE_GRACE;
    loop {
        match bind() {
            Err(Error::Listen { source, .. })
                if source.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            r => return r.map_err(in_use),
        }
    }
}

/// Binds `count` sockets to `addr` with `SO_REUSEPORT`. Port 0 is resolved once, by the first
/// socket, so every core listens on the same ephemeral port. Fails with "address in use" when
/// another socket (another process's `SO_REUSEPORT` group included) listens on `addr`.
pub fn bind_per_core(
    addr: SocketAddr,
    count: usize,
    backlog: u32,
    nodelay: bool,
) -> Result<Vec<TcpListener>, Error> {
    retry_in_use(|| bind_group(addr, count, backlog, nodelay))
}

fn bind_group(
    addr: SocketAddr,
    count: usize,
    backlog: u32,
    nodelay: bool,
) -> Result<Vec<TcpListener>, Error> {
    if addr.port() != 0 {
        // Dropped at once: it only proves that nobody listens on `addr` now.
        bind_one(addr, None, nodelay, false)?;
    }
    let mut out = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count.max(1) {
        let l = bind_one(addr, Some(backlog), nodelay, true)?;
        if addr.port() == 0 {
            addr = l.local_addr().map_err(|source| Error::Listen {
                addr,
                what: "read the address of",
                source,
            })?;
        }
        out.push(l);
    }
    crate::listener_check::only_ours(addr, &out)?;
    Ok(out)
}

/// One listening socket without `SO_REUSEPORT` (the admin listener): nobody can join it.
pub fn bind_exclusive(addr: SocketAddr, backlog: u32) -> Result<TcpListener, Error> {
    retry_in_use(|| bind_one(addr, Some(backlog), true, false))
}

fn in_use(e: Error) -> Error {
    match e {
        Error::Listen { addr, source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            Error::Listen {
                addr,
                what: "bind (another process listens there: stop it or choose another address)",
                source,
            }
        }
        e => e,
    }
}

/// A socket bound to `addr`; listening when `backlog` is given.
fn bind_one(
    addr: SocketAddr,
    backlog: Option<u32>,
    nodelay: bool,
    reuse_port: bool,
) -> Result<TcpListener, Error> {
    let err = |what| move |source| Error::Listen { addr, what, source };
    let s = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )
    .map_err(err("create a socket for"))?;
    s.set_reuse_address(true)
        .map_err(err("set SO_REUSEADDR on"))?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    if reuse_port {
        s.set_reuse_port(true).map_err(err("set SO_REUSEPORT on"))?;
    }
    if addr.is_ipv6() {
        s.set_only_v6(true).map_err(err("set IPV6_V6ONLY on"))?;
    }
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux: no per-connection call.
    s.set_tcp_nodelay(nodelay)
        .map_err(err("set TCP_NODELAY on"))?;
    s.bind(&addr.into()).map_err(err("bind"))?;
    if let Some(backlog) = backlog {
        s.listen(backlog.min(i32::MAX as u32) as i32)
            .map_err(err("listen on"))?;
    }
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_gets_the_same_resolved_port() {
        let ls = bind_per_core("127.0.0.1:0".parse().unwrap(), 3, 128, true).unwrap();
        let ports: Vec<u16> = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
        assert!(ports[0] != 0);
        assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
    }

    #[test]
    fn a_taken_address_names_the_step_and_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind_per_core(addr, 1, 128, true).unwrap_err().to_string();
        assert!(
            err.contains(&addr.to_string()) && err.contains("bind"),
            "{err}"
        );
    }

    #[test]
    fn a_second_group_on_the_same_address_is_refused() {
        let first = bind_per_core("127.0.0.1:0".parse().unwrap(), 2, 128, true).unwrap();
        let addr = first[0].local_addr().unwrap();
        let err = bind_per_core(addr, 2, 128, true).unwrap_err().to_string();
        assert!(
            err.contains(&addr.to_string()) && err.contains("another process listens there"),
            "{err}"
        );
        let err = bind_exclusive(addr, 128).unwrap_err().to_string();
        assert!(err.contains("another process listens there"), "{err}");
    }

    #[test]
    fn a_group_that_races_past_the_probe_sees_the_other_one() {
        let first = bind_per_core("127.0.0.1:0".parse().unwrap(), 1, 128, true).unwrap();
        let addr = first[0].local_addr().unwrap();
        // What a second process that passed the probe before `first` bound would then hold.
        let late = bind_one(addr, Some(128), true, true).unwrap();
        let err = crate::listener_check::only_ours(addr, std::slice::from_ref(&late))
            .unwrap_err()
            .to_string();
        assert!(err.contains("in use"), "{err}");
        crate::listener_check::only_ours(addr, &first).unwrap_err();
    }

    #[test]
    fn the_admin_listener_cannot_be_joined() {
        let admin = bind_exclusive("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = admin.local_addr().unwrap();
        bind_one(addr, Some(16), true, true).unwrap_err();
    }
}
