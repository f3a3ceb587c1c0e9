//! Rate limits and connection limits: pure decisions and the tables shared by every core.
//!
//! - [`Rate`], [`decide`]: the GCRA decision for one key (pure; the clock is passed in).
//! - [`RateTable`]: every key's state, shared by all worker threads (`Arc`), in 64 mutex
//!   shards, bounded. One client's connections land on every core (`SO_REUSEPORT`) and one
//!   token subject connects from many addresses, so a per-core table would admit up to N× the
//!   rate; one shared table keeps the limit exact for one uncontended lock per limited request.
//! - [`Rule`], [`Rules`]: which requests a limit applies to, text form
//!   `/kv/*;key=ip;rate=100/s;burst=200`.
//! - [`ConnTable`]: connections per client address and in total, with a permit that gives its
//!   place back on drop.
//!
//! docs/SECURITY.md ("Rate limits", "Connection limits") describes the behaviour for users.

mod conns;
mod gcra;
mod rules;
mod table;

use std::{
    net::{IpAddr, Ipv6Addr},
    sync::OnceLock,
    time::Instant,
};

pub use conns::{ConnPermit, ConnRefusal, ConnTable};
pub use gcra::{Decision, Rate, RateError, Unit, at_rest, decide};
pub use rules::{KeyKind, Pattern, Rule, RuleError, Rules};
pub use table::{DEFAULT_MAX_KEYS, RateTable, SHARDS};

/// What a rate limit counts against: a client address or a token subject.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// A client address, as [`client_ip`] canonicalises it.
    Ip(IpAddr),
    /// A token subject (`sub` claim).
    Sub(Box<str>),
}

impl Key {
    /// The key for a client address: [`client_ip`] of it.
    pub fn ip(addr: IpAddr) -> Key {
        Key::Ip(client_ip(addr))
    }

    /// The key for a token subject.
    pub fn sub(sub: &str) -> Key {
        Key::Sub(sub.into())
    }
}

/// The address a limit counts a client under: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
/// what a dual-stack listener reports) as the IPv4 address, and any other IPv6 address as its
/// /64 network, since one IPv6 host usually holds a whole /64 and could otherwise pick a fresh
/// address per request.
pub fn client_ip(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let net = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(net))
            }
        },
    }
}

/// Nanoseconds since a process-wide epoch (the first call), on the monotonic clock: the
/// clock [`RateTable::check`] callers pass in.
pub fn now_ns() -> u64 {
    ns_at(Instant::now())
}

/// [`now_ns`] for an instant already read (a worker passes its loop's clock, read once per
/// turn, instead of reading the clock again per request).
pub fn ns_at(at: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(at.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_canonicalises() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_ip(ip("10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(client_ip(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(
            client_ip(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(client_ip(ip("::1")), ip("::"));
        assert_eq!(Key::ip(ip("::ffff:127.0.0.1")), Key::Ip(ip("127.0.0.1")));
    }

    #[test]
    fn now_ns_is_monotonic() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a);
    }
}
