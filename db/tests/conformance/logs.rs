//! Conformance cases for logs as durable channels use them: bounded trim slices, retention by
//! count, bytes and age, seeking by time, and listing logs by prefix.

use bytes::Bytes;
use ringwire_db::{Db, LogEntry, Op, Outcome, TRIM_SLICE, Trim};
use std::time::Duration;

/// Appends `n` records of `len` bytes to `log`, in requests of up to 200.
async fn fill(db: &Db, log: &str, n: u64, len: usize) {
    let mut left = n;
    while left > 0 {
        let k = left.min(200);
        let ops = (0..k).map(|_| Op::append(log.to_string(), vec![b'r'; len]));
        db.write(ops.collect()).await.unwrap();
        left -= k;
    }
}

async fn trim(db: &Db, log: &str, t: Trim) -> u64 {
    let op = Op::Trim {
        log: Bytes::copy_from_slice(log.as_bytes()),
        trim: t,
    };
    match db.write(vec![op]).await.unwrap()[0] {
        Outcome::Trim { removed } => removed,
        o => panic!("{o:?}"),
    }
}

async fn all(db: &Db, log: &str) -> Vec<LogEntry> {
    db.log_read(log.as_bytes(), 0, 100_000).await.unwrap()
}

pub async fn trim_removes_at_most_a_slice(db: Db) {
    fill(&db, "big", TRIM_SLICE + 100, 3).await;
    let none_kept = Trim {
        max_count: Some(0),
        ..Trim::default()
    };
    assert_eq!(trim(&db, "big", none_kept).await, TRIM_SLICE, "one slice");
    let info = db.log_info(b"big").await.unwrap().unwrap();
    assert_eq!(
        (info.first, info.next, info.count, info.bytes),
        (TRIM_SLICE + 1, TRIM_SLICE + 101, 100, 300)
    );
    assert_eq!(all(&db, "big").await[0].seq, TRIM_SLICE + 1);
    assert_eq!(trim(&db, "big", none_kept).await, 100, "the rest");
    assert_eq!(trim(&db, "big", none_kept).await, 0, "done");
    let info = db.log_info(b"big").await.unwrap().unwrap();
    assert_eq!(
        (info.first, info.count, info.bytes),
        (TRIM_SLICE + 101, 0, 0)
    );
}

pub async fn trims_are_repeatable_until_done(db: Db) {
    let n = 2 * TRIM_SLICE + 10;
    fill(&db, "rep", n, 1).await;
    let five_bytes = Trim {
        max_bytes: Some(5),
        ..Trim::default()
    };
    let (mut calls, mut removed, mut appended) = (0, 0, 0);
    loop {
        let r = trim(&db, "rep", five_bytes).await;
        assert!(r <= TRIM_SLICE);
        calls += 1;
        removed += r;
        if r < TRIM_SLICE {
            break;
        }
        // Other writes to the log go on between slices.
        db.write(vec![Op::append("rep", "a")]).await.unwrap();
        appended += 1;
    }
    assert_eq!((calls, appended), (3, 2));
    assert_eq!(removed, n + appended - 5);
    let info = db.log_info(b"rep").await.unwrap().unwrap();
    assert_eq!((info.count, info.bytes), (5, 5));
    let left: Vec<u64> = all(&db, "rep").await.iter().map(|e| e.seq).collect();
    let next = n + appended + 1;
    assert_eq!(left, (next - 5..next).collect::<Vec<_>>());
    assert_eq!(trim(&db, "rep", five_bytes).await, 0);
}

pub async fn trim_by_count_bytes_and_age(db: Db) {
    // Records of 1..=10 bytes: 55 in all.
    for i in 1..=10 {
        db.write(vec![Op::append("t", vec![b'x'; i])])
            .await
            .unwrap();
    }
    let count = |n| Trim {
        max_count: Some(n),
        ..Trim::default()
    };
    assert_eq!(trim(&db, "t", count(8)).await, 2);
    assert_eq!(trim(&db, "t", count(8)).await, 0, "already within");
    // Kept 3..=10 (52 bytes). Both bounds: count 6 alone would keep 5..=10 (45 bytes);
    // 30 bytes keeps 8..=10 (27): the stricter bound wins.
    let both = Trim {
        max_count: Some(6),
        max_bytes: Some(30),
        max_age: None,
    };
    assert_eq!(trim(&db, "t", both).await, 5);
    let info = db.log_info(b"t").await.unwrap().unwrap();
    assert_eq!(
        (info.first, info.next, info.count, info.bytes),
        (8, 11, 3, 27)
    );
    // Age: 8..=10 are more than 1.2 s old when the trim runs; 11..=14 are new.
    std::thread::sleep(Duration::from_millis(1200));
    fill(&db, "t", 4, 2).await;
    let young = Trim {
        max_age: Some(Duration::from_secs(1)),
        ..Trim::default()
    };
    let young_and_few = Trim {
        max_count: Some(2),
        ..young
    };
    assert_eq!(
        trim(&db, "t", young_and_few).await,
        5,
        "3 by age, 2 by count"
    );
    let info = db.log_info(b"t").await.unwrap().unwrap();
    assert_eq!(
        (info.first, info.next, info.count, info.bytes),
        (13, 15, 2, 4)
    );
    assert_eq!(trim(&db, "t", young).await, 0, "the new ones stay");
    // A zero age removes everything at least a millisecond old.
    std::thread::sleep(Duration::from_millis(5));
    let none = Trim {
        max_age: Some(Duration::ZERO),
        ..Trim::default()
    };
    assert_eq!(trim(&db, "t", none).await, 2);
    assert_eq!(db.log_info(b"t").await.unwrap().unwrap().count, 0);
}

pub async fn log_seek_time_finds_the_first_record_that_recent(db: Db) {
    assert_eq!(db.log_seek_time(b"s", 0).await.unwrap(), 1, "no log");
    for round in 0..6 {
        // Several records per request (one time on the embedded store), a pause between.
        fill(&db, "s", 1 + round % 3, 1).await;
        std::thread::sleep(Duration::from_millis(3));
    }
    let check = async |db: &Db| {
        let recs = all(db, "s").await;
        let info = db.log_info(b"s").await.unwrap().unwrap();
        assert!(
            recs.windows(2).all(|w| w[0].time_ms <= w[1].time_ms),
            "times never go backwards: {recs:?}"
        );
        let mut probes = vec![0, u64::MAX / 4];
        for r in &recs {
            probes.extend([r.time_ms - 1, r.time_ms, r.time_ms + 1]);
        }
        for since in probes {
            let want = recs
                .iter()
                .find(|r| r.time_ms >= since)
                .map_or(info.next, |r| r.seq);
            assert_eq!(
                db.log_seek_time(b"s", since).await.unwrap(),
                want,
                "since {since} in {recs:?}"
            );
        }
    };
    check(&db).await;
    let three = Trim {
        max_count: Some(3),
        ..Trim::default()
    };
    assert!(trim(&db, "s", three).await > 0);
    check(&db).await;
    let none = Trim {
        max_count: Some(0),
        ..Trim::default()
    };
    trim(&db, "s", none).await;
    let info = db.log_info(b"s").await.unwrap().unwrap();
    assert_eq!(db.log_seek_time(b"s", 0).await.unwrap(), info.next, "empty");
}

pub async fn log_names_list_logs_by_prefix(db: Db) {
    let names: [&[u8]; 7] = [
        b"ch/b.x", b"ch/a", b"c", b"ch/\xff", b"ci", b"ch/c", b"ch/b",
    ];
    for n in names {
        db.write(vec![Op::append(Bytes::copy_from_slice(n), "x")])
            .await
            .unwrap();
    }
    // A log trimmed empty still exists; one that was only ever trimmed does not.
    trim(
        &db,
        "ch/c",
        Trim {
            max_count: Some(0),
            ..Trim::default()
        },
    )
    .await;
    trim(&db, "ch/never", Trim::default()).await;
    let list = async |prefix: &[u8], after: Option<&[u8]>, limit| -> Vec<Vec<u8>> {
        let got = db.log_names(prefix, after, limit).await.unwrap();
        got.iter().map(|n| n.to_vec()).collect()
    };
    let want: Vec<Vec<u8>> = [&b"ch/a"[..], b"ch/b", b"ch/b.x", b"ch/c", b"ch/\xff"]
        .iter()
        .map(|n| n.to_vec())
        .collect();
    assert_eq!(list(b"ch/", None, 100).await, want);
    // Page by page, each after the last of the one before.
    let mut pages = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = list(b"ch/", after.as_deref(), 2).await;
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        pages.extend(page);
    }
    assert_eq!(pages, want);
    assert_eq!(list(b"ch/", Some(b"ch/b"), 2).await, want[2..4].to_vec());
    assert_eq!(list(b"ch/", Some(b"a"), 1).await, want[..1].to_vec());
    assert_eq!(list(b"", None, 100).await.len(), 7);
    assert_eq!(list(b"c", None, 100).await.len(), 7);
    assert!(list(b"d", None, 100).await.is_empty());
    assert!(list(b"ch/", Some(b"ch/\xff"), 100).await.is_empty());
}
