//! Durable channels and named consumers on the PostgreSQL backend (the channels code uses only
//! `ringwire_db::Db`, so they must behave there as on the embedded store): pipelined publishes
//! from two cores, replay and resume, `kill -9` during publishing, a consumer across a restart,
//! and two nodes sharing one database. Real PostgreSQL (`tests/util/pg.rs`), both I/O
//! backends. (Readers: `tests/pg_channels_readers.rs`.)

mod util;

use ringwire_protocol::channels::Start;
use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};
use util::{
    channel_steps::{attach_from_1, crash_publisher, info_of, pg_args, read_n, replay_all, start},
    channels::{Ans, Chan, payload},
    pg::PgCluster,
    sse::{json, req},
};

both_backends! {
    fn durable_publish_replay_and_resume_on_postgres(io) {
        let Some(pg) = PgCluster::start() else { return };
        let s = start(io, &pg_args(&pg.url(), "2"));
        let addr = s.stream.unwrap();
        // Two publisher connections, pipelined, so both cores append at once (on PostgreSQL
        // each append runs on one of the pool's connections, concurrently).
        const EACH: usize = 300;
        let publishers: Vec<_> = (0..2)
            .map(|p| {
                thread::spawn(move || {
                    let mut c = Chan::open(addr).unwrap();
                    let msgs: Vec<Vec<u8>> = (0..EACH).map(|i| payload(p, i)).collect();
                    let mut seqs = Vec::new();
                    c.publish_all("orders.pg", &msgs, 32, &mut seqs).unwrap();
                    seqs.into_iter().zip(msgs).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut acked = BTreeMap::new();
        for p in publishers {
            let mine = p.join().unwrap();
            assert!(
                mine.windows(2).all(|w| w[0].0 < w[1].0),
                "one stream's PUBs get increasing seqs in the order sent"
            );
            acked.extend(mine);
        }
        let total = 2 * EACH as u64;
        assert_eq!(acked.keys().copied().collect::<Vec<_>>(), (1..=total).collect::<Vec<_>>(),
            "seqs are contiguous from 1, each acknowledged once");
        assert_eq!(info_of(addr, "orders.pg"), (1, total + 1));

        // Replay from 1: in order, exact payloads.
        let replayed = replay_all(addr, "orders.pg");
        let want: Vec<(u64, Vec<u8>)> = acked.iter().map(|(s, d)| (*s, d.clone())).collect();
        assert!(replayed == want, "replay from 1 differs from what was acknowledged");

        // SUB from N: N.. from the store, then live.
        let n = 257;
        let (mut c, ans) = Chan::subscribe(addr, "orders.pg", Start::From(n)).unwrap();
        assert_eq!(ans, Ans::Subscribed { first: 1, next: total + 1 });
        assert!(read_n(&mut c, (total + 1 - n) as usize) == want[n as usize - 1..].to_vec(), "SUB from {n}");
        let seq = Chan::open(addr).unwrap().publish("orders.pg", b"live").unwrap();
        assert_eq!(seq, total + 1);
        assert_eq!(c.message().unwrap(), (seq, 1, b"live".to_vec()));

        // Last N, and the JSON replay, read the same records.
        let (mut c, _) = Chan::subscribe(addr, "orders.pg", Start::Last(5)).unwrap();
        let last: Vec<u64> = read_n(&mut c, 5).into_iter().map(|(s, _)| s).collect();
        assert_eq!(last, (total - 3..=total + 1).collect::<Vec<_>>());
        let r = req(&s, "GET", "/channels/orders.pg/messages?from=2&limit=3", &[], b"");
        assert_eq!(r.status, 200, "{r:?}\n{}", s.log());
        let page = json(&r);
        let got: Vec<(u64, String)> = page["messages"].as_array().unwrap().iter()
            .map(|m| (m["seq"].as_u64().unwrap(), m["data"].as_str().unwrap().to_string()))
            .collect();
        let expect: Vec<(u64, String)> = (2..=4)
            .map(|s| (s, String::from_utf8(acked[&s].clone()).unwrap()))
            .collect();
        assert_eq!(got, expect);
        assert_eq!(page["next"].as_u64(), Some(total + 2));
    }
}

both_backends! {
    fn acknowledged_publishes_survive_kill_9_on_postgres(io) {
        let Some(pg) = PgCluster::start() else { return };
        let args = pg_args(&pg.url(), "2");
        let mut sent_all = HashSet::new();
        let mut acked_all: Vec<(u64, Vec<u8>)> = Vec::new();
        for round in 0..2 {
            let mut s = start(io, &args);
            let (stop, acks) = (AtomicBool::new(false), AtomicUsize::new(0));
            let results = Mutex::new(Vec::new());
            thread::scope(|sc| {
                for p in 0..3 {
                    let (addr, stop, acks, results) = (s.stream.unwrap(), &stop, &acks, &results);
                    sc.spawn(move || {
                        let r = crash_publisher(addr, "orders.crash", round * 10 + p, stop, acks);
                        results.lock().unwrap().push(r);
                    });
                }
                let started = Instant::now();
                while acks.load(Ordering::Relaxed) < 100 && started.elapsed() < Duration::from_secs(30) {
                    thread::sleep(Duration::from_millis(5));
                }
                thread::sleep(Duration::from_millis(100 + 150 * round as u64));
                s.signal("KILL");
                s.wait(Duration::from_secs(10)).expect("killed");
                stop.store(true, Ordering::Relaxed);
            });
            let results = results.into_inner().unwrap();
            let acked_round: usize = results.iter().map(|r| r.1.len()).sum();
            assert!(acked_round > 0, "round {round}: nothing acknowledged before the kill");
            for (sent, acked) in &results {
                assert!(acked.windows(2).all(|w| w[0].0 < w[1].0), "a publisher's seqs out of order");
                sent_all.extend(sent.iter().cloned());
                acked_all.extend(acked.iter().cloned());
            }
        }
        let s = start(io, &args);
        let replayed = replay_all(s.stream.unwrap(), "orders.crash");
        for (i, (seq, data)) in replayed.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1, "seqs are contiguous from 1, in order");
            assert!(sent_all.contains(data), "seq {seq}: a payload nobody sent (torn?)");
        }
        let by_seq: BTreeMap<u64, &Vec<u8>> = replayed.iter().map(|(s, d)| (*s, d)).collect();
        for (seq, data) in &acked_all {
            assert_eq!(by_seq.get(seq), Some(&data), "acknowledged seq {seq} lost or changed");
        }
        let unique: HashSet<u64> = acked_all.iter().map(|(s, _)| *s).collect();
        assert_eq!(unique.len(), acked_all.len(), "a seq acknowledged twice");
        // The restarted server appends after what is there.
        let next = replayed.len() as u64 + 1;
        assert_eq!(Chan::open(s.stream.unwrap()).unwrap().publish("orders.crash", b"after").unwrap(), next);
        eprintln!("{} acknowledged of {} stored, all present after 2 kills", acked_all.len(), replayed.len());
    }
}

both_backends! {
    fn a_consumer_resumes_across_restart_on_postgres(io) {
        let Some(pg) = PgCluster::start() else { return };
        let args = pg_args(&pg.url(), "1");
        let mut s = start(io, &args);
        let addr = s.stream.unwrap();
        let msgs: Vec<Vec<u8>> = (0..20).map(|i| payload(0, i)).collect();
        let mut seqs = Vec::new();
        Chan::open(addr).unwrap().publish_all("orders.k", &msgs, 32, &mut seqs).unwrap();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
        let mut c = attach_from_1(addr, "orders.k", "worker");
        for want in 1..=20u64 {
            let (seq, deliveries, data) = c.message().unwrap();
            assert_eq!((seq, deliveries), (want, 1));
            assert_eq!(data, msgs[want as usize - 1]);
        }
        for seq in 1..=10 {
            assert_eq!(c.ack(seq).unwrap(), Ans::Done, "ACK {seq} (answered once stored)");
        }
        s.signal("KILL");
        s.wait(Duration::from_secs(10)).expect("killed");
        drop(c);
        let s = start(io, &args);
        let mut c = attach_from_1(s.stream.unwrap(), "orders.k", "worker");
        let mut seen = BTreeMap::new();
        while seen.len() < 10 {
            let (seq, deliveries, data) = c.message().unwrap();
            assert!(seq > 10, "acknowledged seq {seq} delivered again after the restart");
            assert_eq!(data, msgs[seq as usize - 1]);
            assert!(deliveries >= 2, "seq {seq} was delivered before the kill: count {deliveries}");
            seen.entry(seq).or_insert(deliveries);
            assert_eq!(c.ack(seq).unwrap(), Ans::Done);
        }
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), (11..=20).collect::<Vec<_>>());
        // All acknowledged: nothing more comes, and a new message does.
        let m = c.message_until(Instant::now() + Duration::from_millis(500)).unwrap();
        assert!(m.is_none(), "all acknowledged, yet {m:?}");
        let seq = Chan::open(s.stream.unwrap()).unwrap().publish("orders.k", b"later").unwrap();
        assert_eq!(seq, 21);
        assert_eq!(c.message().unwrap(), (21, 1, b"later".to_vec()));
    }
}

both_backends! {
    fn two_nodes_share_a_durable_channel(io) {
        let Some(pg) = PgCluster::start() else { return };
        let args = pg_args(&pg.url(), "1");
        let a = start(io, &args);
        let b = start(io, &args);
        let (a, b) = (a.stream.unwrap(), b.stream.unwrap());
        // Published on A, replayable on B.
        let msgs: Vec<Vec<u8>> = (0..50).map(|i| payload(1, i)).collect();
        let mut seqs = Vec::new();
        Chan::open(a).unwrap().publish_all("audit", &msgs, 16, &mut seqs).unwrap();
        assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
        assert_eq!(info_of(b, "audit"), (1, 51));
        let want: Vec<(u64, Vec<u8>)> = seqs.iter().copied().zip(msgs.iter().cloned()).collect();
        assert!(replay_all(b, "audit") == want, "B replays what A acknowledged");
        // Both nodes publishing at once: one sequence, no seq given twice, no gap.
        let both: Vec<_> = [(a, 2usize), (b, 3usize)]
            .into_iter()
            .map(|(addr, who)| {
                thread::spawn(move || {
                    let msgs: Vec<Vec<u8>> = (0..100).map(|i| payload(who, i)).collect();
                    let mut seqs = Vec::new();
                    Chan::open(addr).unwrap().publish_all("audit", &msgs, 16, &mut seqs).unwrap();
                    seqs.into_iter().zip(msgs).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut acked: BTreeMap<u64, Vec<u8>> = want.into_iter().collect();
        for t in both {
            for (seq, data) in t.join().unwrap() {
                assert!(acked.insert(seq, data).is_none(), "seq {seq} acknowledged twice");
            }
        }
        assert_eq!(acked.keys().copied().collect::<Vec<_>>(), (1..=250).collect::<Vec<_>>());
        for node in [a, b] {
            let replayed: BTreeMap<u64, Vec<u8>> = replay_all(node, "audit").into_iter().collect();
            assert!(replayed == acked, "a node replays every acknowledged message with its payload");
            // SUB from N on either node starts there.
            let (mut c, _) = Chan::subscribe(node, "audit", Start::From(240)).unwrap();
            let got: BTreeSet<u64> = read_n(&mut c, 11).into_iter().map(|(s, _)| s).collect();
            assert_eq!(got, (240..=250).collect());
        }
        // A consumer's stored cursor is shared: acked on A, not redelivered on B.
        let mut c = attach_from_1(a, "audit", "shared");
        for want in 1..=5u64 {
            let (seq, _, _) = c.message().unwrap();
            assert_eq!(seq, want);
            assert_eq!(c.ack(seq).unwrap(), Ans::Done);
        }
        drop(c);
        let mut c = attach_from_1(b, "audit", "shared");
        let (seq, _, data) = c.message().unwrap();
        assert!(seq > 5, "seq {seq} acknowledged on A, delivered again on B");
        assert_eq!(data, acked[&seq]);
    }
}
