//! Connection limits: open connections per client address and in total, across every core.
//!
//! The total is one atomic counter; the per-address counts are a sharded map whose entries are
//! removed when they reach zero, so the map holds only addresses with open connections. A
//! limit of 0 is no limit (and the per-address map is then not touched at all).

use std::{
    collections::HashMap,
    fmt,
    hash::{BuildHasher, RandomState},
    net::IpAddr,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use super::client_ip;

const SHARDS: usize = 16;

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnRefusal {
    /// Its address already has the maximum connections open.
    PerIp,
    /// The server already has the maximum connections open.
    Total,
}

impl ConnRefusal {
    /// A short stable name (metrics label, logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            ConnRefusal::PerIp => "per_ip",
            ConnRefusal::Total => "total",
        }
    }
}

impl fmt::Display for ConnRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnRefusal::PerIp => "too many connections from this address",
            ConnRefusal::Total => "too many connections to this server",
        })
    }
}

impl std::error::Error for ConnRefusal {}

struct Inner {
    per_ip_limit: AtomicUsize,
    total_limit: AtomicUsize,
    open: AtomicUsize,
    refused_per_ip: AtomicU64,
    refused_total: AtomicU64,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<IpAddr, usize>>]>,
}

impl Inner {
    fn shard(&self, ip: IpAddr) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        let i = self.hasher.hash_one(ip) as usize % SHARDS;
        // A poisoned shard still holds valid counts: keep using it.
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Open-connection counts shared by every core; cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct ConnTable {
    inner: Arc<Inner>,
}

impl fmt::Debug for ConnTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnTable")
            .field("per_ip", &self.inner.per_ip_limit.load(Ordering::Relaxed))
            .field("total", &self.inner.total_limit.load(Ordering::Relaxed))
            .field("open", &self.open())
            .finish()
    }
}

/// One open connection's place in a [`ConnTable`]; dropping it gives the place back.
#[must_use = "the connection's place is given back when the permit is dropped"]
pub struct ConnPermit {
    inner: Arc<Inner>,
    /// The canonical address counted, when the per-address limit was on at acquire.
    ip: Option<IpAddr>,
}

impl fmt::Debug for ConnPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnPermit").field("ip", &self.ip).finish()
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            let mut map = self.inner.shard(ip);
            if let Some(n) = map.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
        self.inner.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnTable {
    /// At most `per_ip` connections per client address ([`super::client_ip`]) and `total`
    /// in all; 0 = unlimited.
    pub fn new(per_ip: usize, total: usize) -> ConnTable {
        ConnTable {
            inner: Arc::new(Inner {
                per_ip_limit: AtomicUsize::new(per_ip),
                total_limit: AtomicUsize::new(total),
                open: AtomicUsize::new(0),
                refused_per_ip: AtomicU64::new(0),
                refused_total: AtomicU64::new(0),
                hasher: RandomState::new(),
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            }),
        }
    }

    /// Changes the limits (a reload); connections already open stay open. A per-address limit
    /// turned on counts only connections accepted from then on.
    pub fn set_limits(&self, per_ip: usize, total: usize) {
        self.inner.per_ip_limit.store(per_ip, Ordering::Relaxed);
        self.inner.total_limit.store(total, Ordering::Relaxed);
    }

    /// Takes a place for a new connection from `ip`, or says which limit refuses it (and
    /// counts the refusal).
    pub fn try_acquire(&self, ip: IpAddr) -> Result<ConnPermit, ConnRefusal> {
        let inner = &self.inner;
        let total = inner.total_limit.load(Ordering::Relaxed);
        let took = inner
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (total == 0 || n < total).then_some(n + 1)
            });
        if took.is_err() {
            inner.refused_total.fetch_add(1, Ordering::Relaxed);
            return Err(ConnRefusal::Total);
        }
        let per_ip = inner.per_ip_limit.load(Ordering::Relaxed);
        if per_ip == 0 {
            return Ok(ConnPermit {
                inner: inner.clone(),
                ip: None,
            });
        }
        let ip = client_ip(ip);
        let mut map = inner.shard(ip);
        let n = map.entry(ip).or_insert(0);
        if *n >= per_ip {
            if *n == 0 {
                map.remove(&ip);
            }
            drop(map);
            inner.open.fetch_sub(1, Ordering::AcqRel);
            inner.refused_per_ip.fetch_add(1, Ordering::Relaxed);
            return Err(ConnRefusal::PerIp);
        }
        *n += 1;
        Ok(ConnPermit {
            inner: inner.clone(),
            ip: Some(ip),
        })
    }

    /// Connections holding a permit now.
    pub fn open(&self) -> usize {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Open connections counted for `ip` ([`super::client_ip`] of it).
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let ip = client_ip(ip);
        self.inner.shard(ip).get(&ip).copied().unwrap_or(0)
    }

    /// Addresses with at least one counted connection (the per-address map's size).
    pub fn addresses(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Connections refused so far for this reason.
    pub fn refused(&self, why: ConnRefusal) -> u64 {
        match why {
            ConnRefusal::PerIp => self.inner.refused_per_ip.load(Ordering::Relaxed),
            ConnRefusal::Total => self.inner.refused_total.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ConnTable>();
        check::<ConnPermit>();
    }

    #[test]
    fn limits_and_zero_means_unlimited() {
        let t = ConnTable::new(2, 3);
        let a1 = t.try_acquire(ip(1)).unwrap();
        let _a2 = t.try_acquire(ip(1)).unwrap();
        assert_eq!(t.try_acquire(ip(1)).unwrap_err(), ConnRefusal::PerIp);
        // IPv4-mapped IPv6 is the same client.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(t.try_acquire(mapped).unwrap_err(), ConnRefusal::PerIp);
        let _b = t.try_acquire(ip(2)).unwrap();
        assert_eq!(t.try_acquire(ip(3)).unwrap_err(), ConnRefusal::Total);
        assert_eq!(t.refused(ConnRefusal::PerIp), 2);
        assert_eq!(t.refused(ConnRefusal::Total), 1);
        assert_eq!(t.open(), 3);
        drop(a1);
        assert_eq!(t.open_from(ip(1)), 1);
        let _c = t.try_acquire(ip(3)).unwrap();

        let open = ConnTable::new(0, 0);
        let permits: Vec<_> = (0..100).map(|_| open.try_acquire(ip(1)).unwrap()).collect();
        assert_eq!(open.open(), 100);
        assert_eq!(open.addresses(), 0, "no per-address limit: no map");
        drop(permits);
        assert_eq!(open.open(), 0);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Acquire(u8),
        Drop(usize),
    }

    proptest! {
        /// (e) Acquire/drop sequences never exceed the limits, refusals are exactly the ones
        /// the limits call for, and every count returns to zero.
        #[test]
        fn never_exceeds_limits_and_returns_to_zero(
            per_ip in 0usize..4,
            total in 0usize..7,
            ops in prop::collection::vec(
                prop_oneof![(0u8..4).prop_map(Op::Acquire), any::<usize>().prop_map(Op::Drop)],
                0..200,
            ),
        ) {
            let t = ConnTable::new(per_ip, total);
            let mut held: Vec<(u8, ConnPermit)> = Vec::new();
            for op in ops {
                match op {
                    Op::Acquire(n) => {
                        let from = held.iter().filter(|(h, _)| *h == n).count();
                        let want = if total != 0 && held.len() >= total {
                            Err(ConnRefusal::Total)
                        } else if per_ip != 0 && from >= per_ip {
                            Err(ConnRefusal::PerIp)
                        } else {
                            Ok(())
                        };
                        let got = t.try_acquire(ip(n));
                        prop_assert_eq!(got.as_ref().map(|_| ()).map_err(|e| *e), want);
                        if let Ok(p) = got {
                            held.push((n, p));
                        }
                    }
                    Op::Drop(i) if !held.is_empty() => {
                        drop(held.swap_remove(i % held.len()));
                    }
                    Op::Drop(_) => {}
                }
                prop_assert_eq!(t.open(), held.len());
                prop_assert!(total == 0 || t.open() <= total);
                for n in 0..4 {
                    let from = held.iter().filter(|(h, _)| *h == n).count();
                    prop_assert!(per_ip == 0 || from <= per_ip);
                    prop_assert_eq!(t.open_from(ip(n)), if per_ip == 0 { 0 } else { from });
                }
            }
            drop(held);
            prop_assert_eq!(t.open(), 0);
            prop_assert_eq!(t.addresses(), 0);
        }
    }
}
