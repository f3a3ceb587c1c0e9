//! Pub/sub against the real server, on both backends: routing only to cores with
//! subscribers, bounded cross-core queues and memory under a fast publisher, a publisher held
//! by a busy core without loss, and subscriptions released however their connection ends.

mod util;

use ringwire_protocol::stream::{ErrorCode, Settings};
use std::{
    net::Shutdown,
    thread,
    time::{Duration, Instant},
};
use util::{
    Server,
    wire::{Ev, Wire},
};

const T: Duration = Duration::from_secs(10);

/// The value of an unlabelled sample.
fn metric(s: &Server, name: &str) -> f64 {
    let (_, text) = s.admin_get("/metrics");
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// A per-core gauge, by core index.
fn per_core(s: &Server, name: &str) -> Vec<f64> {
    let (_, text) = s.admin_get("/metrics");
    let mut v = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(&format!("{name}{{core=\"")) else {
            continue;
        };
        let core: usize = rest.split('"').next().unwrap().parse().unwrap();
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        if v.len() <= core {
            v.resize(core + 1, 0.0);
        }
        v[core] = value;
    }
    v
}

fn subscriptions(s: &Server) -> f64 {
    per_core(s, "ringwire_stream_pubsub_subscriptions")
        .iter()
        .sum()
}

/// Polls until `f` holds (the server's stats are read live); false after `limit`.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// The server's resident set, from /proc.
fn rss_kib(s: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// A `pubsub` stream on `w` with its command line sent.
fn command(w: &mut Wire, line: &str) -> u32 {
    let id = w.open("pubsub");
    w.send(id, line.as_bytes(), false);
    id
}

/// A new connection with a subscription to `channel`, and the core it landed on (read from
/// the per-core gauge, so the caller must not subscribe anything else meanwhile).
fn subscriber(s: &Server, settings: Settings, channel: &str) -> (Wire, u32, usize) {
    let before = per_core(s, "ringwire_stream_pubsub_subscriptions");
    let mut w = Wire::connect_with(s.stream.unwrap(), settings);
    let id = command(&mut w, &format!("SUB {channel}\n"));
    let mut core = None;
    assert!(
        eventually(T, || {
            let now = per_core(s, "ringwire_stream_pubsub_subscriptions");
            core = (0..now.len()).find(|&c| now[c] > before.get(c).copied().unwrap_or(0.0));
            core.is_some()
        }),
        "the subscription never showed in the gauge"
    );
    (w, id, core.unwrap())
}

/// A publisher on a core other than `avoid` (connections land where the kernel puts them).
/// Its core is found with a probe subscription on the same connection, then ended.
fn publisher_away_from(s: &Server, avoid: usize, channel: &str) -> (Wire, u32) {
    let base = subscriptions(s);
    for n in 0..64 {
        let (mut w, probe, core) = subscriber(s, Settings::default(), &format!("probe-{n}"));
        w.send(probe, b"", true);
        assert!(
            eventually(T, || subscriptions(s) == base),
            "the probe did not end"
        );
        if core != avoid {
            let id = command(&mut w, &format!("PUB {channel}\n"));
            return (w, id);
        }
    }
    panic!("no connection landed away from core {avoid}");
}

/// A subscriber to `channel` on each of the server's `cores` cores.
fn subscriber_on_each_core(s: &Server, channel: &str, cores: usize) -> Vec<(Wire, u32)> {
    let mut on: Vec<Option<(Wire, u32)>> = (0..cores).map(|_| None).collect();
    for _ in 0..64 {
        if on.iter().all(Option::is_some) {
            break;
        }
        let base = subscriptions(s);
        let (mut w, id, core) = subscriber(s, Settings::default(), channel);
        if on[core].is_none() {
            on[core] = Some((w, id));
        } else {
            w.send(id, b"", true);
            assert!(
                eventually(T, || subscriptions(s) == base),
                "the extra subscriber did not end"
            );
        }
    }
    on.into_iter()
        .enumerate()
        .map(|(c, w)| w.unwrap_or_else(|| panic!("no connection landed on core {c}")))
        .collect()
}

/// Publishes `data` on `p`'s stream `pid` in one piece, waiting for window if needed.
fn publish(p: &mut Wire, pid: u32, data: &[u8]) {
    let end = Instant::now() + T;
    while p.conn.send_capacity(pid) < data.len() {
        assert!(
            Instant::now() < end,
            "the publisher got no window within {T:?}"
        );
        p.next(Duration::from_millis(20)); // WINDOW_UPDATEs
    }
    assert_eq!(p.send(pid, data, false), data.len());
}

/// Publishes numbered probes on `pid` until the subscriber streams `sids` (all on `sub`, so
/// on one core) receive one: the publisher's core has learnt of the subscription, which a
/// core announces to the others asynchronously. Then reads every probe that crossed, up to
/// the last one published (one publisher's messages stay in order), so nothing of them is
/// left in flight. Returns how many probes were published.
fn until_routed(p: &mut Wire, pid: u32, sub: &mut Wire, sids: &[u32]) -> usize {
    let tag = |n: usize| format!("probe {n:06};").into_bytes();
    let end = Instant::now() + T;
    let mut got: Vec<Vec<u8>> = vec![Vec::new(); sids.len()];
    let mut sent = 0;
    // Until the first probe crosses, one probe per wait.
    while got.iter().all(Vec::is_empty) {
        assert!(
            Instant::now() < end,
            "after {sent} probes in {T:?}, none reached the subscriber's core"
        );
        publish(p, pid, &tag(sent));
        sent += 1;
        let wait = Instant::now() + Duration::from_millis(50);
        while let Some(ev) = sub.next(wait.saturating_duration_since(Instant::now())) {
            take_probe(sub, sids, &mut got, ev);
        }
    }
    // Then every stream gets the last one too: the route is known from then on.
    let last = tag(sent - 1);
    while !got.iter().all(|g| g.ends_with(&last)) {
        let left = end.saturating_duration_since(Instant::now());
        let ev = sub
            .next(left)
            .unwrap_or_else(|| panic!("probes missing: {got:?}"));
        take_probe(sub, sids, &mut got, ev);
    }
    sent
}

fn take_probe(sub: &mut Wire, sids: &[u32], got: &mut [Vec<u8>], ev: Ev) {
    match ev {
        Ev::Data { id, data, .. } => {
            sub.consume(id, data.len());
            let k = sids
                .iter()
                .position(|&s| s == id)
                .expect("data on an unknown stream");
            got[k].extend_from_slice(&data);
        }
        Ev::Reset { id, code } => panic!("stream {id} reset with {code:#x}"),
        _ => {}
    }
}

/// Publishes probes on `pid` until two in a row are published without crossing to another
/// core: the publisher's core has learnt that no other core subscribes any more.
fn until_unrouted(s: &Server, p: &mut Wire, pid: u32) {
    let end = Instant::now() + T;
    let mut home = 0;
    while home < 2 {
        assert!(
            Instant::now() < end,
            "publishes kept crossing for {T:?} after the last subscriber left"
        );
        let forwarded = metric(s, "ringwire_stream_pubsub_forwarded_total");
        let published = metric(s, "ringwire_stream_pubsub_published_total");
        publish(p, pid, b"probe");
        assert!(eventually(T, || metric(
            s,
            "ringwire_stream_pubsub_published_total"
        ) > published));
        // A publish counts its forwards in the same step as itself.
        if metric(s, "ringwire_stream_pubsub_forwarded_total") == forwarded {
            home += 1;
        } else {
            home = 0;
        }
    }
}

both_backends! {
    fn a_publish_crosses_only_to_cores_with_subscribers(io) {
        let s = Server::start(io, &["--workers", "2"]);
        let mut p = Wire::connect(s.stream.unwrap());
        let id = command(&mut p, "PUB nobody\n");
        for i in 0..100 {
            assert!(p.send(id, format!("m{i}").as_bytes(), false) > 0);
        }
        assert!(eventually(T, || metric(&s, "ringwire_stream_pubsub_published_total") == 100.0));
        assert_eq!(
            metric(&s, "ringwire_stream_pubsub_forwarded_total"), 0.0,
            "no core has subscribers: nothing crosses"
        );

        // A subscriber on one core: only publishers on the other core forward, one each.
        let (mut sub, sid, core) = subscriber(&s, Settings::default(), "somebody");
        let (mut far, fid) = publisher_away_from(&s, core, "somebody");
        let probes = until_routed(&mut far, fid, &mut sub, &[sid]) as f64;
        assert!(eventually(T, || metric(&s, "ringwire_stream_pubsub_published_total") == 100.0 + probes));
        let forwarded = metric(&s, "ringwire_stream_pubsub_forwarded_total");
        assert!((1.0..=probes).contains(&forwarded), "{forwarded} forwards of {probes} probes");
        for i in 0..100 {
            assert!(far.send(fid, format!("n{i:02}").as_bytes(), false) > 0);
        }
        let (got, _) = sub.read_stream(sid, 300, T);
        assert_eq!(got.len(), 300, "every message arrived");
        assert_eq!(metric(&s, "ringwire_stream_pubsub_forwarded_total"), forwarded + 100.0);

        // Once it leaves, the other core is told and publishes stay home again.
        sub.send(sid, b"", true);
        assert!(eventually(T, || subscriptions(&s) == 0.0));
        until_unrouted(&s, &mut far, fid);
        let published = metric(&s, "ringwire_stream_pubsub_published_total");
        let forwarded = metric(&s, "ringwire_stream_pubsub_forwarded_total");
        for i in 0..100 {
            assert!(far.send(fid, format!("o{i:02}").as_bytes(), false) > 0);
        }
        assert!(eventually(T, || metric(&s, "ringwire_stream_pubsub_published_total") == published + 100.0));
        assert_eq!(metric(&s, "ringwire_stream_pubsub_forwarded_total"), forwarded);
    }
}

both_backends! {
    fn a_fast_publisher_and_a_subscriber_that_does_not_read_stay_bounded(io) {
        let s = Server::start(io, &["--workers", "2"]);
        // The subscriber takes one window (256 KiB) and then reads nothing.
        let (mut sub, sid, core) = subscriber(&s, Settings::default(), "flood");
        let (mut p, pid) = publisher_away_from(&s, core, "flood");
        until_routed(&mut p, pid, &mut sub, &[sid]);
        let rss_before = rss_kib(&s);
        let message = util::pattern(7, 16 * 1024);
        let mut sent = 0usize;
        let deadline = Instant::now() + Duration::from_secs(60);
        // 256 MiB: far more than any queue may hold.
        while sent < 256 << 20 && Instant::now() < deadline {
            let n = p.send(pid, &message, false);
            sent += n;
            if n == 0 {
                p.next(Duration::from_millis(20)); // WINDOW_UPDATEs
            }
        }
        assert!(sent >= 256 << 20, "the publisher stalled after {sent} bytes");
        let inbox = per_core(&s, "ringwire_stream_pubsub_inbox_messages");
        assert!(inbox.iter().all(|&n| n <= 4096.0), "inbox over its bound: {inbox:?}");
        let grown = rss_kib(&s).saturating_sub(rss_before);
        assert!(grown < 96 * 1024, "the server grew by {grown} KiB for a subscriber that does not read");
        // The subscriber fell behind its queue: it is reset (after what its window held) ...
        let mut reset = None;
        while let Some(ev) = sub.next(Duration::from_secs(5)) {
            if let Ev::Reset { id, code } = ev {
                reset = Some((id, code));
                break;
            }
        }
        assert_eq!(reset, Some((sid, ErrorCode::SLOW_CONSUMER.0)));
        // ... and with no subscriber left, nothing more crosses.
        assert!(eventually(T, || subscriptions(&s) == 0.0));
        until_unrouted(&s, &mut p, pid);
        let forwarded = metric(&s, "ringwire_stream_pubsub_forwarded_total");
        let published = metric(&s, "ringwire_stream_pubsub_published_total");
        for _ in 0..100 {
            while p.send(pid, &message, false) == 0 {
                p.next(Duration::from_millis(20));
            }
        }
        assert!(eventually(T, || metric(&s, "ringwire_stream_pubsub_published_total") == published + 100.0));
        assert_eq!(metric(&s, "ringwire_stream_pubsub_forwarded_total"), forwarded);
    }
}

both_backends! {
    fn abrupt_closes_release_every_subscription(io) {
        let s = Server::start(io, &["--workers", "2"]);
        let mut publisher = Wire::connect(s.stream.unwrap());
        let pid = command(&mut publisher, "PUB leak\n");
        // A subscriber that stays on each core keeps "leak" routed to both for the whole test,
        // so a batch's "bye" reaches every subscriber without waiting on announcements; the
        // probes show each route once.
        let mut witnesses = subscriber_on_each_core(&s, "leak", 2);
        for (w, id) in &mut witnesses {
            until_routed(&mut publisher, pid, w, &[*id]);
        }
        let base = subscriptions(&s);
        let mut rss_after_first = 0;
        for batch in 0..10 {
            let mut subs: Vec<(Wire, u32)> = (0..100)
                .map(|_| {
                    let mut w = Wire::connect(s.stream.unwrap());
                    let id = command(&mut w, "SUB leak\n");
                    (w, id)
                })
                .collect();
            assert!(
                eventually(T, || subscriptions(&s) == base + 100.0),
                "batch {batch}: {} subscriptions",
                subscriptions(&s)
            );
            assert!(publisher.send(pid, b"bye", false) > 0);
            for (k, (w, id)) in subs.iter_mut().enumerate() {
                let mut one = [0u8; 1];
                w.sock.set_read_timeout(Some(T)).unwrap();
                match k % 3 {
                    // RST: closing with the message unread makes the kernel reset.
                    0 => assert!(w.sock.peek(&mut one).unwrap() > 0),
                    // A plain close (FIN) once the message was read.
                    1 => assert_eq!(w.read_stream(*id, 3, T).0, b"bye"),
                    // A close in the middle of a frame: half a DATA header, then FIN.
                    _ => {
                        assert_eq!(w.read_stream(*id, 3, T).0, b"bye");
                        w.raw(&[1, 2, 0, 0, 0, 0]);
                        w.sock.shutdown(Shutdown::Write).unwrap();
                    }
                }
            }
            drop(subs);
            assert!(
                eventually(T, || subscriptions(&s) == base),
                "batch {batch}: {} subscriptions left after every connection closed",
                subscriptions(&s)
            );
            if batch == 0 {
                rss_after_first = rss_kib(&s);
            }
        }
        let grown = rss_kib(&s).saturating_sub(rss_after_first);
        assert!(grown < 8 * 1024, "900 closed subscribers left {grown} KiB behind");
    }
}

both_backends! {
    fn a_busy_core_slows_the_publisher_and_loses_nothing(io) {
        // A generous write timeout: the test's own reader is slow on a loaded machine.
        let s = Server::start(io, &["--workers", "2", "--subscriber-queue", "100000", "--write-timeout", "60s"]);
        // 50 subscriptions on one connection, on one core: every message it receives from
        // the other core is 50 deliveries, so its queue from that core can fill.
        let (mut sub, first, core) = subscriber(&s, Settings::default(), "busy");
        let mut ids = vec![first];
        for _ in 1..50 {
            ids.push(command(&mut sub, "SUB busy\n"));
        }
        assert!(eventually(T, || subscriptions(&s) == 50.0));
        let (mut p, pid) = publisher_away_from(&s, core, "busy");
        until_routed(&mut p, pid, &mut sub, &ids);
        // More than the 4096 messages a core's queue holds, in one burst (one window).
        const N: usize = 8_000;
        let publisher = thread::spawn(move || {
            let mut burst = Vec::new();
            let mut i = 0;
            while i < N {
                burst.clear();
                while i < N && p.conn.send_capacity(pid) >= 8 {
                    p.conn.send_data(pid, format!("{i:08}").as_bytes(), false, &mut burst).unwrap();
                    i += 1;
                }
                if burst.is_empty() {
                    p.next(Duration::from_millis(20)); // WINDOW_UPDATEs
                } else {
                    p.raw(&burst);
                }
            }
            p
        });
        let mut next = vec![0usize; ids.len()];
        let (mut events, mut inbox_max) = (0usize, 0.0f64);
        let deadline = Instant::now() + Duration::from_secs(60);
        while next.iter().any(|&n| n < N) && Instant::now() < deadline {
            events += 1;
            if events % 20_000 == 0 {
                let inbox = per_core(&s, "ringwire_stream_pubsub_inbox_messages");
                inbox_max = inbox.into_iter().fold(inbox_max, f64::max);
            }
            match sub.next(Duration::from_secs(5)) {
                Some(Ev::Data { id, data, .. }) => {
                    sub.consume(id, data.len());
                    let k = ids.iter().position(|&i| i == id).unwrap();
                    for m in data.chunks(8) {
                        assert_eq!(m, format!("{:08}", next[k]).as_bytes(), "subscriber {k}");
                        next[k] += 1;
                    }
                }
                Some(Ev::Reset { id, code }) => panic!("stream {id} reset with {code:#x}"),
                Some(_) => {}
                None => break,
            }
        }
        let _p = publisher.join().unwrap();
        assert!(next.iter().all(|&n| n == N), "not every message arrived: from {:?} to {:?} of {N} per subscriber", next.iter().min(), next.iter().max());
        assert!(inbox_max <= 4096.0, "a queue held {inbox_max} messages");
        // The burst outran the busy core: publishes were held (the publisher's window kept),
        // not queued beyond the bound, and nothing was lost or reordered.
        assert!(metric(&s, "ringwire_stream_pubsub_held_total") > 0.0, "the queue never filled");
    }
}

both_backends! {
    fn pub_on_a_durable_channel_is_refused_and_sub_gets_its_messages(io) {
        // A durable channel's messages go through the store (service `channels` or HTTP):
        // the legacy PUB would bypass it, so it is refused; SUB still hears them live.
        let s = Server::start(io, &["--workers", "1", "--durable", "kept.*"]);
        let mut w = Wire::connect_with(s.stream.unwrap(), Settings::default());
        let pid = command(&mut w, "PUB kept.a\n");
        let mut reset = None;
        while let Some(ev) = w.next(Duration::from_secs(5)) {
            if let Ev::Reset { id, code } = ev {
                reset = Some((id, code));
                break;
            }
        }
        assert_eq!(reset, Some((pid, ErrorCode::SERVICE_ERROR.0)), "{}", s.log());
        let (mut sub, sid, _) = subscriber(&s, Settings::default(), "kept.a");
        let r = util::raw(
            &s,
            b"POST /channels/kept.a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
        .expect("a response");
        assert_eq!(r.status, 200, "{}", s.log());
        let mut got = None;
        while let Some(ev) = sub.next(Duration::from_secs(10)) {
            if let Ev::Data { id, data, .. } = ev
                && id == sid
                && !data.is_empty()
            {
                got = Some(data);
                break;
            }
        }
        assert_eq!(got.as_deref(), Some(&b"hello"[..]));
    }
}
