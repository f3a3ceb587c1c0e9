//! Durable channels in cluster mode: two ringwire nodes, each with its own embedded store,
//! share durable channels through JetStream on a real three-node NATS cluster (Debian's
//! `nats-server`; skipped with a reason where it is missing, a failure under
//! `RINGWIRE_REQUIRE_NATS=1`): replay, live subscriptions, consumers and acknowledgements
//! from either node, and nothing acknowledged lost when a NATS node is killed mid-publishing.
//! Node A and node B use different I/O backends. Generous bounds, no timing assertions.

mod util;

use ringwire_protocol::channels::Start;
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};
use util::{
    Server,
    channels::{Ans, Chan, payload},
    nats::NatsCluster,
};

fn backends() -> (&'static str, &'static str) {
    if ringwire_reactor::testing::uring_or_skip("cluster_durable io_uring node") {
        ("uring", "epoll")
    } else {
        ("epoll", "epoll")
    }
}

fn node(io: &str, name: &str, nats: &NatsCluster) -> Server {
    let urls = nats.urls_arg();
    Server::start(
        io,
        &[
            "--workers",
            "2",
            "--cluster-nats",
            &urls,
            "--cluster-node-name",
            name,
            "--cluster-replicas",
            "3",
            "--durable",
            "orders.*",
        ],
    )
}

/// Every message of `channel` from 1, read on `addr` (retried while JetStream is not
/// answering: after a NATS node is killed its streams elect a new leader and the node may
/// reconnect).
fn replay(addr: SocketAddr, channel: &str, n: usize) -> Vec<(u64, Vec<u8>)> {
    let end = Instant::now() + Duration::from_secs(60);
    let mut c = loop {
        let (c, ans) = Chan::subscribe(addr, channel, Start::From(1)).unwrap();
        if matches!(ans, Ans::Subscribed { .. }) {
            break c;
        }
        assert!(Instant::now() < end, "SUB: {ans:?}");
        thread::sleep(Duration::from_millis(500));
    };
    (0..n)
        .map(|i| {
            let (seq, _, data) = c
                .message()
                .unwrap_or_else(|e| panic!("message {i} of {n}: {e}"));
            (seq, data)
        })
        .collect()
}

#[test]
fn durable_channels_work_from_any_node() {
    let Some(nats) = NatsCluster::start(3) else {
        return;
    };
    let (io_a, io_b) = backends();
    let (a, b) = (node(io_a, "a", &nats), node(io_b, "b", &nats));
    let (a, b) = (a.stream.unwrap(), b.stream.unwrap());
    // A live subscriber on B, before anything is published.
    let (mut live, ans) = Chan::subscribe(b, "orders.x", Start::New).unwrap();
    assert!(matches!(ans, Ans::Subscribed { .. }), "SUB: {ans:?}");
    let msgs: Vec<Vec<u8>> = (0..40).map(|i| payload(1, i)).collect();
    let mut seqs = Vec::new();
    Chan::open(a)
        .unwrap()
        .publish_all("orders.x", &msgs, 8, &mut seqs)
        .unwrap();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "one sequence, from 1");
    let want: Vec<(u64, Vec<u8>)> = seqs.iter().copied().zip(msgs.iter().cloned()).collect();
    // B replays what A stored, and its live subscriber got all of it, in order.
    assert_eq!(replay(b, "orders.x", 40), want);
    for (seq, data) in &want {
        let (s, _, d) = live.message().unwrap();
        assert_eq!((s, &d), (*seq, data), "live on B");
    }
    // Publishing on both nodes continues the same sequence.
    let mut more = Vec::new();
    Chan::open(b)
        .unwrap()
        .publish_all("orders.x", &[b"from b".to_vec()], 1, &mut more)
        .unwrap();
    assert_eq!(more, vec![41]);
    // A consumer acknowledges on A; attached on B it resumes after what A acknowledged.
    let (mut c, ans) = Chan::consume(a, "orders.x", "billing", 0, 0, Start::From(1)).unwrap();
    assert!(
        matches!(ans, Ans::Subscribed { .. }),
        "CONSUME on A: {ans:?}"
    );
    for want in 1..=10u64 {
        let (seq, deliveries, _) = c.message().unwrap();
        assert_eq!((seq, deliveries), (want, 1));
        assert_eq!(c.ack(seq).unwrap(), Ans::Done);
    }
    drop(c);
    let (mut c, ans) = Chan::consume(b, "orders.x", "billing", 0, 0, Start::From(1)).unwrap();
    assert!(
        matches!(ans, Ans::Subscribed { .. }),
        "CONSUME on B: {ans:?}"
    );
    let (seq, _, _) = c.message().unwrap();
    assert_eq!(
        seq, 11,
        "B resumes after what A acknowledged (11 or a redelivery of it)"
    );
}

#[test]
fn a_killed_nats_node_loses_nothing_acknowledged() {
    let Some(mut nats) = NatsCluster::start(3) else {
        return;
    };
    let (io_a, io_b) = backends();
    let (node_a, node_b) = (node(io_a, "a", &nats), node(io_b, "b", &nats));
    let (a, b) = (node_a.stream.unwrap(), node_b.stream.unwrap());
    // The stream exists (with its 3 replicas) before the kill.
    let mut first = Vec::new();
    Chan::open(a)
        .unwrap()
        .publish_all("orders.k", &[b"first".to_vec()], 1, &mut first)
        .unwrap();
    let acked: Arc<Mutex<BTreeMap<u64, Vec<u8>>>> = Arc::default();
    acked.lock().unwrap().insert(first[0], b"first".to_vec());
    let stop = Arc::new(AtomicBool::new(false));
    let publishers: Vec<_> = (0..3)
        .map(|p| {
            let (acked, stop) = (acked.clone(), stop.clone());
            thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut c) = Chan::open(a) else { continue };
                    // One at a time, so each answer is known: acknowledged or not.
                    while !stop.load(Ordering::Relaxed) {
                        let data = payload(p, i);
                        match c.publish("orders.k", &data) {
                            Ok(seq) => {
                                let old = acked.lock().unwrap().insert(seq, data);
                                assert!(old.is_none(), "seq {seq} acknowledged twice");
                                i += 1;
                            }
                            // UNAVAILABLE during the leader change: not acknowledged.
                            Err(_) => break,
                        }
                    }
                }
            })
        })
        .collect();
    let count = || acked.lock().unwrap().len();
    let wait_for = |n: usize| {
        let end = Instant::now() + Duration::from_secs(60);
        while count() < n {
            assert!(
                Instant::now() < end,
                "only {} of {n} publishes acknowledged",
                count()
            );
            thread::sleep(Duration::from_millis(10));
        }
    };
    // Kill a NATS node while publishing is under way, and go on until well after it.
    wait_for(100);
    nats.kill(0);
    let at_kill = count();
    wait_for(at_kill + 300);
    stop.store(true, Ordering::Relaxed);
    for p in publishers {
        p.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    // Every acknowledged message is there, read through node B, with its payload; the
    // sequence has no hole below the last acknowledged one (a publish that timed out may
    // have been stored too: then it is there as well, never a gap).
    let last = *acked.keys().last().unwrap();
    let got =
        std::panic::catch_unwind(|| replay(b, "orders.k", last as usize)).unwrap_or_else(|e| {
            eprintln!("NODE B LOG:\n{}", node_b.log());
            std::panic::resume_unwind(e)
        });
    assert_eq!(
        got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>()
    );
    for (seq, data) in got {
        if let Some(want) = acked.get(&seq) {
            assert_eq!(&data, want, "seq {seq}");
        }
    }
}

#[test]
fn nats_down_durable_publishes_are_refused_then_recover() {
    let Some(mut nats) = NatsCluster::start(3) else {
        return;
    };
    let (io_a, io_b) = backends();
    let (a, b) = (node(io_a, "a", &nats), node(io_b, "b", &nats));
    let (a_addr, b_addr) = (a.stream.unwrap(), b.stream.unwrap());
    let mut first = Vec::new();
    let msgs: Vec<Vec<u8>> = (0..10).map(|i| payload(5, i)).collect();
    Chan::open(a_addr)
        .unwrap()
        .publish_all("orders.d", &msgs, 4, &mut first)
        .unwrap();
    assert_eq!(first, (1..=10).collect::<Vec<_>>());
    // NATS gone: a durable publish is not acknowledged; it fails with UNAVAILABLE (in doubt),
    // and liveness does not depend on NATS.
    nats.stop_all();
    let mut c = Chan::open(a_addr).unwrap();
    let id = c.id();
    let ans = c
        .request(&ringwire_protocol::channels::Request::Pub {
            id,
            channel: "orders.d",
            data: b"while down",
        })
        .unwrap();
    assert!(
        matches!(
            ans,
            Ans::Failed(ringwire_protocol::channels::Status::Unavailable, _)
        ),
        "PUB while NATS is down: {ans:?}"
    );
    assert_eq!(a.admin_get("/health/live").0, 200);
    // NATS back: publishing and replay work again by themselves, nothing acknowledged lost.
    nats.restart_all();
    let end = Instant::now() + Duration::from_secs(60);
    let seq = loop {
        let mut c = Chan::open(a_addr).unwrap();
        match c.publish("orders.d", b"after") {
            Ok(seq) => break seq,
            Err(e) => {
                assert!(Instant::now() < end, "no recovery: {e}");
                thread::sleep(Duration::from_millis(500));
            }
        }
    };
    assert!(seq >= 11, "{seq}");
    let got = replay(b_addr, "orders.d", seq as usize);
    let want: Vec<(u64, Vec<u8>)> = first.iter().copied().zip(msgs).collect();
    assert_eq!(
        &got[..10],
        &want[..],
        "what was acknowledged before the outage"
    );
    assert_eq!(got.last().unwrap(), &(seq, b"after".to_vec()));
}
