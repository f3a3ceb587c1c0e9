//! Named consumers of durable channels and retention, over the `channels` stream service
//! against the real server on both I/O backends: resume after a reconnect and after
//! `kill -9`, redelivery after ack_wait with its count, the bound on unacknowledged
//! deliveries, and trimming by count, bytes and age. Timing is only ever a generous upper
//! bound (30 s) or a short quiet period in which nothing may arrive.

mod util;

use ringwire_protocol::channels::{Request, Start, Status};
use std::{
    collections::{BTreeMap, BTreeSet},
    thread,
    time::{Duration, Instant},
};
use util::{
    Server,
    channels::{Ans, Chan, WAIT, payload},
};

const DURABLE: &str = "orders.*,audit";

fn publish_n(s: &Server, channel: &str, n: usize) {
    let mut p = Chan::open(s.stream.unwrap()).unwrap();
    let msgs: Vec<Vec<u8>> = (0..n).map(|i| payload(0, i)).collect();
    let mut seqs = Vec::new();
    p.publish_all(channel, &msgs, 32, &mut seqs).unwrap();
    assert_eq!(seqs, (1..=n as u64).collect::<Vec<_>>());
}

/// The consumer `c` of `channel` on a new connection; panics unless attached.
fn attach(s: &Server, channel: &str, c: &str, ack_wait_ms: u32, pending: u32) -> Chan {
    let (chan, ans) = Chan::consume(
        s.stream.unwrap(),
        channel,
        c,
        ack_wait_ms,
        pending,
        Start::From(1),
    )
    .unwrap();
    assert!(matches!(ans, Ans::Subscribed { .. }), "CONSUME: {ans:?}");
    chan
}

/// Nothing arrives for `quiet`.
fn assert_quiet(c: &mut Chan, quiet: Duration, why: &str) {
    let m = c.message_until(Instant::now() + quiet).unwrap();
    assert!(m.is_none(), "{why}: got {m:?}");
}

both_backends! {
    fn a_consumer_resumes_after_reconnect(io) {
        let s = Server::start(io, &["--durable", DURABLE]);
        publish_n(&s, "orders.c", 20);
        let mut c = attach(&s, "orders.c", "worker", 0, 0);
        for want in 1..=10 {
            let (seq, deliveries, data) = c.message().unwrap();
            assert_eq!((seq, deliveries, data), (want, 1, payload(0, want as usize - 1)));
            assert_eq!(c.ack(seq).unwrap(), Ans::Done);
        }
        drop(c);
        // Again: never an acknowledged one; every other one, at least once.
        let mut c = attach(&s, "orders.c", "worker", 0, 0);
        let mut seen = BTreeSet::new();
        while seen.len() < 10 {
            let (seq, _, data) = c.message().unwrap();
            assert!(seq > 10, "acknowledged seq {seq} delivered again");
            assert_eq!(data, payload(0, seq as usize - 1));
            seen.insert(seq);
            assert_eq!(c.ack(seq).unwrap(), Ans::Done);
        }
        assert_eq!(seen, (11..=20).collect());
        drop(c);
        let mut c = attach(&s, "orders.c", "worker", 0, 0);
        assert_quiet(&mut c, Duration::from_millis(500), "everything was acknowledged");
        // A message published now reaches the consumer.
        let seq = Chan::open(s.stream.unwrap()).unwrap().publish("orders.c", b"later").unwrap();
        assert_eq!(c.message().unwrap(), (seq, 1, b"later".to_vec()));
        assert_eq!(c.ack(seq).unwrap(), Ans::Done);
        drop(c);
        // Deleted, it is gone: a new one of the same name starts afresh.
        let mut d = Chan::open(s.stream.unwrap()).unwrap();
        let delete = |d: &mut Chan| {
            let id = d.id();
            d.request(&Request::DeleteConsumer { id, channel: "orders.c", consumer: "worker" }).unwrap()
        };
        assert_eq!(delete(&mut d), Ans::Done);
        assert!(matches!(delete(&mut d), Ans::Failed(Status::NotFound, _)));
        let mut c = attach(&s, "orders.c", "worker", 0, 0);
        assert_eq!(c.message().unwrap(), (1, 1, payload(0, 0)));
    }
}

both_backends! {
    fn a_consumer_resumes_after_kill_9(io) {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_str().unwrap();
        let args = ["--data-dir", dir, "--durable", DURABLE];
        let mut s = Server::start(io, &args);
        publish_n(&s, "orders.k", 20);
        let mut c = attach(&s, "orders.k", "worker", 0, 0);
        for want in 1..=20 {
            let (seq, deliveries, _) = c.message().unwrap();
            assert_eq!((seq, deliveries), (want, 1));
        }
        for seq in 1..=10 {
            assert_eq!(c.ack(seq).unwrap(), Ans::Done, "ACK {seq} (answered once stored)");
        }
        s.signal("KILL");
        s.wait(Duration::from_secs(10)).expect("killed");
        drop(c);
        let s = Server::start(io, &args);
        let mut c = attach(&s, "orders.k", "worker", 0, 0);
        let mut seen = BTreeMap::new();
        while seen.len() < 10 {
            let (seq, deliveries, data) = c.message().unwrap();
            assert!(seq > 10, "acknowledged seq {seq} delivered again after the restart");
            assert_eq!(data, payload(0, seq as usize - 1));
            assert!(deliveries >= 2, "seq {seq} was delivered before the kill: count {deliveries}");
            seen.entry(seq).or_insert(deliveries);
            assert_eq!(c.ack(seq).unwrap(), Ans::Done);
        }
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), (11..=20).collect::<Vec<_>>());
    }
}

both_backends! {
    fn unacked_is_redelivered_after_ack_wait_with_its_count(io) {
        let s = Server::start(io, &["--durable", DURABLE]);
        publish_n(&s, "orders.r", 3);
        let mut c = attach(&s, "orders.r", "slowpoke", 300, 0);
        // Never acknowledged: each comes again, with its count going up by one each time.
        let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
        let deadline = Instant::now() + WAIT;
        while counts.len() < 3 || counts.values().any(|n| *n < 3) {
            let Some((seq, deliveries, data)) = c.message_until(deadline).unwrap() else {
                panic!("not every message came 3 times in 30 s: {counts:?}");
            };
            assert_eq!(data, payload(0, seq as usize - 1));
            let last = counts.insert(seq, deliveries).unwrap_or(0);
            assert_eq!(deliveries, last + 1, "seq {seq}: deliveries count up by one");
        }
        // NAK asks for one now; then the acknowledged ones stop coming.
        let id = c.id();
        c.send(&Request::Nak { id, seq: 2 }).unwrap();
        assert!(matches!(c.answer(id).unwrap(), Ans::Done | Ans::Failed(..)));
        for seq in 1..=3 {
            assert_eq!(c.ack(seq).unwrap(), Ans::Done, "ACK {seq}");
        }
        // Deliveries sent before the ACKs were answered may still be in the way.
        while c.message_until(Instant::now() + Duration::from_millis(50)).unwrap().is_some() {}
        assert_quiet(&mut c, Duration::from_millis(1500), "acknowledged: no more redeliveries");
        // An ACK of a seq not in flight is NOT_FOUND.
        assert!(matches!(c.ack(3).unwrap(), Ans::Failed(Status::NotFound, _)));
    }
}

both_backends! {
    fn max_ack_pending_bounds_in_flight(io) {
        let s = Server::start(io, &["--durable", DURABLE]);
        publish_n(&s, "orders.m", 20);
        let mut c = attach(&s, "orders.m", "bounded", 60_000, 5);
        for want in 1..=5 {
            assert_eq!(c.message().unwrap().0, want);
        }
        assert_quiet(&mut c, Duration::from_millis(500), "5 unacknowledged: no 6th");
        // Each ACK lets exactly one more through, in order.
        let mut acked = 0u64;
        let mut delivered = 5u64;
        while acked < 20 {
            acked += 1;
            assert_eq!(c.ack(acked).unwrap(), Ans::Done);
            if delivered < 20 {
                let (seq, deliveries, _) = c.message().unwrap();
                assert_eq!((seq, deliveries), (delivered + 1, 1));
                delivered += 1;
            }
            assert!(delivered - acked <= 5, "{} in flight", delivered - acked);
        }
        assert_quiet(&mut c, Duration::from_millis(300), "all acknowledged");
    }
}

/// Polls `channel`'s INFO until `done(count, bytes, first, next)` holds, 30 s at most;
/// returns the last INFO.
fn poll_info(
    p: &mut Chan,
    channel: &str,
    done: impl Fn(u64, u64, u64, u64) -> bool,
) -> (u64, u64, u64, u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let Ans::Info {
            first,
            next,
            count,
            bytes,
        } = p.info(channel).unwrap()
        else {
            panic!("INFO {channel}");
        };
        if done(count, bytes, first, next) {
            return (count, bytes, first, next);
        }
        assert!(
            Instant::now() < deadline,
            "{channel} not trimmed in 30 s: count {count}, bytes {bytes}, first {first}, next {next}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

both_backends! {
    fn retention_trims_by_count_bytes_and_age(io) {
        let durable = "r.count;max_count=10,r.bytes;max_bytes=100,r.age;max_age=1s";
        let s = Server::start(io, &["--durable", durable]);
        let addr = s.stream.unwrap();
        let mut p = Chan::open(addr).unwrap();
        let ten: Vec<Vec<u8>> = (0..200).map(|i| format!("{i:010}").into_bytes()).collect();
        for channel in ["r.count", "r.bytes"] {
            let mut seqs = Vec::new();
            p.publish_all(channel, &ten, 32, &mut seqs).unwrap();
            // Trimming is the writer's, in the background (every so many appends, and a
            // periodic sweep): with no more publishing, the bound holds soon.
            let (count, bytes, first, next) = poll_info(&mut p, channel, |count, bytes, _, _| {
                if channel == "r.count" { count <= 10 } else { bytes <= 100 }
            });
            // Removed from the oldest end until the bound holds: exactly the newest 10.
            assert_eq!((count, bytes, first, next), (10, 100, 191, 201), "{channel}");
            // A replay from 1 starts at the first kept message: the newest are kept.
            let (mut c, ans) = Chan::subscribe(addr, channel, Start::From(1)).unwrap();
            let Ans::Subscribed { first: f, .. } = ans else { panic!("{ans:?}") };
            assert_eq!(f, first, "{channel}: SUB answered first {f}");
            assert_eq!(c.message().unwrap(), (191, 1, ten[190].clone()), "{channel}: replay");
        }
        // By age: what is older than a second goes, with no more publishing.
        let mut seqs = Vec::new();
        p.publish_all("r.age", &ten[..5], 5, &mut seqs).unwrap();
        let (_, _, first, _) = poll_info(&mut p, "r.age", |count, _, first, _| count == 0 || first > 5);
        assert!(first > 5, "messages older than max_age are gone");
    }
}

both_backends! {
    fn a_consumer_reattached_at_once_takes_over_without_conflict(io) {
        // Each owner's last state write (of what it delivered) may land after its connection
        // closed, between the next owner's read and compare-and-set: the attach reads again
        // instead of failing. (It answered CONFLICT before that.)
        let s = Server::start(io, &["--workers", "2", "--durable", DURABLE]);
        publish_n(&s, "orders.r", 2000);
        let mut acked = BTreeSet::new();
        for round in 0..40 {
            let mut c = attach(&s, "orders.r", "hopper", 0, 0);
            let (seq, _, _) = c.message().unwrap();
            assert!(!acked.contains(&seq), "round {round}: seq {seq} was acknowledged before");
            assert_eq!(c.ack(seq).unwrap(), Ans::Done);
            acked.insert(seq);
            // Go away while the server is still delivering (and writing down what it
            // delivered).
            drop(c);
        }
    }
}
