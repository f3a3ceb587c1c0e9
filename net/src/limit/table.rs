//! The rate-limit state of every key, shared by all worker threads.
//!
//! 64 shards, each a `Mutex` over a hash table of `(rule, key) → TAT`. A key is hashed once,
//! with a keyed hash (SipHash: clients choose their addresses), which picks both its shard and
//! its bucket, so unrelated clients rarely share a lock and one decision is one short,
//! uncontended lock. The table is bounded: a full shard first forgets the keys at rest (TAT ≤ now, exactly
//! as if never seen); if none is at rest the request is admitted untracked and counted in
//! [`RateTable::table_full`] (failing open: a table too small for the clients must not refuse
//! everyone).

use hashbrown::HashTable;
use std::{
    hash::{BuildHasher, Hasher, RandomState},
    net::IpAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use super::{
    Key, client_ip,
    gcra::{Decision, Rate, at_rest, decide},
    rules::{KeyKind, Rules},
};

/// Shards in a [`RateTable`].
pub const SHARDS: usize = 64;
/// Keys a [`RateTable`] holds by default (all rules together): 262,144, about 21 MiB at most
/// plus the text of `sub` keys.
pub const DEFAULT_MAX_KEYS: usize = 262_144;

/// A key borrowed for lookups, so a check allocates only when it inserts a new key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyRef<'a> {
    Ip(IpAddr),
    Sub(&'a str),
}

impl KeyRef<'_> {
    fn to_owned(self) -> Key {
        match self {
            KeyRef::Ip(ip) => Key::Ip(ip),
            KeyRef::Sub(s) => Key::Sub(s.into()),
        }
    }
}

impl Key {
    fn as_ref(&self) -> KeyRef<'_> {
        match self {
            Key::Ip(ip) => KeyRef::Ip(*ip),
            Key::Sub(s) => KeyRef::Sub(s),
        }
    }
}

/// One `(rule, key)` and its GCRA state, with the hash it was filed under: a decision hashes
/// its key once, for the shard and for the shard's table both, and a growing table rehashes
/// nothing.
struct Slot {
    hash: u64,
    rule: u16,
    key: Key,
    tat: u64,
}

impl Slot {
    fn is(&self, hash: u64, rule: u16, key: KeyRef<'_>) -> bool {
        self.hash == hash && self.rule == rule && self.key.as_ref() == key
    }
}

/// A rule's limit as the table applies it.
type Limit = (Rate, u32);

#[derive(Default)]
struct Shard {
    map: HashTable<Slot>,
    /// No key's TAT is below this (a lower bound; exact after a sweep): before it, a sweep
    /// cannot find a key at rest, so a full shard does not scan.
    min_tat: u64,
    /// Every rule's limit by index: a copy per shard, read under the lock a check holds anyway.
    limits: Arc<[Limit]>,
}

impl Shard {
    /// Forgets the keys at rest; whether there is now room for one more.
    fn make_room(&mut self, cap: usize, now_ns: u64) -> bool {
        if now_ns >= self.min_tat {
            self.map.retain(|s| !at_rest(s.tat, now_ns));
            self.min_tat = self.map.iter().map(|s| s.tat).min().unwrap_or(0);
        }
        self.map.len() < cap
    }
}

/// Every limited key's GCRA state under a set of [`Rules`], shared by all cores
/// (`Arc<RateTable>`).
pub struct RateTable {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    per_shard: usize,
    table_full: AtomicU64,
}

/// No rules (every check admits), [`DEFAULT_MAX_KEYS`].
impl Default for RateTable {
    fn default() -> Self {
        RateTable::new(&Rules::default())
    }
}

impl std::fmt::Debug for RateTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateTable")
            .field("max_keys", &self.max_keys())
            .field("table_full", &self.table_full())
            .finish_non_exhaustive()
    }
}

impl RateTable {
    /// A table for `rules` holding at most [`DEFAULT_MAX_KEYS`] keys.
    pub fn new(rules: &Rules) -> RateTable {
        RateTable::with_max_keys(rules, DEFAULT_MAX_KEYS)
    }

    /// A table for `rules` holding at most about `max_keys` keys (rounded up to a multiple
    /// of 64; at least one per shard).
    pub fn with_max_keys(rules: &Rules, max_keys: usize) -> RateTable {
        let t = RateTable {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            per_shard: max_keys.div_ceil(SHARDS).max(1),
            table_full: AtomicU64::new(0),
        };
        t.set_rules(rules);
        t
    }

    /// Replaces the rules (a reload) and forgets every key, as indices now mean other rules.
    pub fn set_rules(&self, rules: &Rules) {
        let limits: Arc<[Limit]> = rules.iter().map(|(_, r)| (r.rate, r.burst)).collect();
        for s in self.shards.iter() {
            let mut s = lock(s);
            s.map.clear();
            s.min_tat = 0;
            s.limits = limits.clone();
        }
    }

    /// The bound on keys held.
    pub fn max_keys(&self) -> usize {
        self.per_shard * SHARDS
    }

    /// Requests admitted untracked because their shard was full of keys not at rest.
    pub fn table_full(&self) -> u64 {
        self.table_full.load(Ordering::Relaxed)
    }

    /// Keys held now (locks every shard in turn; for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decides one request of `key` under rule number `rule` (its index in the [`Rules`]) at
    /// `now_ns` ([`super::now_ns`]). An address is counted as [`super::client_ip`] of it. A
    /// rule index the table does not know admits.
    pub fn check(&self, rule: u16, key: &Key, now_ns: u64) -> Decision {
        self.check_ref(rule, key.as_ref(), now_ns)
    }

    /// Decides one request against several rules (indices and key kinds, e.g. from
    /// [`Rules::for_path`] or [`Rules::for_service`]): each rule counts it under its own key —
    /// the address (`ip`) or the subject (`sub`; the address when there is none) — and it is
    /// denied if any rule denies, with the longest wait. Rules checked before a denying one
    /// have counted the request. Allocates nothing for a key already held.
    pub fn check_all(
        &self,
        rules: impl IntoIterator<Item = (u16, KeyKind)>,
        ip: IpAddr,
        sub: Option<&str>,
        now_ns: u64,
    ) -> Decision {
        let mut out = Decision::Allow;
        for (idx, kind) in rules {
            let key = match (kind, sub) {
                (KeyKind::Sub, Some(s)) => KeyRef::Sub(s),
                _ => KeyRef::Ip(ip),
            };
            if let d @ Decision::Deny { retry_after } = self.check_ref(idx, key, now_ns) {
                match out {
                    Decision::Deny { retry_after: r } if r >= retry_after => {}
                    _ => out = d,
                }
            }
        }
        out
    }

    /// The keyed hash of `(rule, key)`, fed to SipHash in one or two writes (hashing the
    /// tuple field by field cost more than the rest of a decision but the lock).
    fn hash(&self, rule: u16, key: KeyRef<'_>) -> u64 {
        let mut h = self.hasher.build_hasher();
        let [r0, r1] = rule.to_le_bytes();
        match key {
            KeyRef::Ip(IpAddr::V4(v4)) => {
                let [a, b, c, d] = v4.octets();
                h.write(&[r0, r1, 4, a, b, c, d]);
            }
            KeyRef::Ip(IpAddr::V6(v6)) => {
                let mut buf = [6u8; 19];
                buf[..2].copy_from_slice(&[r0, r1]);
                buf[3..].copy_from_slice(&v6.octets());
                h.write(&buf);
            }
            // A fixed-length prefix, then the subject to the end: unambiguous.
            KeyRef::Sub(s) => {
                h.write(&[r0, r1, 0]);
                h.write(s.as_bytes());
            }
        }
        h.finish()
    }

    fn check_ref(&self, rule: u16, key: KeyRef<'_>, now_ns: u64) -> Decision {
        let key = match key {
            KeyRef::Ip(ip) => KeyRef::Ip(client_ip(ip)),
            sub => sub,
        };
        let hash = self.hash(rule, key);
        let mut shard = lock(&self.shards[shard_of(hash)]);
        let Some(&(rate, burst)) = shard.limits.get(usize::from(rule)) else {
            return Decision::Allow;
        };
        if let Some(slot) = shard.map.find_mut(hash, |s| s.is(hash, rule, key)) {
            let mut state = Some(slot.tat);
            let d = decide(&mut state, now_ns, rate, burst);
            slot.tat = state.unwrap_or(slot.tat);
            return d;
        }
        let mut state = None;
        let d = decide(&mut state, now_ns, rate, burst);
        let Some(tat) = state else { return d };
        if shard.map.len() >= self.per_shard && !shard.make_room(self.per_shard, now_ns) {
            self.table_full.fetch_add(1, Ordering::Relaxed);
            return d;
        }
        shard.min_tat = if shard.map.is_empty() {
            tat
        } else {
            shard.min_tat.min(tat)
        };
        let slot = Slot {
            hash,
            rule,
            key: key.to_owned(),
            tat,
        };
        shard.map.insert_unique(hash, slot, |s| s.hash);
        d
    }
}

/// The shard of a key's hash: bits 32 and up, which the shard's table uses neither for its
/// bucket index (low bits) nor its tag (the top seven), so keys in one shard still spread.
fn shard_of(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

/// A poisoned shard still holds valid TATs (a plain `u64` per key): keep using it.
fn lock(m: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::{sync::atomic::AtomicUsize, time::Duration};

    fn ip(n: u32) -> Key {
        Key::Ip(IpAddr::from(n.to_be_bytes()))
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<RateTable>();
    }

    #[test]
    fn keys_and_rules_are_separate() {
        let t =
            RateTable::new(&Rules::parse("/*;rate=1/s;burst=1,/kv/*;rate=1/s;burst=1").unwrap());
        assert!(t.check(0, &ip(1), 0).is_allow());
        assert!(!t.check(0, &ip(1), 0).is_allow());
        assert!(t.check(1, &ip(1), 0).is_allow(), "another rule, same key");
        assert!(t.check(0, &ip(2), 0).is_allow(), "same rule, another key");
        assert!(t.check(0, &Key::sub("alice"), 0).is_allow());
        assert!(!t.check(0, &Key::sub("alice"), 0).is_allow());
        assert!(t.check(0, &Key::sub("bob"), 0).is_allow());
        assert_eq!(t.len(), 5);
        assert!(t.check(2, &ip(1), 0).is_allow(), "an unknown rule admits");
        assert!(RateTable::default().check(0, &ip(1), 0).is_allow());
        // A reload forgets every key.
        t.set_rules(&Rules::parse("/*;rate=1/s;burst=1").unwrap());
        assert!(t.is_empty());
        assert!(t.check(0, &ip(1), 0).is_allow());
    }

    #[test]
    fn check_all_uses_each_rules_key_and_the_longest_wait() {
        let rules = Rules::parse("/*;key=ip;rate=1/s;burst=1,/*;key=sub;rate=1/m;burst=1").unwrap();
        let t = RateTable::new(&rules);
        let kinds = || rules.for_path("/x").map(|(i, r)| (i, r.key));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(t.check_all(kinds(), a, Some("alice"), 0).is_allow());
        // Same subject from another address: the ip rule admits, the sub rule refuses.
        let d = t.check_all(kinds(), b, Some("alice"), 0);
        assert_eq!(
            d,
            Decision::Deny {
                retry_after: Duration::from_secs(60)
            }
        );
        // Without a subject a sub rule counts the address: `b` already used its ip rule.
        assert_eq!(t.check_all(kinds(), b, None, 0).retry_after_secs(), 1);
        // IPv4-mapped is the same client as plain IPv4, through check_all and check alike.
        let mapped: IpAddr = "::ffff:10.0.0.3".parse().unwrap();
        assert!(t.check_all([(0, KeyKind::Ip)], mapped, None, 0).is_allow());
        assert!(
            !t.check(0, &Key::Ip("10.0.0.3".parse().unwrap()), 0)
                .is_allow()
        );
    }

    #[test]
    fn full_table_forgets_keys_at_rest_then_fails_open_and_counts() {
        let rules = Rules::parse("/*;rate=1/s;burst=1").unwrap();
        let t = RateTable::with_max_keys(&rules, SHARDS); // one key per shard
        let sec = 1_000_000_000;
        // Insert keys until some shard is full and a key goes untracked.
        let mut n = 0;
        while t.table_full() == 0 {
            assert!(n < 10_000, "64 one-key shards never filled");
            assert!(t.check(0, &ip(n), 0).is_allow(), "a full table fails open");
            n += 1;
        }
        assert!(t.len() <= SHARDS);
        // Keys not at rest were kept, not evicted: every tracked key is still refused.
        let refused = (0..n)
            .filter(|&k| !t.check(0, &ip(k), 0).is_allow())
            .count();
        assert_eq!(
            refused,
            n as usize - 1,
            "only the untracked key is admitted again"
        );
        assert_eq!(t.table_full(), 2, "the untracked key was counted again");
        let last = ip(n - 1);
        // One second later every key is at rest: room is made, the key is tracked again.
        let full = t.table_full();
        assert!(t.check(0, &last, sec).is_allow());
        assert!(
            !t.check(0, &last, sec).is_allow(),
            "tracked again after the sweep"
        );
        assert_eq!(t.table_full(), full);
    }

    #[test]
    fn a_sweep_forgets_only_keys_at_rest() {
        let mut s = Shard::default();
        for (n, tat) in [(1, 5), (2, 100), (3, 10)] {
            let slot = Slot {
                hash: u64::from(n),
                rule: 0,
                key: ip(n),
                tat,
            };
            s.map.insert_unique(slot.hash, slot, |s| s.hash);
        }
        s.min_tat = 5;
        assert!(!s.make_room(3, 4), "nothing at rest before 5");
        assert_eq!(s.map.len(), 3);
        assert!(
            s.make_room(3, 10),
            "keys with TAT 5 and 10 are at rest at 10"
        );
        assert_eq!(s.map.len(), 1);
        let kept: Vec<_> = s.map.iter().map(|s| (s.hash, s.tat)).collect();
        assert_eq!(kept, [(2, 100)]);
        assert_eq!(s.min_tat, 100);
        assert!(!s.make_room(1, 99), "full, and nothing at rest before 100");
        assert_eq!(s.map.len(), 1);
    }

    #[test]
    fn two_threads_on_one_key_stay_within_rate_times_elapsed_plus_burst() {
        let rules = Rules::parse("/*;rate=1000/s;burst=50").unwrap();
        let t = Arc::new(RateTable::new(&rules));
        let clock = Arc::new(AtomicU64::new(0));
        let admitted = Arc::new(AtomicUsize::new(0));
        let (_, rule) = rules.iter().next().unwrap();
        let step = rule.rate.emission_ns() / 4; // the two threads offer 4× the rate
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (t, clock, admitted) = (t.clone(), clock.clone(), admitted.clone());
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        let now = clock.fetch_add(step, Ordering::Relaxed);
                        if t.check(0, &ip(7), now).is_allow() {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let elapsed = clock.load(Ordering::Relaxed);
        let n = admitted.load(Ordering::Relaxed) as u64;
        let bound = elapsed / rule.rate.emission_ns() + u64::from(rule.burst);
        assert!(n <= bound, "{n} admitted, bound {bound}");
        assert!(
            n >= bound / 2,
            "{n} admitted, bound {bound}: the key is starved"
        );
    }

    proptest! {
        /// (c) Keys sharing a table never affect each other: each key's decisions equal
        /// those of a table holding only that key.
        #[test]
        fn independent_keys_never_affect_each_other(
            steps in prop::collection::vec((0u8..3, 0u64..40_000_000), 1..300),
            rates in (1u32..100, 1u32..10, 1u32..100, 1u32..10),
        ) {
            let rules = Rules::parse(&format!(
                "/*;rate={}/s;burst={},/*;rate={}/s;burst={}",
                rates.0, rates.1, rates.2, rates.3
            ))
            .unwrap();
            // Keys 0 and 1 under rule 0; "key 2" is key 0's address under rule 1.
            let keys = [(0, ip(1)), (0, Key::sub("one")), (1, ip(1))];
            let shared = RateTable::new(&rules);
            let alone: Vec<RateTable> = keys.iter().map(|_| RateTable::new(&rules)).collect();
            let mut now = 0;
            for (who, gap) in steps {
                now += gap;
                let w = usize::from(who);
                let (rule, key) = &keys[w];
                prop_assert_eq!(shared.check(*rule, key, now), alone[w].check(*rule, key, now));
            }
        }
    }
}
