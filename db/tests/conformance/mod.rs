//! The store conformance suite: one body of tests, run unchanged against every backend
//! through the same `Db` API the services use (`model.rs`: embedded; `conformance_pg.rs`:
//! PostgreSQL on both I/O backends).
//!
//! A [`Fixture`] makes a fresh, empty store and can "restart" it (close every handle and open
//! it again from what was persisted). Each case runs inside a ringwire reactor, as on a
//! worker core.
#![allow(dead_code)] // each test file uses a different subset

pub mod logs;
pub mod model;

use ringwire_db::{Backend, Db};
use ringwire_reactor::{Backend as Io, Runtime};

/// A fresh, empty store of one kind.
pub trait Fixture {
    /// The store, opened (again).
    fn open(&mut self) -> Backend;
    /// Closes `b` (the embedded writer thread stops; PostgreSQL pools drop).
    fn close(&mut self, b: Backend) {
        if let Backend::Embedded(s) = b {
            s.close();
        }
    }
}

/// A reactor like a worker core's.
pub fn runtime(io: &str) -> Runtime {
    let backend = match io {
        "uring" => Io::Uring,
        _ => Io::Poll,
    };
    Runtime::builder()
        .backend(backend)
        .build()
        .expect("a reactor")
}

/// The core handle of `b`, made on the current reactor.
pub fn core(b: &Backend) -> Db {
    b.for_core(0)
}

/// Runs `test` against `fixture` inside a fresh runtime on `io`.
pub fn with_store<F: Fixture>(fixture: &mut F, io: &str, test: impl AsyncFnOnce(&mut F, Backend)) {
    let rt = runtime(io);
    rt.block_on(async {
        let b = fixture.open();
        test(fixture, b).await;
    });
}

/// The explicit cases, each a fresh store. `new` makes one.
pub fn all_cases<F: Fixture>(io: &str, mut new: impl FnMut() -> F) {
    for (name, case) in CASES {
        eprintln!("conformance: {name}");
        let mut f = new();
        let rt = runtime(io);
        rt.block_on(async {
            let b = f.open();
            case(core(&b)).await;
            f.close(b);
        });
    }
}

/// Polls both to completion, concurrently, on this thread.
pub async fn join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

type Case = fn(Db) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// Named cases of [`all_cases`].
pub const CASES: &[(&str, Case)] = &[
    ("cas_and_versions", |db| {
        Box::pin(cases::cas_and_versions(db))
    }),
    ("one_of_two_racing_writers_wins", |db| {
        Box::pin(cases::one_of_two_racing_writers_wins(db))
    }),
    ("batches_are_all_or_nothing", |db| {
        Box::pin(cases::batches_are_all_or_nothing(db))
    }),
    ("scans_page_through_a_prefix", |db| {
        Box::pin(cases::scans_page_through_a_prefix(db))
    }),
    ("logs_append_read_and_trim", |db| {
        Box::pin(cases::logs_append_read_and_trim(db))
    }),
    ("limits_are_refused", |db| {
        Box::pin(cases::limits_are_refused(db))
    }),
    ("trim_removes_at_most_a_slice", |db| {
        Box::pin(logs::trim_removes_at_most_a_slice(db))
    }),
    ("trims_are_repeatable_until_done", |db| {
        Box::pin(logs::trims_are_repeatable_until_done(db))
    }),
    ("trim_by_count_bytes_and_age", |db| {
        Box::pin(logs::trim_by_count_bytes_and_age(db))
    }),
    ("log_seek_time_finds_the_first_record_that_recent", |db| {
        Box::pin(logs::log_seek_time_finds_the_first_record_that_recent(db))
    }),
    ("log_names_list_logs_by_prefix", |db| {
        Box::pin(logs::log_names_list_logs_by_prefix(db))
    }),
];

pub mod cases {
    use bytes::Bytes;
    use ringwire_db::{Cond, Db, Error, Op, Outcome, Trim};
    use std::time::Duration;

    async fn put(db: &Db, k: &str, v: &str, c: Cond) -> Result<Outcome, Error> {
        db.write(vec![Op::put(k.to_string(), v.to_string(), c)])
            .await
            .map(|o| o[0])
    }

    pub async fn cas_and_versions(db: Db) {
        let Outcome::Put {
            version: v1,
            created,
        } = put(&db, "k", "a", Cond::Absent).await.unwrap()
        else {
            panic!()
        };
        assert!(created);
        assert_eq!(
            put(&db, "k", "b", Cond::Absent).await,
            Err(Error::VersionMismatch { current: Some(v1) })
        );
        let Outcome::Put {
            version: v2,
            created,
        } = put(&db, "k", "b", Cond::Version(v1)).await.unwrap()
        else {
            panic!()
        };
        assert!(!created && v2 > v1);
        assert_eq!(
            put(&db, "k", "c", Cond::Version(v1)).await,
            Err(Error::VersionMismatch { current: Some(v2) })
        );
        assert!(put(&db, "k", "c", Cond::Exists).await.is_ok());
        assert_eq!(
            put(&db, "nope", "c", Cond::Exists).await,
            Err(Error::VersionMismatch { current: None })
        );
        let e = db.get(b"k").await.unwrap().unwrap();
        assert_eq!(&e.value[..], b"c");
        // Delete, then write again: the version is new, never one the key had.
        let del = db
            .write(vec![Op::delete("k", Cond::Version(e.version))])
            .await;
        assert_eq!(del.unwrap()[0], Outcome::Delete { existed: true });
        assert_eq!(db.get(b"k").await.unwrap(), None);
        let again = db.write(vec![Op::delete("k", Cond::Any)]).await.unwrap();
        assert_eq!(again[0], Outcome::Delete { existed: false });
        let Outcome::Put {
            version: v4,
            created,
        } = put(&db, "k", "d", Cond::Any).await.unwrap()
        else {
            panic!()
        };
        assert!(created && v4 > e.version);
        assert_eq!(
            db.write(vec![Op::delete("k", Cond::Absent)]).await,
            Err(Error::VersionMismatch { current: Some(v4) })
        );
        // Empty values and binary keys are values like any other.
        let bin = Bytes::from_static(b"\x00\xff\x80key");
        db.write(vec![Op::put(bin.clone(), Bytes::new(), Cond::Any)])
            .await
            .unwrap();
        assert_eq!(&db.get(&bin).await.unwrap().unwrap().value[..], b"");
    }

    pub async fn one_of_two_racing_writers_wins(db: Db) {
        let Outcome::Put { version, .. } = put(&db, "race", "0", Cond::Any).await.unwrap() else {
            panic!()
        };
        for round in 0..20 {
            let cur = db.get(b"race").await.unwrap().unwrap().version;
            let _ = version;
            let a = db.write(vec![Op::put(
                "race",
                format!("a{round}"),
                Cond::Version(cur),
            )]);
            let b = db.write(vec![Op::put(
                "race",
                format!("b{round}"),
                Cond::Version(cur),
            )]);
            let (ra, rb) = super::join(a, b).await;
            assert!(
                ra.is_ok() ^ rb.is_ok(),
                "exactly one of two writers on one version wins: {ra:?} {rb:?}"
            );
            let loser = if ra.is_ok() { rb } else { ra };
            assert!(matches!(
                loser,
                Err(Error::VersionMismatch { current: Some(_) })
            ));
        }
    }

    pub async fn batches_are_all_or_nothing(db: Db) {
        put(&db, "held", "x", Cond::Any).await.unwrap();
        let r = db
            .write(vec![
                Op::put("b1", "1", Cond::Any),
                Op::append("blog", "rec"),
                Op::put("held", "y", Cond::Absent),
            ])
            .await;
        assert!(matches!(r, Err(Error::VersionMismatch { .. })), "{r:?}");
        assert_eq!(db.get(b"b1").await.unwrap(), None, "nothing of it applied");
        assert_eq!(db.log_info(b"blog").await.unwrap(), None);
        let r = db
            .write(vec![
                Op::put("b1", "1", Cond::Absent),
                Op::put("b2", "2", Cond::Absent),
                Op::delete("held", Cond::Exists),
            ])
            .await
            .unwrap();
        assert_eq!(r.len(), 3);
        assert!(db.get(b"b2").await.unwrap().is_some());
        assert_eq!(db.get(b"held").await.unwrap(), None);
    }

    pub async fn scans_page_through_a_prefix(db: Db) {
        for k in ["a/1", "a/2", "a/3", "a/\u{7f}", "ab", "b/1", "a"] {
            put(&db, k, "v", Cond::Any).await.unwrap();
        }
        db.write(vec![Op::put(&b"a/\xff"[..], "v", Cond::Any)])
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut after: Option<Bytes> = None;
        loop {
            let page = db.scan(b"a/", after.as_deref(), 2).await.unwrap();
            assert!(page.keys.len() <= 2);
            seen.extend(page.keys.iter().map(|k| k.to_vec()));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let want: Vec<Vec<u8>> = vec![
            b"a/1".to_vec(),
            b"a/2".to_vec(),
            b"a/3".to_vec(),
            b"a/\x7f".to_vec(),
            b"a/\xff".to_vec(),
        ];
        assert_eq!(seen, want, "byte order, the prefix only, no key twice");
        assert_eq!(db.scan(b"", None, 100).await.unwrap().keys.len(), 8);
        assert!(db.scan(b"zz", None, 10).await.unwrap().keys.is_empty());
        let exact = db.scan(b"a/", None, 5).await.unwrap();
        assert_eq!((exact.keys.len(), exact.next), (5, None));
    }

    pub async fn logs_append_read_and_trim(db: Db) {
        for i in 1..=10u64 {
            let r = db
                .write(vec![Op::append("L", vec![b'x'; i as usize])])
                .await
                .unwrap();
            assert_eq!(r[0], Outcome::Append { seq: i });
        }
        let all = db.log_read(b"L", 0, 100).await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>()
        );
        assert!(all.iter().all(|e| e.time_ms > 1_600_000_000_000));
        let page = db.log_read(b"L", 4, 3).await.unwrap();
        assert_eq!(
            page.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![4, 5, 6]
        );
        let trim = |t: Trim| Op::Trim {
            log: "L".into(),
            trim: t,
        };
        let r = db
            .write(vec![trim(Trim {
                max_count: Some(7),
                ..Trim::default()
            })])
            .await
            .unwrap();
        assert_eq!(r[0], Outcome::Trim { removed: 3 });
        // Bytes kept: 4+..+10 = 49; at most 30 keeps 10, 9, 8 (27).
        let r = db
            .write(vec![trim(Trim {
                max_bytes: Some(30),
                ..Trim::default()
            })])
            .await
            .unwrap();
        assert_eq!(r[0], Outcome::Trim { removed: 4 });
        let info = db.log_info(b"L").await.unwrap().unwrap();
        assert_eq!(
            (info.first, info.next, info.count, info.bytes),
            (8, 11, 3, 27)
        );
        // Sequence numbers are never reused, even once everything is trimmed.
        let old = Trim {
            max_age: Some(Duration::ZERO),
            ..Trim::default()
        };
        std::thread::sleep(Duration::from_millis(5));
        let r = db.write(vec![trim(old)]).await.unwrap();
        assert_eq!(r[0], Outcome::Trim { removed: 3 });
        let r = db.write(vec![Op::append("L", "again")]).await.unwrap();
        assert_eq!(r[0], Outcome::Append { seq: 11 });
        let info = db.log_info(b"L").await.unwrap().unwrap();
        assert_eq!((info.first, info.next, info.count), (11, 12, 1));
        assert_eq!(db.log_info(b"none").await.unwrap(), None);
        assert!(db.log_read(b"none", 0, 10).await.unwrap().is_empty());
        let r = db
            .write(vec![Op::Trim {
                log: "none".into(),
                trim: Trim::default(),
            }])
            .await;
        assert_eq!(r.unwrap()[0], Outcome::Trim { removed: 0 });
    }

    /// Unconditional writes racing on one key: the value that stays is the one with the
    /// highest version handed out (versions never go backwards).
    pub async fn racing_puts_leave_the_newest_version(db: Db) {
        for round in 0..5 {
            // Spawned, so they run at once (on PostgreSQL: on concurrent pooled connections).
            let writes: Vec<_> = (0..8)
                .map(|i| {
                    let w = db.write(vec![Op::put("hot", format!("{round}-{i}"), Cond::Any)]);
                    ringwire_reactor::spawn_local(w)
                })
                .collect();
            let mut results = Vec::new();
            for w in writes {
                results.push(w.await.unwrap().unwrap()[0]);
            }
            let newest = results
                .iter()
                .map(|o| match o {
                    Outcome::Put { version, .. } => *version,
                    _ => panic!(),
                })
                .max()
                .unwrap();
            let e = db.get(b"hot").await.unwrap().unwrap();
            assert_eq!(
                e.version, newest,
                "round {round}: the key keeps the newest version"
            );
        }
    }

    pub async fn limits_are_refused(db: Db) {
        let max = db.max_value();
        let long = vec![b'k'; ringwire_db::MAX_KEY + 1];
        assert_eq!(
            db.write(vec![Op::put(long.clone(), "v", Cond::Any)]).await,
            Err(Error::BadKey { len: long.len() })
        );
        assert!(matches!(db.get(&long).await, Err(Error::BadKey { .. })));
        assert_eq!(
            db.write(vec![Op::put("k", vec![0u8; max + 1], Cond::Any)])
                .await,
            Err(Error::ValueTooLarge { len: max + 1, max })
        );
        assert_eq!(
            db.write(vec![Op::append("", "x")]).await,
            Err(Error::BadLogName)
        );
        assert_eq!(db.get(b"k").await.unwrap(), None, "nothing was written");
    }
}
