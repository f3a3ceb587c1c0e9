//! After binding a `SO_REUSEPORT` group: does anybody else listen on the same address?
//!
//! The kernel lists every listening TCP socket of this network namespace in
//! `/proc/self/net/tcp{,6}` with its inode; ours are the inodes behind our file descriptors.
//! Where that table cannot be read (not Linux, a sandbox without it), the probe bind in
//! `listener.rs` is the only check.

use crate::Error;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

/// `Err(AddrInUse)` when a listening socket on `addr` (or on the wildcard address of its
/// family, same port) is not one of `ours`.
pub(crate) fn only_ours(addr: SocketAddr, ours: &[TcpListener]) -> Result<(), Error> {
    let mine: Vec<u64> = ours.iter().filter_map(inode).collect();
    if mine.len() != ours.len() {
        return Ok(()); // no /proc: nothing to compare with
    }
    let table = if addr.is_ipv4() {
        "/proc/self/net/tcp"
    } else {
        "/proc/self/net/tcp6"
    };
    let Ok(text) = std::fs::read_to_string(table) else {
        return Ok(());
    };
    let foreign = listeners(&text)
        .filter(|(a, _)| {
            a.port() == addr.port() && (a.ip() == addr.ip() || a.ip().is_unspecified())
        })
        .any(|(_, ino)| !mine.contains(&ino));
    if foreign {
        return Err(Error::Listen {
            addr,
            what: "bind",
            source: io::Error::from(io::ErrorKind::AddrInUse),
        });
    }
    Ok(())
}

#[cfg(unix)]
fn inode(l: &TcpListener) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", l.as_raw_fd())).ok()?;
    let link = link.to_str()?;
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(not(unix))]
fn inode(_: &TcpListener) -> Option<u64> {
    None
}

/// `(local address, inode)` of every socket in LISTEN state (`st` = `0A`) in a
/// `/proc/net/tcp{,6}` table.
fn listeners(table: &str) -> impl Iterator<Item = (SocketAddr, u64)> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || f[3] != "0A" {
            return None;
        }
        let (ip, port) = f[1].split_once(':')?;
        let port = u16::from_str_radix(port, 16).ok()?;
        Some((SocketAddr::new(parse_ip(ip)?, port), f[9].parse().ok()?))
    })
}

/// The kernel prints each 32-bit word of the address in host byte order.
fn parse_ip(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| {
        let w = hex.get(i * 8..i * 8 + 8)?;
        u32::from_str_radix(w, 16).ok().map(u32::to_ne_bytes)
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn the_kernel_table_shows_our_listener_with_its_inode() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let text = std::fs::read_to_string("/proc/self/net/tcp").unwrap();
        let ino = inode(&l).unwrap();
        assert!(listeners(&text).any(|(a, i)| a == addr && i == ino));
        only_ours(addr, std::slice::from_ref(&l)).unwrap();
    }

    #[test]
    fn addresses_parse_in_host_word_order() {
        let v4 = u32::from_ne_bytes([127, 0, 0, 1]);
        assert_eq!(
            parse_ip(&format!("{v4:08X}")),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        let one = u32::from_ne_bytes([0, 0, 0, 1]);
        let v6 = format!("{:08X}{:08X}{:08X}{one:08X}", 0, 0, 0);
        assert_eq!(parse_ip(&v6), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(parse_ip("zz"), None);
    }
}
