//! One listening socket per worker core, all bound to the same address with `SO_REUSEPORT`:
//! the kernel spreads new connections over the cores, and no core ever takes a lock to accept.

use crate::Error;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, TcpListener};

/// Binds `count` sockets to `addr` with `SO_REUSEPORT`. Port 0 is resolved once, by the first
/// socket, so every core listens on the same ephemeral port.
pub fn bind_per_core(
    addr: SocketAddr,
    count: usize,
    backlog: u32,
    nodelay: bool,
) -> Result<Vec<TcpListener>, Error> {
    let mut out = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count.max(1) {
        let l = bind_one(addr, backlog, nodelay)?;
        if addr.port() == 0 {
            addr = l.local_addr().map_err(|source| Error::Listen {
                addr,
                what: "read the address of",
                source,
            })?;
        }
        out.push(l);
    }
    Ok(out)
}

fn bind_one(addr: SocketAddr, backlog: u32, nodelay: bool) -> Result<TcpListener, Error> {
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
    s.set_reuse_port(true).map_err(err("set SO_REUSEPORT on"))?;
    if addr.is_ipv6() {
        s.set_only_v6(true).map_err(err("set IPV6_V6ONLY on"))?;
    }
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux: no per-connection call.
    s.set_tcp_nodelay(nodelay)
        .map_err(err("set TCP_NODELAY on"))?;
    s.bind(&addr.into()).map_err(err("bind"))?;
    s.listen(backlog.min(i32::MAX as u32) as i32)
        .map_err(err("listen on"))?;
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
}
