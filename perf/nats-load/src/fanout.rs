//! `fanout`: one publisher, N subscriber connections, closed loop (the publisher at most
//! `--window` messages ahead of the slowest subscriber), publish-to-deliver latency.
//!
//! Each payload is `seq:u64 LE`, `stamp:u64 LE` (nanoseconds after the run's base instant),
//! then filler. Flow control follows the highest seq each subscriber has seen, not a count, so
//! a message lost on the way (at-most-once NATS; the subscription of a node that is not yet
//! wired into the cluster) cannot stall the loop; a gap in a subscriber's seqs is counted as
//! `lost`. Before measuring, the publisher sends a probe every few milliseconds until every
//! subscriber has received something: subscriptions that cross NATS take a moment to exist.

use crate::{Common, fail, natsraw, report, rwstream::Conn, tls::TlsArgs};
use async_nats::Subject;
use bytes::Bytes;
use clap::Args;
use std::{
    cell::{Cell, RefCell},
    net::{SocketAddr, ToSocketAddrs},
    rc::Rc,
    time::{Duration, Instant},
};
use tokio::{sync::Notify, task::spawn_local};

#[derive(Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    common: Common,
    /// Where the publisher publishes: nats://HOST:PORT, or ringwire://HOST:PORT (a ringwire
    /// node's stream port, the `pubsub` service).
    #[arg(long = "pub", default_value = "nats://127.0.0.1:4222")]
    publish: String,
    /// Where the subscribers subscribe, as --pub [default: --pub].
    #[arg(long = "sub")]
    subscribe: Option<String>,
    /// Subscriber connections, one subscription each.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Most messages the publisher may be ahead of the slowest subscriber.
    #[arg(long, default_value_t = 64)]
    window: u64,
    /// The ringwire channel [default: bench-<pid>]; on NATS the subject ringwire.ch.<channel>,
    /// the one a ringwire cluster bridge uses.
    #[arg(long)]
    channel: Option<String>,
    /// Seconds to wait for every subscriber's first message before giving up.
    #[arg(long, default_value_t = 15.0)]
    start_timeout: f64,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Clone)]
enum Target {
    /// The URL (for async-nats) and the address (for the bare subscribers).
    Nats(String, SocketAddr),
    /// The address and the host (the name a TLS certificate is checked against).
    Ringwire(SocketAddr, String),
}

fn target(url: &str, what: &str) -> Target {
    let (nats, host_port) = match (url.strip_prefix("nats://"), url.strip_prefix("ringwire://")) {
        (Some(a), _) => (true, a),
        (_, Some(a)) => (false, a),
        _ => fail(format_args!(
            "{what} {url}: nats://HOST:PORT or ringwire://HOST:PORT"
        )),
    };
    let addr = match host_port.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        Ok(None) => fail(format_args!("{what} {url}: no address")),
        Err(e) => fail(format_args!("{what} {url}: {e}")),
    };
    if nats {
        Target::Nats(url.to_string(), addr)
    } else {
        Target::Ringwire(addr, host_of(host_port).to_string())
    }
}

/// The host part of `HOST:PORT` (`[::1]:7070` gives `::1`).
fn host_of(host_port: &str) -> &str {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

struct Shared {
    base: Instant,
    /// (measure, end), set when every subscriber has heard the publisher.
    window_of_time: Cell<Option<(Instant, Instant)>>,
    window: u64,
    /// The highest seq each subscriber has received.
    progress: Vec<Cell<u64>>,
    publisher: Notify,
    hist: RefCell<hdrhistogram::Histogram<u64>>,
    messages: Cell<u64>,
    published: Cell<u64>,
    lost: Cell<u64>,
}

impl Shared {
    fn slowest(&self) -> u64 {
        self.progress.iter().map(Cell::get).min().unwrap_or(0)
    }

    fn delivered(&self, index: usize, payload: &[u8], now: Instant) {
        if payload.len() < 16 {
            fail(format_args!(
                "subscriber {index}: a {}-byte message is not ours",
                payload.len()
            ));
        }
        let seq = u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"));
        let stamp = u64::from_le_bytes(payload[8..16].try_into().expect("8 bytes"));
        let p = &self.progress[index];
        let last = p.get();
        if seq > last {
            if last > 0 && seq > last + 1 {
                self.lost.set(self.lost.get() + seq - last - 1);
            }
            p.set(seq);
        }
        if let Some((measure, end)) = self.window_of_time.get() {
            let sent = self.base + Duration::from_nanos(stamp);
            if sent >= measure && now <= end {
                self.messages.set(self.messages.get() + 1);
                let ns = now.saturating_duration_since(sent).as_nanos() as u64;
                self.hist.borrow_mut().saturating_record(ns.max(1));
            }
        }
    }
}

pub async fn run(a: FanoutArgs) -> report::Summary {
    if let Err(e) = a.common.check(16) {
        fail(e);
    }
    if a.subscribers == 0 || a.window == 0 {
        fail("--subscribers and --window: at least 1");
    }
    let pub_target = target(&a.publish, "--pub");
    let sub_url = a.subscribe.clone().unwrap_or_else(|| a.publish.clone());
    let sub_target = target(&sub_url, "--sub");
    let tls = a.tls.load().unwrap_or_else(|e| fail(e));
    let rw = |t: &Target| matches!(t, Target::Ringwire(..));
    if tls.is_some() && !rw(&pub_target) && !rw(&sub_target) {
        fail("--tls: only ringwire:// targets speak TLS here (nats:// stays plain)");
    }
    let channel = a
        .channel
        .clone()
        .unwrap_or_else(|| format!("bench-{}", std::process::id()));
    let subject = format!("ringwire.ch.{channel}");
    let shared = Rc::new(Shared {
        base: Instant::now(),
        window_of_time: Cell::new(None),
        window: a.window,
        progress: (0..a.subscribers).map(|_| Cell::new(0)).collect(),
        publisher: Notify::new(),
        hist: RefCell::new(report::histogram()),
        messages: Cell::new(0),
        published: Cell::new(0),
        lost: Cell::new(0),
    });
    for i in 0..a.subscribers {
        match &sub_target {
            Target::Nats(_, addr) => {
                let sub = natsraw::Sub::subscribe(*addr, &subject)
                    .await
                    .unwrap_or_else(|e| fail(format_args!("subscriber {i}: {addr}: {e}")));
                spawn_local(nats_subscriber(i, sub, shared.clone()));
            }
            Target::Ringwire(addr, host) => {
                let cmd = format!("SUB {channel}\n");
                let conn = Conn::open(*addr, host, tls.as_ref(), "pubsub", cmd.as_bytes())
                    .await
                    .unwrap_or_else(|e| fail(format_args!("subscriber {i}: {addr}: {e}")));
                spawn_local(ringwire_subscriber(i, conn, shared.clone()));
            }
        }
    }
    let mut publisher = match &pub_target {
        Target::Nats(url, _) => Publisher::Nats(
            async_nats::connect(url)
                .await
                .unwrap_or_else(|e| fail(format_args!("publisher: connect {url}: {e}"))),
            Subject::from(subject.as_str()),
        ),
        Target::Ringwire(addr, host) => Publisher::Ringwire(
            Conn::open(
                *addr,
                host,
                tls.as_ref(),
                "pubsub",
                format!("PUB {channel}\n").as_bytes(),
            )
            .await
            .unwrap_or_else(|e| fail(format_args!("publisher: {addr}: {e}"))),
        ),
    };
    let setup = format!(
        "1 publisher on {} -> {} subscribers on {sub_url}, channel {channel} (NATS subject \
         {subject}), closed loop (window {}){}",
        a.publish,
        a.subscribers,
        a.window,
        if tls.is_some() {
            ", ringwire:// over TLS"
        } else {
            ""
        }
    );
    eprintln!("nats-load fanout: {setup}");
    let cpu = publisher.run(&shared, a.common.size, &a).await;
    let server_cpu_s = cpu.await.unwrap_or_else(|e| fail(e));
    let hist = shared.hist.borrow();
    report::Summary {
        json_mode: a.common.json,
        mode: "fanout",
        setup,
        size: a.common.size,
        duration_s: a.common.duration,
        messages: shared.messages.get(),
        published: shared.published.get(),
        lost: shared.lost.get(),
        errors: Vec::new(),
        latency: report::Summary::latency_of(&hist),
        server_cpu_s,
    }
}

async fn nats_subscriber(index: usize, mut sub: natsraw::Sub, s: Rc<Shared>) {
    loop {
        let mut now = None;
        match sub
            .read(
                |payload| {
                    let t = *now.get_or_insert_with(Instant::now);
                    s.delivered(index, payload, t);
                },
                None,
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => fail(format_args!(
                "subscriber {index}: the server closed the connection"
            )),
            Err(e) => fail(format_args!("subscriber {index}: {e}")),
        }
        if let Err(e) = sub.flush().await {
            fail(format_args!("subscriber {index}: {e}"));
        }
        s.publisher.notify_one();
    }
}

async fn ringwire_subscriber(index: usize, mut conn: Conn, s: Rc<Shared>) {
    loop {
        let mut now = None;
        match conn
            .read(|payload| {
                let t = *now.get_or_insert_with(Instant::now);
                s.delivered(index, payload, t);
            })
            .await
        {
            Ok(true) => {}
            Ok(false) => fail(format_args!(
                "subscriber {index}: the server closed the connection"
            )),
            Err(e) => fail(format_args!("subscriber {index}: {e}")),
        }
        if let Err(e) = conn.flush().await {
            fail(format_args!("subscriber {index}: {e}"));
        }
        s.publisher.notify_one();
    }
}

enum Publisher {
    Nats(async_nats::Client, Subject),
    Ringwire(Conn),
}

impl Publisher {
    /// Publishes `n` messages stamped `stamp`, seqs `first..first + n`; with ringwire, at most
    /// what the windows allow now. Returns how many went.
    async fn publish(&mut self, first: u64, n: u64, stamp: u64, size: usize) -> u64 {
        let fill = |seq: u64, p: &mut [u8]| {
            p[..8].copy_from_slice(&seq.to_le_bytes());
            p[8..16].copy_from_slice(&stamp.to_le_bytes());
        };
        match self {
            Publisher::Nats(client, subject) => {
                for i in 0..n {
                    let mut p = vec![b'x'; size];
                    fill(first + i, &mut p);
                    if let Err(e) = client.publish(subject.clone(), Bytes::from(p)).await {
                        fail(format_args!("publisher: {e}"));
                    }
                }
                n
            }
            Publisher::Ringwire(conn) => {
                let n = n.min(conn.room(size));
                if n > 0 {
                    let r = conn.send(n, size, |i, p| fill(first + i, p)).await;
                    if let Err(e) = r {
                        fail(format_args!("publisher: {e}"));
                    }
                }
                n
            }
        }
    }

    /// Waits until a subscriber made progress, the server sent something (ringwire: window
    /// updates), or `until`.
    async fn wait(&mut self, s: &Shared, until: Instant) {
        let until = tokio::time::sleep_until(until.into());
        match self {
            Publisher::Nats(..) => {
                tokio::select! {
                    _ = s.publisher.notified() => {}
                    _ = until => {}
                }
            }
            Publisher::Ringwire(conn) => {
                let r = tokio::select! {
                    _ = s.publisher.notified() => Ok(true),
                    _ = until => Ok(true),
                    r = conn.read(|_| {}) => r,
                };
                match r {
                    Ok(true) => {}
                    Ok(false) => fail("publisher: the server closed the connection"),
                    Err(e) => fail(format_args!("publisher: {e}")),
                }
                if let Err(e) = conn.flush().await {
                    fail(format_args!("publisher: {e}"));
                }
            }
        }
    }

    /// The closed loop until the end of the measured window; returns the task sampling the
    /// servers' CPU time over that window.
    async fn run(
        &mut self,
        s: &Shared,
        size: usize,
        a: &FanoutArgs,
    ) -> tokio::task::JoinHandle<Option<f64>> {
        let mut sent = 0u64;
        let stamp = || (Instant::now() - s.base).as_nanos() as u64;
        // Probes until every subscriber has heard us.
        let give_up = Instant::now() + Duration::from_secs_f64(a.start_timeout);
        while s.progress.iter().any(|p| p.get() == 0) {
            if Instant::now() >= give_up {
                let deaf = s.progress.iter().filter(|p| p.get() == 0).count();
                fail(format_args!(
                    "{deaf} of {} subscribers received nothing in {}s (is the path from \
                     publisher to subscribers up? a cluster bridge connected?)",
                    s.progress.len(),
                    a.start_timeout
                ));
            }
            sent += self.publish(sent + 1, 1, stamp(), size).await;
            self.wait(s, Instant::now() + Duration::from_millis(5))
                .await;
        }
        let measure = Instant::now() + Duration::from_secs_f64(a.common.warmup);
        let end = measure + Duration::from_secs_f64(a.common.duration);
        s.window_of_time.set(Some((measure, end)));
        let cpu = spawn_local(report::server_cpu(
            a.common.server_pids.clone(),
            measure,
            end,
        ));
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            let room = s.window.saturating_sub(sent.saturating_sub(s.slowest()));
            let went = if room > 0 {
                self.publish(sent + 1, room, (now - s.base).as_nanos() as u64, size)
                    .await
            } else {
                0
            };
            sent += went;
            if now >= measure {
                s.published.set(s.published.get() + went);
            }
            if went == 0 {
                self.wait(s, end).await;
            }
        }
        cpu
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_of_strips_the_port_and_brackets() {
        assert_eq!(host_of("127.0.0.1:7070"), "127.0.0.1");
        assert_eq!(host_of("localhost:7070"), "localhost");
        assert_eq!(host_of("[::1]:7070"), "::1");
    }
}
