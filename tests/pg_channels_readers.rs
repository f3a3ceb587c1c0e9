//! Readers of durable channels on the PostgreSQL backend: Server-Sent Events that must not
//! lose or reorder anything while catching up, an ACK pipelined behind its CONSUME, a
//! consumer whose client stops reading, readers on one node hearing what another node
//! appended, and idle readers that must not each poll the store. Real PostgreSQL
//! (`tests/util/pg.rs`), both I/O backends. (Publishing, replay, kill -9 and consumers across
//! restarts: `tests/pg_channels.rs`.)

mod util;

use ringwire_protocol::channels::Start;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};
use util::{
    Server,
    channel_steps::{attach_from_1, pg_args, read_n, start},
    channels::{Ans, Chan, payload},
    pg::PgCluster,
    sse::Sse,
};

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
        let mut c = attach_from_1(addr, "orders.p", "w");
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
        let mut consumer = attach_from_1(b, "audit", "remote");
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
