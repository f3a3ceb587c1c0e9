//! The store against a model: random operations (restarts included) on a real store and on
//! a `BTreeMap`, which must agree after every step. Backend-neutral: the same steps run on the
//! embedded store and on PostgreSQL.

use super::Fixture;
use proptest::prelude::*;
use ringwire_db::{Backend, Cond, Error, Op, Outcome};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub enum Step {
    Put(u8, Vec<u8>, Option<u8>),
    Delete(u8, Option<u8>),
    Batch(Vec<(u8, Vec<u8>)>, u8, Option<u8>),
    Append(u8, Vec<u8>),
    TrimCount(u8, u64),
    TrimBytes(u8, u64),
    Scan(u8, Option<u8>, usize),
    Restart,
}

fn key(k: u8) -> Vec<u8> {
    // A few shared prefixes, so scans have something to separate.
    format!("{}/{k}", k % 3).into_bytes()
}

pub fn step() -> impl Strategy<Value = Step> {
    let val = proptest::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        4 => (0u8..12, val.clone(), proptest::option::of(0u8..4)).prop_map(|(k, v, c)| Step::Put(k, v, c)),
        2 => (0u8..12, proptest::option::of(0u8..4)).prop_map(|(k, c)| Step::Delete(k, c)),
        1 => (proptest::collection::vec((0u8..12, val.clone()), 1..4), 0u8..12, proptest::option::of(0u8..4))
            .prop_map(|(p, k, c)| Step::Batch(p, k, c)),
        2 => (0u8..3, val).prop_map(|(l, d)| Step::Append(l, d)),
        1 => (0u8..3, 0u64..4).prop_map(|(l, n)| Step::TrimCount(l, n)),
        1 => (0u8..3, 0u64..80).prop_map(|(l, n)| Step::TrimBytes(l, n)),
        1 => (0u8..3, proptest::option::of(0u8..12), 1usize..5).prop_map(|(p, a, n)| Step::Scan(p, a, n)),
        1 => Just(Step::Restart),
    ]
}

struct Model {
    kv: BTreeMap<Vec<u8>, (u64, Vec<u8>)>,
    logs: BTreeMap<u8, Vec<(u64, Vec<u8>)>>,
    next_seq: BTreeMap<u8, u64>,
}

/// The condition: `None` unconditional, `Some(0)` absent, `Some(1)` the current version,
/// `Some(2)` a wrong version, `Some(3)` exists.
fn cond(m: &Model, k: &[u8], c: Option<u8>) -> Cond {
    match c {
        None => Cond::Any,
        Some(0) => Cond::Absent,
        Some(3) => Cond::Exists,
        Some(1) => Cond::Version(m.kv.get(k).map_or(999_999, |e| e.0)),
        _ => Cond::Version(m.kv.get(k).map_or(u64::MAX / 2, |e| e.0 + 1_000_000)),
    }
}

fn holds(m: &Model, k: &[u8], c: Cond) -> bool {
    match c {
        Cond::Any => true,
        Cond::Absent => !m.kv.contains_key(k),
        Cond::Exists => m.kv.contains_key(k),
        Cond::Version(v) => m.kv.get(k).is_some_and(|e| e.0 == v),
    }
}

/// Runs `steps` on a fresh store of `fixture` (inside a reactor: see `super::with_store`).
pub async fn run<F: Fixture>(fixture: &mut F, backend: Backend, steps: Vec<Step>) {
    let mut backend = backend;
    let mut store = super::core(&backend);
    let mut m = Model {
        kv: BTreeMap::new(),
        logs: BTreeMap::new(),
        next_seq: BTreeMap::new(),
    };
    for s in steps {
        match s {
            Step::Put(k, v, c) => {
                let k = key(k);
                let c = cond(&m, &k, c);
                let r = store.write(vec![Op::put(k.clone(), v.clone(), c)]).await;
                if holds(&m, &k, c) {
                    let out = r.unwrap();
                    let Outcome::Put { version, created } = out[0] else {
                        panic!()
                    };
                    assert_eq!(created, !m.kv.contains_key(&k));
                    assert!(m.kv.values().all(|e| e.0 < version), "versions grow");
                    m.kv.insert(k, (version, v));
                } else {
                    assert!(matches!(r, Err(Error::VersionMismatch { .. })), "{r:?}");
                }
            }
            Step::Delete(k, c) => {
                let k = key(k);
                let c = cond(&m, &k, c);
                let r = store.write(vec![Op::delete(k.clone(), c)]).await;
                if holds(&m, &k, c) {
                    let existed = m.kv.remove(&k).is_some();
                    assert_eq!(r.unwrap()[0], Outcome::Delete { existed });
                } else {
                    assert!(matches!(r, Err(Error::VersionMismatch { .. })), "{r:?}");
                }
            }
            Step::Batch(puts, k, c) => {
                // Puts, then a conditional delete: all or nothing.
                let ck = key(k);
                let mut ops: Vec<Op> = puts
                    .iter()
                    .map(|(k, v)| Op::put(key(*k), v.clone(), Cond::Any))
                    .collect();
                let c = cond(&m, &ck, c);
                ops.push(Op::delete(ck.clone(), c));
                let r = store.write(ops).await;
                let mut after = m.kv.clone();
                for (k, v) in &puts {
                    after.insert(key(*k), (0, v.clone()));
                }
                let ok = match c {
                    Cond::Any => true,
                    Cond::Absent => !after.contains_key(&ck),
                    Cond::Exists => after.contains_key(&ck),
                    // The puts gave the key a new version: the old one no longer matches.
                    Cond::Version(v) => after.get(&ck).is_some_and(|e| e.0 == v),
                };
                if ok {
                    let out = r.unwrap();
                    for ((k, v), o) in puts.iter().zip(&out) {
                        let Outcome::Put { version, .. } = o else {
                            panic!()
                        };
                        m.kv.insert(key(*k), (*version, v.clone()));
                    }
                    m.kv.remove(&ck);
                } else {
                    assert!(matches!(r, Err(Error::VersionMismatch { .. })), "{r:?}");
                }
            }
            Step::Append(l, d) => {
                let name = format!("log{l}");
                let r = store
                    .write(vec![Op::append(name, d.clone())])
                    .await
                    .unwrap();
                let seq = m.next_seq.entry(l).or_insert(1);
                assert_eq!(r[0], Outcome::Append { seq: *seq });
                m.logs.entry(l).or_default().push((*seq, d));
                *seq += 1;
            }
            Step::TrimCount(l, n) => {
                let name = format!("log{l}");
                let trim = ringwire_db::Trim {
                    max_count: Some(n),
                    ..Default::default()
                };
                let r = store
                    .write(vec![Op::Trim {
                        log: name.into(),
                        trim,
                    }])
                    .await
                    .unwrap();
                let log = m.logs.entry(l).or_default();
                let removed = log.len().saturating_sub(n as usize);
                log.drain(..removed);
                assert_eq!(
                    r[0],
                    Outcome::Trim {
                        removed: removed as u64
                    }
                );
            }
            Step::TrimBytes(l, n) => {
                let name = format!("log{l}");
                let trim = ringwire_db::Trim {
                    max_bytes: Some(n),
                    ..Default::default()
                };
                let r = store
                    .write(vec![Op::Trim {
                        log: name.into(),
                        trim,
                    }])
                    .await
                    .unwrap();
                // The oldest go while the bytes kept are over the bound.
                let log = m.logs.entry(l).or_default();
                let mut bytes: u64 = log.iter().map(|e| e.1.len() as u64).sum();
                let mut removed = 0;
                while bytes > n {
                    bytes -= log[removed].1.len() as u64;
                    removed += 1;
                }
                log.drain(..removed);
                assert_eq!(
                    r[0],
                    Outcome::Trim {
                        removed: removed as u64
                    }
                );
            }
            Step::Scan(p, after, limit) => {
                let prefix = format!("{p}/").into_bytes();
                let after = after.map(key);
                let got = store.scan(&prefix, after.as_deref(), limit).await.unwrap();
                let all: Vec<Vec<u8>> =
                    m.kv.keys()
                        .filter(|k| k.starts_with(&prefix) && after.as_ref().is_none_or(|a| *k > a))
                        .cloned()
                        .collect();
                let want: Vec<Vec<u8>> = all.iter().take(limit).cloned().collect();
                assert_eq!(
                    got.keys.iter().map(|k| k.to_vec()).collect::<Vec<_>>(),
                    want
                );
                assert_eq!(got.next.is_some(), all.len() > limit);
            }
            Step::Restart => {
                drop(store);
                fixture.close(backend);
                backend = fixture.open();
                store = super::core(&backend);
            }
        }
        // Every key agrees, value and version.
        for (k, (v, val)) in &m.kv {
            let e = store.get(k).await.unwrap().expect("present");
            assert_eq!((e.version, &e.value[..]), (*v, &val[..]));
        }
        assert_eq!(
            store.scan(b"", None, 1000).await.unwrap().keys.len(),
            m.kv.len()
        );
        for (l, log) in &m.logs {
            let name = format!("log{l}");
            let got = store.log_read(name.as_bytes(), 0, 1000).await.unwrap();
            let got: Vec<(u64, Vec<u8>)> =
                got.into_iter().map(|e| (e.seq, e.data.to_vec())).collect();
            assert_eq!(&got, log);
            // A log that was only ever trimmed has no state at all.
            let info = store
                .log_info(name.as_bytes())
                .await
                .unwrap()
                .unwrap_or_default();
            assert_eq!(info.count, log.len() as u64);
            assert_eq!(
                info.bytes,
                log.iter().map(|e| e.1.len() as u64).sum::<u64>()
            );
        }
    }
    drop(store);
    fixture.close(backend);
}
