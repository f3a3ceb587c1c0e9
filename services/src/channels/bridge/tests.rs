//! The bridge against a real `nats-server` (skipped with a reason where it is not installed,
//! a failure under `RINGWIRE_REQUIRE_NATS=1`), with plain channels standing in for the cores.

use super::*;
use ringwire_reactor::channel::{self, Receiver, Sender};
use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    sync::atomic::Ordering,
    time::Instant,
};

#[test]
fn backoff_stays_in_bounds_and_grows() {
    for attempt in 0..40 {
        let d = backoff(attempt);
        assert!(
            (RECONNECT_MIN..=RECONNECT_MAX).contains(&d),
            "{attempt}: {d:?}"
        );
    }
    assert!(backoff(1) <= RECONNECT_MIN * 2);
}

#[test]
fn subjects() {
    assert_eq!(subject("a.b"), "ringwire.ch.a.b");
    assert_eq!(channel_of("ringwire.ch.a.b"), Some("a.b"));
    assert_eq!(channel_of("other.a"), None);
}

struct FakeOutbox(Receiver<Message>);

impl Outbox for FakeOutbox {
    fn recv(&self) -> impl Future<Output = Option<Message>> {
        self.0.recv()
    }
}

struct FakeCores {
    interest: Receiver<Interest>,
    room: Receiver<()>,
    cores: Vec<Sender<Message>>,
}

impl Cores for FakeCores {
    fn interest(&self) -> impl Future<Output = Option<Interest>> {
        self.interest.recv()
    }
    fn try_deliver(&self, core: usize, msg: Message) -> Result<(), Message> {
        self.cores[core].send(msg).map_err(|e| e.into_inner())
    }
    fn room(&self) -> impl Future<Output = Option<()>> {
        self.room.recv()
    }
}

/// One node's side of a bridge: what the test publishes, announces and receives.
struct Node {
    publish: Sender<Message>,
    interest: Sender<Interest>,
    room: Sender<()>,
    delivered: Vec<Receiver<Message>>,
    refusing: Arc<AtomicBool>,
    bridge: Bridge,
}

fn node(name: &str, urls: Vec<String>, buffer_bytes: usize) -> Node {
    node_with_queues(name, urls, buffer_bytes, 4096)
}

/// A node whose cores' queues hold `queue` messages each.
fn node_with_queues(name: &str, urls: Vec<String>, buffer_bytes: usize, queue: usize) -> Node {
    let (publish, outbox) = channel::bounded(1024);
    let (interest, interest_rx) = channel::channel();
    let (room, room_rx) = channel::channel();
    let (senders, delivered): (Vec<_>, Vec<_>) = (0..2).map(|_| channel::bounded(queue)).unzip();
    let refusing = Arc::new(AtomicBool::new(false));
    let port = Port {
        js: None,
        outbox: FakeOutbox(outbox),
        cores: FakeCores {
            interest: interest_rx,
            room: room_rx,
            cores: senders,
        },
        refusing: refusing.clone(),
        refused: Arc::new(AtomicU64::new(0)),
    };
    let config = BridgeConfig {
        urls,
        buffer_bytes,
        node_name: name.into(),
        cpu: None,
    };
    Node {
        publish,
        interest,
        room,
        delivered,
        refusing,
        bridge: Bridge::spawn(config, port).unwrap(),
    }
}

fn msg(channel: &str, n: u32) -> Message {
    Message {
        channel: Arc::from(channel),
        payload: Bytes::from(n.to_be_bytes().to_vec()),
        traceparent: None,
    }
}

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Receives `n` messages from `rx`, returning their numbers.
fn take(rx: &Receiver<Message>, n: usize) -> Vec<u32> {
    let mut got = Vec::new();
    until(&format!("{n} messages"), || {
        while let Ok(m) = rx.try_recv() {
            got.push(u32::from_be_bytes(m.payload[..4].try_into().unwrap()));
        }
        got.len() >= n
    });
    got
}

/// A single `nats-server` on a fixed port, killed on drop.
struct Server(Child);

impl Server {
    fn start(port: u16) -> Option<Server> {
        let binary = if Path::new("/usr/sbin/nats-server").exists() {
            "/usr/sbin/nats-server"
        } else {
            "nats-server"
        };
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(c) => {
                until("nats-server to listen", || {
                    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                });
                Some(Server(c))
            }
            Err(e) if std::env::var_os("RINGWIRE_REQUIRE_NATS").is_some_and(|v| v == "1") => {
                panic!("RINGWIRE_REQUIRE_NATS=1 but nats-server cannot run: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED: nats-server cannot run ({e}); apt-get install nats-server");
                None
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn on(channel: &str, core: usize) -> Interest {
    Interest {
        channel: Arc::from(channel),
        core,
        on: true,
    }
}

#[test]
fn crosses_in_order_and_never_echoes() {
    let port = free_port();
    let Some(_server) = Server::start(port) else {
        return;
    };
    let url = vec![format!("nats://127.0.0.1:{port}")];
    let (a, b) = (node("a", url.clone(), 1 << 20), node("b", url, 1 << 20));
    // Both nodes subscribe; only b's cores may see a's messages.
    for core in 0..2 {
        b.interest.send(on("t.x", core)).unwrap();
    }
    a.interest.send(on("t.x", 0)).unwrap();
    until("both connected", || {
        a.bridge.stats().snapshot().connected && b.bridge.stats().snapshot().connected
    });
    // The subscription is made asynchronously: publish probes until one arrives.
    let mut n = 0;
    until("the first message across", || {
        a.publish.send(msg("t.x", n)).unwrap();
        n += 1;
        std::thread::sleep(Duration::from_millis(50));
        !b.delivered[0].is_empty() && !b.delivered[1].is_empty()
    });
    let total = n + 2000;
    for i in n..total {
        a.publish.send(msg("t.x", i)).unwrap();
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    for core in 0..2 {
        // Every message from the first that crossed on, once, in order.
        let mut got = Vec::new();
        until("the last message", || {
            while let Ok(m) = b.delivered[core].try_recv() {
                got.push(u32::from_be_bytes(m.payload[..4].try_into().unwrap()));
            }
            got.last() == Some(&(total - 1))
        });
        let want: Vec<u32> = (got[0]..total).collect();
        assert_eq!(got, want, "core {core} of b");
    }
    let snap = a.bridge.stats().snapshot();
    assert_eq!(snap.published, total as u64);
    std::thread::sleep(Duration::from_millis(300));
    assert!(a.delivered[0].is_empty(), "a never gets its own messages");
    assert_eq!(b.bridge.stats().snapshot().dropped, [0; 4]);
}

#[test]
fn buffers_while_down_refuses_when_full_then_recovers() {
    let port = free_port();
    let url = vec![format!("nats://127.0.0.1:{port}")];
    // Nothing listens yet: a buffers, then refuses.
    let a = node("a", url.clone(), 1000);
    let mut sent = 0u32;
    until("refusal", || {
        if !a.refusing.load(Ordering::Acquire) {
            a.publish.send(msg("t.y", sent)).unwrap();
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
        a.refusing.load(Ordering::Acquire)
    });
    let snap = a.bridge.stats().snapshot();
    assert!(
        !snap.connected && snap.refusing && snap.buffered_bytes >= 996,
        "{snap:?}"
    );
    let Some(_server) = Server::start(port) else {
        return;
    };
    let b = node("b", url, 1 << 20);
    b.interest.send(on("t.y", 1)).unwrap();
    until("b connected", || b.bridge.stats().snapshot().connected);
    // b's subscription must be in place before a reconnects; a NATS round trip on b's
    // connection after the SUB would prove it, a pause is enough for this unit test.
    std::thread::sleep(Duration::from_millis(500));
    let got = take(&b.delivered[1], sent as usize);
    assert_eq!(got, (0..sent).collect::<Vec<_>>());
    until("refusal cleared", || !a.refusing.load(Ordering::Acquire));
    let snap = a.bridge.stats().snapshot();
    assert_eq!((snap.buffered_messages, snap.buffered_bytes), (0, 0));
    assert!(snap.connected && !snap.refusing);
}

#[test]
fn a_full_core_queue_gets_its_messages_later_in_order() {
    let port = free_port();
    let Some(_server) = Server::start(port) else {
        return;
    };
    let url = vec![format!("nats://127.0.0.1:{port}")];
    let a = node("a", url.clone(), 1 << 20);
    // b's core 0 takes 4 messages at a time; core 1 is not interested.
    let b = node_with_queues("b", url, 1 << 20, 4);
    b.interest.send(on("t.z", 0)).unwrap();
    until("both connected", || {
        a.bridge.stats().snapshot().connected && b.bridge.stats().snapshot().connected
    });
    let mut n = 0;
    until("the first message across", || {
        a.publish.send(msg("t.z", n)).unwrap();
        n += 1;
        std::thread::sleep(Duration::from_millis(50));
        !b.delivered[0].is_empty()
    });
    // A burst fills the queue and the bridge's FIFO for it; then one more message per read,
    // so new messages keep arriving while older ones are held.
    let total = n + 300;
    let mut next = n;
    while next < n + 100 {
        a.publish.send(msg("t.z", next)).unwrap();
        next += 1;
    }
    // Read slowly, and tell the bridge there is room only once the queue is empty (a late
    // notice): messages arriving meanwhile must still queue behind the held ones.
    let mut got = Vec::new();
    until("the last message", || {
        if let Ok(m) = b.delivered[0].try_recv() {
            got.push(u32::from_be_bytes(m.payload[..4].try_into().unwrap()));
            if next < total {
                a.publish.send(msg("t.z", next)).unwrap();
                next += 1;
            }
        } else {
            b.room.send(()).unwrap();
        }
        got.last() == Some(&(total - 1))
    });
    let want: Vec<u32> = (got[0]..total).collect();
    assert_eq!(got, want, "held messages keep their order");
    assert!(b.delivered[1].is_empty());
    assert_eq!(b.bridge.stats().snapshot().dropped, [0; 4]);
}

#[test]
fn close_publishes_what_the_cores_queued() {
    let port = free_port();
    let Some(_server) = Server::start(port) else {
        return;
    };
    let url = vec![format!("nats://127.0.0.1:{port}")];
    let (a, b) = (node("a", url.clone(), 1 << 20), node("b", url, 1 << 20));
    b.interest.send(on("t.c", 0)).unwrap();
    until("both connected", || {
        a.bridge.stats().snapshot().connected && b.bridge.stats().snapshot().connected
    });
    let mut n = 0;
    until("the first message across", || {
        a.publish.send(msg("t.c", n)).unwrap();
        n += 1;
        std::thread::sleep(Duration::from_millis(50));
        !b.delivered[0].is_empty()
    });
    // Queued and closed at once: the bridge sends all of it before it ends.
    let total = n + 1000;
    for i in n..total {
        a.publish.send(msg("t.c", i)).unwrap();
    }
    let Node { bridge, .. } = a;
    assert!(bridge.close(Duration::from_secs(60)), "the bridge ended");
    let mut got = Vec::new();
    until("the last message", || {
        while let Ok(m) = b.delivered[0].try_recv() {
            got.push(u32::from_be_bytes(m.payload[..4].try_into().unwrap()));
        }
        got.last() == Some(&(total - 1))
    });
    assert_eq!(got, (got[0]..total).collect::<Vec<_>>());
    // A bridge with a live subscription ends cleanly too (it unsubscribes on its way out).
    let Node { bridge, .. } = b;
    assert!(bridge.close(Duration::from_secs(60)), "b's bridge ended");
}
