//! Durable channels over the `channels` stream service, against the real server on both I/O
//! backends: nothing acknowledged is lost to `kill -9`, replay from a seq / the last N / a
//! time, gap-free resume, order across cores, slow subscribers, and ephemeral channels as
//! before.

mod util;

use ringwire_protocol::channels::{Request, Start, Status};
use std::{
    collections::{BTreeMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use util::{
    Server,
    channel_steps::{crash_publisher, read_n, replay_all},
    channels::{Ans, Chan, payload},
};

const DURABLE: &str = "orders.*,audit";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

both_backends! {
    fn acknowledged_publishes_survive_kill_9(io) {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        eprintln!("kill timing seed {seed}");
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_str().unwrap();
        // db.sync=always is the default: an acknowledged append is on disk.
        let args = ["--workers", "2", "--data-dir", dir, "--durable", DURABLE];
        let mut sent_all = HashSet::new();
        let mut acked_all: Vec<(u64, Vec<u8>)> = Vec::new();
        for round in 0..3 {
            let mut s = Server::start(io, &args);
            let (stop, acks) = (AtomicBool::new(false), AtomicUsize::new(0));
            let results = Arc::new(Mutex::new(Vec::new()));
            thread::scope(|sc| {
                for p in 0..3 {
                    let (addr, stop, acks, results) = (s.stream.unwrap(), &stop, &acks, results.clone());
                    sc.spawn(move || {
                        let r = crash_publisher(addr, "orders.crash", round * 10 + p, stop, acks);
                        results.lock().unwrap().push(r);
                    });
                }
                let started = Instant::now();
                while acks.load(Ordering::Relaxed) == 0 && started.elapsed() < Duration::from_secs(30) {
                    thread::sleep(Duration::from_millis(5));
                }
                let ms = 50 + (seed.rotate_left(round as u32 * 13) % 500);
                thread::sleep(Duration::from_millis(ms));
                s.signal("KILL");
                s.wait(Duration::from_secs(10)).expect("killed");
                stop.store(true, Ordering::Relaxed);
                eprintln!("round {round}: killed {ms} ms after the first acknowledgement");
            });
            let results = results.lock().unwrap();
            let acked_round: usize = results.iter().map(|r| r.1.len()).sum();
            assert!(acked_round > 0, "round {round}: nothing acknowledged before the kill");
            for (sent, acked) in results.iter() {
                // One stream's appends get increasing seqs in the order they were sent.
                assert!(acked.windows(2).all(|w| w[0].0 < w[1].0), "a publisher's seqs out of order");
                sent_all.extend(sent.iter().cloned());
                acked_all.extend(acked.iter().cloned());
            }
        }
        let s = Server::start(io, &["--data-dir", dir, "--durable", DURABLE]);
        let replayed = replay_all(s.stream.unwrap(), "orders.crash");
        for (i, (seq, data)) in replayed.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1, "seqs are contiguous from 1, in order");
            assert!(sent_all.contains(data), "seq {seq}: a payload nobody sent (torn?)");
        }
        let by_seq: BTreeMap<u64, &Vec<u8>> = replayed.iter().map(|(s, d)| (*s, d)).collect();
        assert_eq!(by_seq.len(), replayed.len());
        for (seq, data) in &acked_all {
            assert_eq!(by_seq.get(seq), Some(&data), "acknowledged seq {seq} lost or changed");
        }
        let unique: HashSet<u64> = acked_all.iter().map(|(s, _)| *s).collect();
        assert_eq!(unique.len(), acked_all.len(), "a seq acknowledged twice");
        eprintln!("{} acknowledged of {} stored, all present after 3 kills", acked_all.len(), replayed.len());
    }
}

both_backends! {
    fn replay_from_seq_last_n_and_since(io) {
        let s = Server::start(io, &["--durable", DURABLE]);
        let addr = s.stream.unwrap();
        let mut p = Chan::open(addr).unwrap();
        let msgs: Vec<Vec<u8>> = (0..10).map(|i| payload(0, i)).collect();
        let mut seqs = Vec::new();
        p.publish_all("audit", &msgs[..5], 5, &mut seqs).unwrap();
        // Everything before `mid` was stored before it, everything after at or after it.
        thread::sleep(Duration::from_millis(20));
        let mid = now_ms();
        thread::sleep(Duration::from_millis(20));
        p.publish_all("audit", &msgs[5..], 5, &mut seqs).unwrap();
        assert_eq!(seqs, (1..=10).collect::<Vec<u64>>());
        assert_eq!(p.info("audit").unwrap(), Ans::Info { first: 1, next: 11, count: 10, bytes: msgs.iter().map(|m| m.len() as u64).sum() });

        // Each subscription below adds one live message, so the log grows as it goes.
        let mut all = msgs.clone();
        for (start, from) in [
            (Start::From(4), 4),
            (Start::From(0), 1),
            (Start::Last(3), 0),
            (Start::Last(1000), 1),
            (Start::SinceMs(mid), 6),
            (Start::SinceMs(0), 1),
        ] {
            let next = all.len() as u64 + 1;
            let from = if from == 0 { next - 3 } else { from };
            let (mut c, ans) = Chan::subscribe(addr, "audit", start).unwrap();
            assert_eq!(ans, Ans::Subscribed { first: 1, next }, "{start:?}");
            let want: Vec<(u64, Vec<u8>)> =
                (from..next).map(|s| (s, all[s as usize - 1].clone())).collect();
            assert_eq!(read_n(&mut c, want.len()), want, "{start:?}");
            // Then new messages, live.
            let seq = p.publish("audit", b"live").unwrap();
            assert_eq!(c.message().unwrap(), (seq, 1, b"live".to_vec()), "{start:?}");
            all.push(b"live".to_vec());
        }
        // New only, and a start past the end: the next message published.
        for start in [Start::New, Start::From(1_000_000)] {
            let (mut c, _) = Chan::subscribe(addr, "audit", start).unwrap();
            let seq = p.publish("audit", b"next").unwrap();
            assert_eq!(c.message().unwrap(), (seq, 1, b"next".to_vec()), "{start:?}");
        }
    }
}

both_backends! {
    fn resume_after_reconnect_is_gap_free(io) {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_str().unwrap();
        let args = ["--data-dir", dir, "--durable", DURABLE];
        let s = Server::start(io, &args);
        let addr = s.stream.unwrap();
        const N: usize = 300;
        let publisher = thread::spawn(move || {
            let mut p = Chan::open(addr).unwrap();
            for i in 0..N {
                p.publish("orders.resume", &payload(1, i)).unwrap();
                if i % 20 == 0 {
                    thread::sleep(Duration::from_millis(5));
                }
            }
        });
        let mut got: Vec<(u64, Vec<u8>)> = Vec::new();
        // Three sessions cut at arbitrary points, each resuming one past the last seq seen.
        for cut in [40, 110, 200] {
            let start = got.last().map_or(Start::From(1), |(s, _)| Start::From(s + 1));
            let (mut c, _) = Chan::subscribe(addr, "orders.resume", start).unwrap();
            got.extend(read_n(&mut c, cut - got.len()));
        }
        publisher.join().unwrap();
        // And across a restart.
        drop(s);
        let s = Server::start(io, &args);
        let start = Start::From(got.last().unwrap().0 + 1);
        let (mut c, ans) = Chan::subscribe(s.stream.unwrap(), "orders.resume", start).unwrap();
        assert_eq!(ans, Ans::Subscribed { first: 1, next: N as u64 + 1 });
        got.extend(read_n(&mut c, N - got.len()));
        let want: Vec<(u64, Vec<u8>)> = (0..N).map(|i| (i as u64 + 1, payload(1, i))).collect();
        assert_eq!(got, want);
    }
}

both_backends! {
    fn publishes_from_two_cores_reach_a_subscriber_in_seq_order(io) {
        let s = Server::start(io, &["--workers", "2", "--durable", DURABLE]);
        let addr = s.stream.unwrap();
        let (mut sub, ans) = Chan::subscribe(addr, "orders.two", Start::New).unwrap();
        assert_eq!(ans, Ans::Subscribed { first: 1, next: 1 });
        // Several publisher connections, so both worker cores get some.
        const PUBLISHERS: usize = 4;
        const EACH: usize = 200;
        let publishers: Vec<_> = (0..PUBLISHERS)
            .map(|p| {
                thread::spawn(move || {
                    let mut c = Chan::open(addr).unwrap();
                    let msgs: Vec<Vec<u8>> = (0..EACH).map(|i| payload(p, i)).collect();
                    let mut seqs = Vec::new();
                    c.publish_all("orders.two", &msgs, 16, &mut seqs).unwrap();
                    seqs.into_iter().zip(msgs).collect::<Vec<_>>()
                })
            })
            .collect();
        let got = read_n(&mut sub, PUBLISHERS * EACH);
        let mut acked = BTreeMap::new();
        for p in publishers {
            acked.extend(p.join().unwrap());
        }
        for (i, (seq, data)) in got.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1, "delivered in seq order without gaps or duplicates");
            assert_eq!(acked.get(seq), Some(data), "seq {seq} carries what its PUB sent");
        }
    }
}

both_backends! {
    fn a_slow_durable_subscriber_catches_up_from_the_store(io) {
        // A subscriber queue of 4 messages: the subscriber below falls far behind it.
        let s = Server::start(io, &["--subscriber-queue", "4", "--durable", DURABLE]);
        let addr = s.stream.unwrap();
        let (mut sub, _) = Chan::subscribe(addr, "orders.slow", Start::New).unwrap();
        // 3 MiB while the subscriber reads nothing: more than its windows and socket buffers.
        const N: usize = 3000;
        let big = |i: usize| {
            let mut m = payload(2, i);
            m.resize(1024, b'.');
            m
        };
        let msgs: Vec<Vec<u8>> = (0..N).map(big).collect();
        let mut p = Chan::open(addr).unwrap();
        let mut seqs = Vec::new();
        p.publish_all("orders.slow", &msgs, 64, &mut seqs).unwrap();
        let got = read_n(&mut sub, N);
        let want: Vec<(u64, Vec<u8>)> = seqs.into_iter().zip(msgs).collect();
        assert!(got == want, "the slow subscriber lost or reordered messages");
    }
}

both_backends! {
    fn ephemeral_channels_keep_working(io) {
        let s = Server::start(io, &["--workers", "1", "--durable", DURABLE]);
        let addr = s.stream.unwrap();
        let (mut sub, ans) = Chan::subscribe(addr, "news", Start::New).unwrap();
        assert_eq!(ans, Ans::Subscribed { first: 0, next: 0 });
        let mut p = Chan::open(addr).unwrap();
        for i in 0..5 {
            assert_eq!(p.publish("news", &payload(3, i)).unwrap(), 0, "ephemeral: seq 0");
        }
        for i in 0..5 {
            assert_eq!(sub.message().unwrap(), (0, 1, payload(3, i)));
        }
        // Nothing is kept: no replay, no consumers, no INFO.
        let not_durable = |ans: Ans| matches!(ans, Ans::Failed(Status::NotDurable, _));
        let info = p.info("news").unwrap();
        assert!(not_durable(info.clone()), "{info:?}");
        let (_, ans) = Chan::consume(addr, "news", "c", 0, 0, Start::From(1)).unwrap();
        assert!(not_durable(ans.clone()), "CONSUME: {ans:?}");
        // A bad name is refused with a reason.
        let mut c = Chan::open(addr).unwrap();
        let id = c.id();
        c.send(&Request::Info { id, channel: "a..b" }).unwrap();
        match c.answer(id).unwrap() {
            Ans::Failed(Status::BadRequest, why) => assert!(why.contains("dot"), "{why}"),
            other => panic!("{other:?}"),
        }
        // The legacy pubsub service and the channels service share channels.
        let mut legacy = util::wire::Wire::connect(addr);
        let id = legacy.open("pubsub");
        legacy.send(id, b"PUB news\n", false);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            legacy.send(id, b"from-pubsub", false);
            if let Some((0, 1, m)) = sub.message_until(Instant::now() + Duration::from_millis(200)).unwrap() {
                assert_eq!(m, b"from-pubsub");
                break;
            }
            assert!(Instant::now() < deadline, "a legacy PUB never reached the channels subscriber");
        }
        // Replay needs a durable channel.
        let (_, ans) = Chan::subscribe(addr, "news", Start::From(1)).unwrap();
        assert!(not_durable(ans.clone()), "SUB from 1: {ans:?}");
    }
}
