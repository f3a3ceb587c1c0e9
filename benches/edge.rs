//! The edge's per-request costs: a rate-limit decision and a connection-limit permit (group
//! `rate_limit`), and a bearer-token check (group `token_check`).
//! Run: `cargo bench -p ringwire --bench edge`.
//!
//! The rate table is the one every core shares (`ringwire_net::limit::RateTable`), so a
//! decision is one lock of one of its 64 shards plus a hash lookup; these numbers are that
//! cost on one thread, without contention.

use std::{hint::black_box, net::IpAddr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringwire_net::limit::{ConnTable, Key, RateTable, Rules};

fn rate_limit(c: &mut Criterion) {
    let rules = Rules::parse("/kv/*;key=ip;rate=100/s;burst=200").expect("rule");
    let mut g = c.benchmark_group("rate_limit");
    g.throughput(Throughput::Elements(1));

    // One client over and over: the key is found, its TAT moves (mostly denied after the burst,
    // which costs the same as an admit).
    let table = RateTable::new(&rules);
    let hot = Key::Ip(IpAddr::from([10, 0, 0, 1]));
    let mut now = 0u64;
    g.bench_function("hot_key", |b| {
        b.iter(|| {
            now += 1_000;
            black_box(table.check(0, black_box(&hot), now))
        })
    });

    // 10,000 clients in turn: a cold-cache lookup per decision.
    let table = RateTable::new(&rules);
    let keys: Vec<Key> = (0..10_000u32)
        .map(|i| Key::Ip(IpAddr::from((0x0a00_0000 + i).to_be_bytes())))
        .collect();
    let mut i = 0;
    let mut now = 0u64;
    g.bench_function("10k_keys", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            now += 1_000;
            black_box(table.check(0, black_box(&keys[i]), now))
        })
    });

    // A token subject as the key: the lookup borrows the subject, no allocation.
    let sub_rules = Rules::parse("/kv/*;key=sub;rate=100/s;burst=200").expect("rule");
    let table = RateTable::new(&sub_rules);
    let ip = IpAddr::from([10, 0, 0, 1]);
    let kinds: Vec<_> = sub_rules
        .for_path("/kv/a")
        .map(|(i, r)| (i, r.key))
        .collect();
    let mut now = 0u64;
    g.bench_function("check_all_sub", |b| {
        b.iter(|| {
            now += 1_000;
            black_box(table.check_all(kinds.iter().copied(), ip, Some(black_box("alice")), now))
        })
    });

    // Connection limits on: acquire a permit and drop it (connect + close).
    let conns = ConnTable::new(64, 100_000);
    g.bench_function("conn_acquire_drop", |b| {
        b.iter(|| drop(black_box(conns.try_acquire(black_box(ip)))))
    });
    g.finish();
}

/// A token check: a full verification (decode, Ed25519 signature, claims, scopes) as for a
/// token a core sees for the first time, and a hit in the per-core cache of verified tokens,
/// which is what a client presenting the same token on every request costs.
fn token_check(c: &mut Criterion) {
    use ringwire_net::auth::{Claims, Keyring, SigningKey, TokenCache, sign};
    let key = SigningKey::from_bytes(&[7; 32]);
    let keyring = Keyring::with_keys([("k1".to_string(), key.verifying_key())], []);
    let now = 1_800_000_000;
    let scopes = vec!["kv:read:users/".into(), "pub:orders.>".into()];
    let token = sign(&Claims::issue("alice", scopes, now, 3600), &key, "k1");
    let mut g = c.benchmark_group("token_check");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_cold", |b| {
        b.iter(|| black_box(keyring.verify(black_box(token.as_bytes()), now, 5)))
    });
    let mut cache = TokenCache::new();
    g.bench_function("cache_hit", |b| {
        b.iter(|| black_box(cache.get_or_verify(&keyring, 1, black_box(token.as_bytes()), now, 5)))
    });
    g.finish();
}

criterion_group!(benches, rate_limit, token_check);
criterion_main!(benches);
