//! The store's promises one by one: compare-and-set races, group commit, a full map, backup
//! and restore, limits, and a closed writer.

use ringwire_db::{Cond, Config, Error, Op, Outcome, Store, Sync, block_on};
use std::{sync::Arc, thread};

fn store(dir: &std::path::Path, f: impl FnOnce(&mut Config)) -> Store {
    let mut c = Config::new(dir);
    f(&mut c);
    Store::open(c).unwrap()
}

fn put(s: &Store, k: &str, v: &[u8], c: Cond) -> Result<Outcome, Error> {
    block_on(s.write(vec![Op::put(k.to_string(), v.to_vec(), c)])).map(|o| o[0])
}

#[test]
fn of_two_writers_on_one_version_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), |_| {});
    for round in 0..50 {
        let Outcome::Put { version, .. } = put(&s, "k", b"start", Cond::Any).unwrap() else {
            panic!()
        };
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|i| {
                let (s, b) = (s.clone(), barrier.clone());
                thread::spawn(move || {
                    b.wait();
                    put(
                        &s,
                        "k",
                        format!("{round}-{i}").as_bytes(),
                        Cond::Version(version),
                    )
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let won: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {results:?}");
        let lost = results.iter().find(|r| r.is_err()).unwrap();
        let Outcome::Put { version: now, .. } = won[0].clone().unwrap() else {
            panic!()
        };
        assert_eq!(lost, &Err(Error::VersionMismatch { current: Some(now) }));
    }
    s.close();
}

#[test]
fn concurrent_writers_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), |c| c.sync = Sync::Always);
    let writers: Vec<_> = (0..32)
        .map(|w| {
            let s = s.clone();
            thread::spawn(move || {
                for i in 0..20 {
                    put(&s, &format!("w{w}/{i}"), b"x", Cond::Any).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let snap = s.snapshot();
    assert_eq!(snap.entries, 640);
    // 640 fsynced writes from 32 threads: commits took more than one request at a time.
    assert!(snap.batch.max() > 1, "no batch held two requests");
    assert!(
        snap.batch.len() < 640,
        "{} commits for 640 writes",
        snap.batch.len()
    );
    s.close();
}

#[test]
fn a_full_map_refuses_writes_with_an_actionable_error_and_keeps_what_fit() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), |c| c.map_size = 256 * 1024);
    let value = vec![7u8; 8 * 1024];
    let mut stored = 0;
    let err = loop {
        match put(&s, &format!("k{stored}"), &value, Cond::Any) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 1000, "a 256 KiB map took {stored} values of 8 KiB");
    };
    assert!(matches!(err, Error::MapFull { .. }), "{err:?}");
    assert!(err.to_string().contains("db.map_size"), "{err}");
    assert!(s.healthy().unwrap_err().contains("full"));
    // Everything acknowledged before is intact; reads still work.
    for i in 0..stored {
        assert_eq!(
            s.get(format!("k{i}").as_bytes())
                .unwrap()
                .unwrap()
                .value
                .len(),
            value.len()
        );
    }
    s.close();
}

#[test]
fn a_batch_that_overflows_the_map_still_lands_what_fits() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), |c| c.map_size = 256 * 1024);
    // Many small writes and a few larger than the map at once: those fail, the small ones land.
    let pending: Vec<_> = (0..40)
        .map(|i| {
            let v = if i % 10 == 0 {
                vec![1u8; 300 * 1024]
            } else {
                vec![2u8; 16]
            };
            (i, s.write(vec![Op::put(format!("k{i}"), v, Cond::Any)]))
        })
        .collect();
    for (i, p) in pending {
        let r = block_on(p);
        if i % 10 != 0 {
            r.unwrap_or_else(|e| panic!("small write {i} failed: {e}"));
        } else {
            assert!(matches!(r, Err(Error::MapFull { .. })), "{r:?}");
        }
    }
    s.close();
}

#[test]
fn limits_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), |c| c.max_value = 100);
    assert_eq!(
        put(&s, "k", &[0; 101], Cond::Any),
        Err(Error::ValueTooLarge { len: 101, max: 100 })
    );
    let long = "k".repeat(512);
    assert_eq!(
        put(&s, &long, b"v", Cond::Any),
        Err(Error::BadKey { len: 512 })
    );
    assert!(put(&s, &"k".repeat(511), b"v", Cond::Any).is_ok());
    assert_eq!(s.snapshot().entries, 1);
    s.close();
}

#[test]
fn backup_then_restore_gives_the_snapshot_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), |_| {});
    for i in 0..100 {
        put(&s, &format!("k{i}"), format!("v{i}").as_bytes(), Cond::Any).unwrap();
    }
    block_on(s.write(vec![Op::append("log", "a"), Op::append("log", "b")])).unwrap();
    let out = dir.path().join("backup.mdb");
    s.backup(&out).unwrap();
    assert!(s.backup(&out).unwrap_err().to_string().contains("exists"));
    // Writes after the backup are not in it.
    put(&s, "later", b"x", Cond::Any).unwrap();
    s.close();
    // Restore: the backup file becomes data.mdb of a fresh data directory.
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&out, restored.join("data.mdb")).unwrap();
    let r = store(&restored, |_| {});
    for i in 0..100 {
        assert_eq!(
            &r.get(format!("k{i}").as_bytes()).unwrap().unwrap().value[..],
            format!("v{i}").as_bytes()
        );
    }
    assert!(r.get(b"later").unwrap().is_none());
    assert_eq!(r.log_read(b"log", 1, 10).unwrap().len(), 2);
    r.close();
}

#[test]
fn a_closed_store_answers_writer_gone() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), |_| {});
    let other = s.clone();
    s.close();
    assert_eq!(put(&other, "k", b"v", Cond::Any), Err(Error::WriterGone));
    assert!(other.healthy().is_err());
}

#[test]
fn batch_sync_acknowledges_before_the_interval_and_syncs_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), |c| {
        c.sync = Sync::Batch;
        c.sync_interval = std::time::Duration::from_millis(50);
    });
    for i in 0..20 {
        put(&s, &format!("k{i}"), b"v", Cond::Any).unwrap();
    }
    thread::sleep(std::time::Duration::from_millis(300));
    // At least one periodic sync ran after the writes.
    assert!(!s.snapshot().fsync_us.is_empty());
    s.close();
}

#[test]
fn stats_from_a_read_only_open_count_entries() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), |_| {});
    put(&s, "a", b"1", Cond::Any).unwrap();
    put(&s, "b", b"2", Cond::Any).unwrap();
    s.close();
    let stats = Store::stats_at(dir.path()).unwrap();
    assert_eq!(stats.entries, 2);
}

#[test]
fn logs_trim_by_bytes_and_by_age() {
    use ringwire_db::Trim;
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), |_| {});
    let ops = (0..10)
        .map(|i| Op::append("log", vec![b'x'; 10 + i]))
        .collect();
    block_on(s.write(ops)).unwrap();
    // 10 + 11 + ... + 19 = 145 bytes; at most 60 keeps the newest three (17 + 18 + 19 = 54).
    let trim = Trim {
        max_bytes: Some(60),
        ..Default::default()
    };
    let out = block_on(s.write(vec![Op::Trim {
        log: "log".into(),
        trim,
    }]))
    .unwrap();
    assert_eq!(out[0], Outcome::Trim { removed: 7 });
    let info = s.log_info(b"log").unwrap().unwrap();
    assert_eq!(
        (info.first, info.next, info.count, info.bytes),
        (8, 11, 3, 54)
    );
    assert_eq!(s.log_read(b"log", 1, 100).unwrap()[0].seq, 8);
    // Old records are 1.5 s older than the new one; the cut at 1 s keeps only the new one,
    // however slow the fsync between them.
    thread::sleep(std::time::Duration::from_millis(1500));
    block_on(s.write(vec![Op::append("log", "new")])).unwrap();
    let trim = Trim {
        max_age: Some(std::time::Duration::from_secs(1)),
        ..Default::default()
    };
    let out = block_on(s.write(vec![Op::Trim {
        log: "log".into(),
        trim,
    }]))
    .unwrap();
    assert_eq!(out[0], Outcome::Trim { removed: 3 });
    let left = s.log_read(b"log", 0, 100).unwrap();
    assert_eq!(
        (left.len(), left[0].seq, &left[0].data[..]),
        (1, 11, &b"new"[..])
    );
    s.close();
}

#[test]
fn a_failed_request_in_a_batch_leaves_no_trace_in_its_logs() {
    // Sent without waiting, so the writer takes them as one batch (or a few: the outcome is
    // the same either way): each log's state is kept per batch, and a dropped request's
    // appends must leave it.
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), |c| c.sync = Sync::None);
    put(&s, "held", b"x", Cond::Any).unwrap();
    let writes = vec![
        s.write(vec![Op::append("A", "1")]),
        s.write(vec![
            Op::append("A", "lost"),
            Op::append("B", "lost"),
            Op::put("held", "y", Cond::Absent),
        ]),
        s.write(vec![Op::append("A", "22")]),
        s.write(vec![Op::append("A", "333"), Op::append("B", "4444")]),
    ];
    let outs: Vec<_> = writes.into_iter().map(block_on).collect();
    assert_eq!(outs[0], Ok(vec![Outcome::Append { seq: 1 }]));
    assert!(matches!(outs[1], Err(Error::VersionMismatch { .. })));
    assert_eq!(outs[2], Ok(vec![Outcome::Append { seq: 2 }]));
    assert_eq!(
        outs[3],
        Ok(vec![Outcome::Append { seq: 3 }, Outcome::Append { seq: 1 }])
    );
    let a = s.log_info(b"A").unwrap().unwrap();
    assert_eq!((a.first, a.next, a.count, a.bytes), (1, 4, 3, 6));
    let b = s.log_info(b"B").unwrap().unwrap();
    assert_eq!((b.next, b.count, b.bytes), (2, 1, 4));
    let data: Vec<_> = s.log_read(b"A", 0, 10).unwrap();
    assert_eq!(
        data.iter().map(|e| &e.data[..]).collect::<Vec<_>>(),
        [&b"1"[..], b"22", b"333"]
    );
    s.close();
}
