//! Durable channels and named consumers on the PostgreSQL backend (the channels code uses only
//! `ringwire_db::Db`, so they must behave there as on the embedded store): pipelined publishes
//! from two cores, replay and resume, `kill -9` during publishing, a consumer across a restart,
//! and two nodes sharing one database (replay only: live delivery across nodes needs the
//! cluster bridge). Real PostgreSQL (`tests/util/pg.rs`), both I/O backends.

mod util;

use ringwire_protocol::channels::Start;
use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    net::SocketAddr,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};
use util::{
    Server,
    channels::{Ans, Chan, payload},
    pg::PgCluster,
    sse::{Sse, json, req},
};

const DURABLE: &str = "orders.*,audit";

/// `--workers N --db-backend postgres --db-url URL --durable DURABLE`.
fn pg_args(url: &str, workers: &str) -> Vec<String> {
    [
        "--workers",
        workers,
        "--db-backend",
        "postgres",
        "--db-url",
        url,
        "--durable",
        DURABLE,
    ]
    .map(String::from)
    .to_vec()
}

fn start(io: &str, args: &[String]) -> Server {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(io, &a)
}

/// Reads MESSAGEs until `n` arrived (30 s each at most): (seq, data) in arrival order.
fn read_n(c: &mut Chan, n: usize) -> Vec<(u64, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let (seq, deliveries, data) = c
                .message()
                .unwrap_or_else(|e| panic!("message {i} of {n}: {e}"));
            assert_eq!(deliveries, 1, "a subscription delivers once");
            (seq, data)
        })
        .collect()
}

/// INFO of `channel` on a fresh connection: (first, next).
fn info(addr: SocketAddr, channel: &str) -> (u64, u64) {
    match Chan::open(addr).unwrap().info(channel).unwrap() {
        Ans::Info { first, next, .. } => (first, next),
        other => panic!("INFO {channel}: {other:?}"),
    }
}

/// Replays `channel` from seq 1 on a fresh connection: every message up to INFO's next.
fn replay_all(addr: SocketAddr, channel: &str) -> Vec<(u64, Vec<u8>)> {
    let (first, next) = info(addr, channel);
    assert_eq!(first, 1, "nothing is trimmed without retention");
    let (mut c, ans) = Chan::subscribe(addr, channel, Start::From(1)).unwrap();
    assert_eq!(ans, Ans::Subscribed { first: 1, next }, "SUB from 1");
    read_n(&mut c, (next - 1) as usize)
}

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
        assert_eq!(info(addr, "orders.pg"), (1, total + 1));

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

/// What one publisher sent, and the (seq, payload) of what was acknowledged.
type Published = (Vec<Vec<u8>>, Vec<(u64, Vec<u8>)>);

/// One publisher until the server dies: PUBs 64 at a time, 32 in flight.
fn crash_publisher(
    addr: SocketAddr,
    who: usize,
    stop: &AtomicBool,
    acks: &AtomicUsize,
) -> Published {
    let (mut sent, mut acked) = (Vec::new(), Vec::new());
    let Ok(mut c) = Chan::open(addr) else {
        return (sent, acked);
    };
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let batch: Vec<Vec<u8>> = (n..n + 64).map(|i| payload(who, i)).collect();
        n += 64;
        sent.extend(batch.iter().cloned());
        let mut seqs = Vec::new();
        let result = c.publish_all("orders.crash", &batch, 32, &mut seqs);
        acks.fetch_add(seqs.len(), Ordering::Relaxed);
        acked.extend(seqs.into_iter().zip(batch));
        if result.is_err() {
            break; // killed
        }
    }
    (sent, acked)
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
                        let r = crash_publisher(addr, round * 10 + p, stop, acks);
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

/// The consumer `c` of `channel` on a new connection; panics unless attached.
fn attach(addr: SocketAddr, channel: &str, c: &str) -> Chan {
    let (chan, ans) = Chan::consume(addr, channel, c, 0, 0, Start::From(1)).unwrap();
    assert!(matches!(ans, Ans::Subscribed { .. }), "CONSUME: {ans:?}");
    chan
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
        let mut c = attach(addr, "orders.k", "worker");
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
        let mut c = attach(s.stream.unwrap(), "orders.k", "worker");
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
        assert_eq!(info(b, "audit"), (1, 51));
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
        let mut c = attach(a, "audit", "shared");
        for want in 1..=5u64 {
            let (seq, _, _) = c.message().unwrap();
            assert_eq!(seq, want);
            assert_eq!(c.ack(seq).unwrap(), Ans::Done);
        }
        drop(c);
        let mut c = attach(b, "audit", "shared");
        let (seq, _, data) = c.message().unwrap();
        assert!(seq > 5, "seq {seq} acknowledged on A, delivered again on B");
        assert_eq!(data, acked[&seq]);
    }
}

/// Events read off a stream: (seq, data) in arrival order.
type Events = Vec<(u64, String)>;

/// Reads an event stream until `total` events came, or `published` is set and no event came
/// for 5 s (heartbeats do not count), or 120 s passed: (seq, data) in arrival order.
fn read_events(mut sse: Sse, total: usize, published: &AtomicBool) -> Events {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got: Events = Vec::with_capacity(total);
    let mut last_event = Instant::now();
    sse.set_wait(Duration::from_secs(10));
    while got.len() < total && Instant::now() < deadline {
        if published.load(Ordering::Relaxed) && last_event.elapsed() > Duration::from_secs(5) {
            break;
        }
        let b = match sse.try_block() {
            Ok(Some(b)) if b.fires() => b,
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => break,
        };
        assert_eq!(b.event, None, "{b:?}");
        let seq: u64 =
            b.id.as_deref()
                .expect("durable events have ids")
                .parse()
                .unwrap();
        got.push((seq, b.data.unwrap()));
        last_event = Instant::now();
    }
    got
}

/// One round of [`sse_on_postgres_delivers_every_message_in_order`] on `channel`: event
/// streams from seq 1 while four pipelined publishers append; (acknowledged, each reader's
/// events).
fn sse_round(s: &Server, channel: &str) -> (BTreeMap<u64, Vec<u8>>, Vec<Events>) {
    const PUBLISHERS: usize = 4;
    const EACH: usize = 200;
    const READERS: usize = 1;
    let addr = s.stream.unwrap();
    let published = AtomicBool::new(false);
    let path = format!("/channels/{channel}/events?from=1");
    thread::scope(|sc| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let sse = Sse::subscribe(s, &path, &[]);
                let published = &published;
                sc.spawn(move || read_events(sse, PUBLISHERS * EACH, published))
            })
            .collect();
        let publishers: Vec<_> = (0..PUBLISHERS)
            .map(|p| {
                sc.spawn(move || {
                    let mut c = Chan::open(addr).unwrap();
                    let msgs: Vec<Vec<u8>> = (0..EACH).map(|i| payload(p, i)).collect();
                    let mut seqs = Vec::new();
                    let r = c.publish_all(channel, &msgs, 16, &mut seqs);
                    (r, seqs.into_iter().zip(msgs).collect::<Vec<_>>())
                })
            })
            .collect();
        let mut acked = BTreeMap::new();
        for p in publishers {
            let (r, mine) = p.join().unwrap();
            acked.extend(mine);
            if let Err(e) = r {
                published.store(true, Ordering::Relaxed);
                panic!(
                    "{channel}: a publisher failed ({} acknowledged): {e}",
                    acked.len()
                );
            }
        }
        published.store(true, Ordering::Relaxed);
        let readers = readers.into_iter().map(|r| r.join().unwrap()).collect();
        (acked, readers)
    })
}

both_backends! {
    fn sse_on_postgres_delivers_every_message_in_order(io) {
        // A short heartbeat makes the event stream's wait for its feed race the heartbeat
        // timer all the time; publishers on both cores make live notices arrive out of order,
        // so the feed reads the store (an await on PostgreSQL) while the timer runs. Every
        // reader must get every message, in order. Ten rounds.
        let Some(pg) = PgCluster::start() else { return };
        let mut args = pg_args(&pg.url(), "2");
        args.extend(["--sse-heartbeat", "1ms"].map(String::from));
        let s = start(io, &args);
        for round in 0..10 {
            let channel = format!("orders.sse{round}");
            let (acked, readers) = sse_round(&s, &channel);
            let total = acked.len();
            for (r, got) in readers.iter().enumerate() {
                let ids: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
                let missing: Vec<u64> = (1..=total as u64).filter(|s| !ids.contains(s)).collect();
                assert_eq!(got.len(), total, "{channel} reader {r}: {} of {total} events; missing seqs {missing:?}", got.len());
                for (i, (seq, data)) in got.iter().enumerate() {
                    assert_eq!(*seq, i as u64 + 1, "{channel} reader {r}: events in seq order without gaps or duplicates");
                    assert_eq!(data.as_bytes(), acked[seq].as_slice(), "{channel} reader {r}: seq {seq}");
                }
            }
        }
    }
}

both_backends! {
    fn sse_catch_up_of_large_messages_survives_the_heartbeat_on_postgres(io) {
        // A reader that starts in the past catches up from the store in pages; a page of big
        // messages (256 x 64 KiB: 50-100 ms on PostgreSQL here) takes far longer than the 5 ms
        // heartbeat, which must not cancel the read (nor lose what it read): every message
        // arrives, in order.
        let Some(pg) = PgCluster::start() else { return };
        let mut args = pg_args(&pg.url(), "1");
        args.extend(["--sse-heartbeat", "5ms"].map(String::from));
        let s = start(io, &args);
        // 300 messages of 64 KiB of hex text (UTF-8, hardly compressible).
        let msgs: Vec<Vec<u8>> = (0..300u64)
            .map(|i| util::pattern(i + 1, 32 << 10).iter().map(|b| format!("{b:02x}")).collect::<String>().into_bytes())
            .collect();
        let mut seqs = Vec::new();
        Chan::open(s.stream.unwrap()).unwrap().publish_all("orders.big", &msgs, 16, &mut seqs).unwrap();
        assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
        let sse = Sse::subscribe(&s, "/channels/orders.big/events?from=1", &[]);
        let got = read_events(sse, msgs.len(), &AtomicBool::new(true));
        assert_eq!(got.len(), msgs.len(), "{} of {} events (none for 5 s after that)", got.len(), msgs.len());
        for (i, (seq, data)) in got.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1, "events in seq order without gaps or duplicates");
            assert!(data.as_bytes() == msgs[i].as_slice(), "seq {seq}: wrong data");
        }
    }
}

both_backends! {
    fn an_ack_pipelined_behind_consume_is_kept_or_refused_on_postgres(io) {
        // A client resuming a consumer acknowledges what it processed before it reconnected,
        // pipelined behind its CONSUME. That ACK must either be kept (never redelivered) or be
        // refused; an OK answer followed by a redelivery breaks "acked never redelivered".
        let Some(pg) = PgCluster::start() else { return };
        let s = start(io, &pg_args(&pg.url(), "1"));
        let addr = s.stream.unwrap();
        let mut seqs = Vec::new();
        let msgs: Vec<Vec<u8>> = (0..3).map(|i| payload(0, i)).collect();
        Chan::open(addr).unwrap().publish_all("orders.p", &msgs, 8, &mut seqs).unwrap();
        let mut c = attach(addr, "orders.p", "w");
        for want in 1..=3 {
            assert_eq!(c.message().unwrap().0, want);
        }
        // Stored with the acknowledgement: 1 and 2 delivered, not acknowledged.
        assert_eq!(c.ack(3).unwrap(), Ans::Done);
        drop(c);
        let mut c = Chan::open(addr).unwrap();
        let (consume, ack) = (c.id(), c.id());
        c.send(&ringwire_protocol::channels::Request::Consume {
            id: consume,
            channel: "orders.p",
            consumer: "w",
            ack_wait_ms: 0,
            max_ack_pending: 0,
            start: Start::From(1),
        })
        .unwrap();
        c.send(&ringwire_protocol::channels::Request::Ack { id: ack, seq: 1 }).unwrap();
        assert!(matches!(c.answer(consume).unwrap(), Ans::Subscribed { .. }));
        let acked = c.answer(ack).unwrap() == Ans::Done;
        let mut redelivered = BTreeSet::new();
        while let Some((seq, _, _)) = c.message_until(Instant::now() + Duration::from_secs(2)).unwrap() {
            redelivered.insert(seq);
        }
        assert!(redelivered.contains(&2), "seq 2 was never acknowledged: {redelivered:?}");
        assert!(
            !(acked && redelivered.contains(&1)),
            "ACK 1 was answered OK, then seq 1 was delivered again"
        );
    }
}

both_backends! {
    fn a_consumer_whose_client_stops_reading_leaves_the_store_alone_on_postgres(io) {
        // Redeliveries come due while the client reads nothing and the stream's buffers are
        // full: the consumer must wait for room, not poll the store in a loop. Counted in
        // PostgreSQL's committed transactions while nothing else happens.
        let Some(pg) = PgCluster::start() else { return };
        let s = start(io, &pg_args(&pg.url(), "1"));
        let addr = s.stream.unwrap();
        let big = |i: usize| {
            let mut m = payload(4, i);
            m.resize(8192, b'.');
            m
        };
        let msgs: Vec<Vec<u8>> = (0..1000).map(big).collect();
        let mut seqs = Vec::new();
        Chan::open(addr).unwrap().publish_all("orders.idle", &msgs, 32, &mut seqs).unwrap();
        // Attached (ack_wait 200 ms), then never read again.
        let (c, ans) = Chan::consume(addr, "orders.idle", "stuck", 200, 0, Start::From(1)).unwrap();
        assert!(matches!(ans, Ans::Subscribed { .. }), "{ans:?}");
        let commits = || -> u64 {
            pg.psql("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
                .trim()
                .parse()
                .unwrap()
        };
        thread::sleep(Duration::from_secs(3));
        let before = commits();
        thread::sleep(Duration::from_secs(4));
        let during = commits() - before;
        drop(c);
        assert!(
            during < 500,
            "{during} store transactions in 4 s while the only client read nothing: the consumer \
             polls the store in a loop"
        );
    }
}

both_backends! {
    fn a_live_subscriber_on_one_node_hears_appends_made_on_another(io) {
        // Each node hears its own appends live; on a store shared with other nodes an idle
        // durable reader also looks at the store every second (SHARED_STORE_POLL), so what
        // node A stores reaches a subscriber and a consumer on node B without a publish on B.
        // (Before, both waited for a publish through B.)
        let Some(pg) = PgCluster::start() else { return };
        let args = pg_args(&pg.url(), "1");
        let a = start(io, &args);
        let b = start(io, &args);
        let (a, b) = (a.stream.unwrap(), b.stream.unwrap());
        let (mut sub, _) = Chan::subscribe(b, "audit", Start::New).unwrap();
        let mut consumer = attach(b, "audit", "remote");
        let msgs: Vec<Vec<u8>> = (0..20).map(|i| payload(4, i)).collect();
        let mut seqs = Vec::new();
        Chan::open(a).unwrap().publish_all("audit", &msgs, 4, &mut seqs).unwrap();
        let got = read_n(&mut sub, 20);
        assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), seqs);
        for want in &seqs {
            let (seq, _, _) = consumer.message().unwrap();
            assert_eq!(seq, *want);
        }
    }
}

both_backends! {
    fn idle_durable_readers_do_not_each_poll_the_store_on_postgres(io) {
        // On a shared store idle durable readers look for other nodes' appends now and then.
        // That must cost per channel, not per reader: 40 idle readers of one channel (SUB and
        // SSE) may not multiply the store's load by 40. Counted in PostgreSQL's committed
        // transactions while nothing is published.
        let Some(pg) = PgCluster::start() else { return };
        let s = start(io, &pg_args(&pg.url(), "2"));
        let addr = s.stream.unwrap();
        Chan::open(addr).unwrap().publish("orders.quiet", b"one").unwrap();
        let subs: Vec<Chan> = (0..20)
            .map(|_| Chan::subscribe(addr, "orders.quiet", Start::New).unwrap().0)
            .collect();
        let events: Vec<Sse> =
            (0..20).map(|_| Sse::subscribe(&s, "/channels/orders.quiet/events", &[])).collect();
        let commits = || -> u64 {
            pg.psql("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
                .trim()
                .parse()
                .unwrap()
        };
        thread::sleep(Duration::from_secs(2));
        let before = commits();
        thread::sleep(Duration::from_secs(5));
        let during = commits() - before;
        drop((subs, events));
        // One look per channel and core per second would be ~10-20; one per reader, ~400.
        assert!(
            during < 100,
            "{during} store transactions in 5 s for 40 idle readers of one channel: each reader \
             polls the store on its own"
        );
    }
}
