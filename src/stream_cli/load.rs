//! One load-generator thread: its share of the connections and streams, on its own runtime.
//!
//! Every message carries, in its first 8 bytes, the time it was meant to be sent (nanoseconds
//! after `Plan::base`, a clock all threads share), so latency is measured from the schedule
//! rather than from a send that flow control may have held back, and a pub/sub subscriber on
//! another thread can measure publish-to-deliver time.

use super::{
    BenchArgs, BenchService, channels_load,
    kv_load::{KvOp, kv_closed, preload},
    tasks::{echo_closed, echo_open, publish, subscriber},
};
use hdrhistogram::Histogram;
use ringwire_net::stream::client::{Client, ErrorCode, Options, error_code};
use ringwire_reactor::{JoinHandle, spawn_local, time};
use std::{
    cell::{Cell, RefCell},
    net::SocketAddr,
    rc::Rc,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed},
    },
    task::Waker,
    time::{Duration, Instant},
};

const NOT_YET: u64 = u64::MAX;

/// A counter on its own cache line: each thread bumps its own, the main thread reads all.
#[repr(align(128))]
#[derive(Default)]
pub(super) struct Padded(pub AtomicU64);

/// What every thread shares.
pub(super) struct Plan {
    pub args: BenchArgs,
    pub addr: SocketAddr,
    /// The client options every connection uses (one TLS configuration for all, so sessions
    /// resume).
    pub options: Options,
    pub base: Instant,
    /// When the load starts, in nanoseconds after `base`; set once every thread is ready.
    go: AtomicU64,
    pub ready: AtomicUsize,
    pub done: AtomicUsize,
    pub abort: AtomicBool,
    /// Messages received per thread, all phases: the live progress.
    pub delivered: Vec<Padded>,
    /// Pub/sub: messages each subscriber has received, for the closed-loop publisher.
    pub subscribed: Vec<Padded>,
}

impl Plan {
    pub fn new(args: BenchArgs, addr: SocketAddr, options: Options) -> Plan {
        let delivered = (0..args.threads).map(|_| Padded::default()).collect();
        let subscribers = match args.service {
            BenchService::Pubsub => args.subscribers,
            BenchService::Echo | BenchService::Kv | BenchService::Channels => 0,
        };
        let subscribed = (0..subscribers).map(|_| Padded::default()).collect();
        Plan {
            args,
            addr,
            options,
            base: Instant::now(),
            go: AtomicU64::new(NOT_YET),
            ready: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            abort: AtomicBool::new(false),
            delivered,
            subscribed,
        }
    }

    /// Starts the load on every thread; returns when measuring begins.
    pub fn start(&self) -> Instant {
        let go = Instant::now();
        self.go.store(nanos(self.base, go), Relaxed);
        go + self.args.warmup
    }

    fn timeline(&self, go: u64) -> Timeline {
        let go = self.base + Duration::from_nanos(go);
        let measure = go + self.args.warmup;
        Timeline {
            go,
            measure,
            end: measure + self.args.duration,
        }
    }
}

pub(super) fn nanos(base: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(base).as_nanos() as u64
}

#[derive(Clone, Copy)]
pub(super) struct Timeline {
    pub go: Instant,
    pub measure: Instant,
    pub end: Instant,
}

/// One thread's results.
pub(super) struct Recorded {
    /// Latency in nanoseconds of every message sent and delivered inside the window.
    pub hist: Histogram<u64>,
    /// Messages delivered inside the window (echoes received, or pub/sub deliveries).
    pub messages: u64,
    /// Pub/sub: messages published inside the window.
    pub published: u64,
    pub errors: Vec<String>,
    /// Subscriptions the server dropped with SLOW_CONSUMER.
    pub slow: u64,
}

impl Recorded {
    pub fn new() -> Recorded {
        Recorded {
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds"),
            messages: 0,
            published: 0,
            errors: Vec::new(),
            slow: 0,
        }
    }

    pub fn error(&mut self, what: &str, e: &std::io::Error) {
        if error_code(e) == Some(ErrorCode::SLOW_CONSUMER) {
            self.slow += 1;
        }
        if self.errors.len() < 10 {
            self.errors.push(format!("{what}: {e}"));
        }
    }
}

/// Everything one thread's tasks share.
pub(super) struct Ctx {
    pub plan: Arc<Plan>,
    pub index: usize,
    pub t: Timeline,
    pub rec: RefCell<Recorded>,
    /// A closed-loop publisher waiting for subscribers on this thread to catch up.
    pub publisher: Cell<Option<Waker>>,
}

impl Ctx {
    pub fn delivered(&self, sent_nanos: u64, now: Instant) {
        self.plan.delivered[self.index].0.fetch_add(1, Relaxed);
        let sent = self.plan.base + Duration::from_nanos(sent_nanos);
        if sent >= self.t.measure && now <= self.t.end {
            let mut rec = self.rec.borrow_mut();
            rec.messages += 1;
            rec.hist.saturating_record(nanos(sent, now).max(1));
        }
    }

    /// A message with no send time to measure from (a replay): counted, not timed.
    pub fn counted(&self, now: Instant) {
        self.plan.delivered[self.index].0.fetch_add(1, Relaxed);
        if now >= self.t.measure && now <= self.t.end {
            self.rec.borrow_mut().messages += 1;
        }
    }
}

/// A thread's whole run: connect, wait for the others, load, report.
pub(super) async fn thread_main(plan: Arc<Plan>, index: usize) -> Result<Recorded, String> {
    let result = run(&plan, index).await;
    if result.is_err() {
        plan.abort.store(true, Relaxed);
    }
    plan.done.fetch_add(1, Relaxed);
    result
}

async fn run(plan: &Arc<Plan>, index: usize) -> Result<Recorded, String> {
    let args = &plan.args;
    let mine = (0..args.connections).filter(|c| c % args.threads == index);
    let mut clients = Vec::new();
    let mut streams = Vec::new();
    // Pub/sub: subscriber `g` lives on connection `g % connections`.
    let mut globals = Vec::new();
    for c in mine {
        let client = connect(plan).await?;
        let wanted = match args.service {
            BenchService::Echo | BenchService::Kv | BenchService::Channels => args.streams,
            BenchService::Pubsub => (c..args.subscribers).step_by(args.connections).count(),
        };
        let limit = client.peer_settings().max_concurrent_streams as usize;
        if wanted > limit {
            return Err(format!(
                "{wanted} streams on one connection, but the server allows {limit}: use more \
                 --connections"
            ));
        }
        for _ in 0..wanted {
            let stream = client
                .open(service_name(args.service))
                .await
                .map_err(|e| e.to_string())?;
            if args.service == BenchService::Pubsub {
                let line = format!("SUB {}\n", args.channel);
                stream
                    .send(line.as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            streams.push(stream);
        }
        globals.extend((c..args.subscribers).step_by(args.connections));
        // PONG comes back after the server has read every frame before it: the SUBs are in.
        client.ping().await.map_err(|e| e.to_string())?;
        clients.push(client);
    }
    if args.service == BenchService::Kv && args.kv_op == KvOp::Get && index == 0 {
        if let Some(client) = clients.first() {
            preload(client, args.keys, args.size)
                .await
                .map_err(|e| format!("preloading {} keys: {e}", args.keys))?;
        }
    }
    if let (BenchService::Channels, Some(channel), Some(client)) =
        (args.service, &args.durable_channel, clients.first())
    {
        if index == 0 {
            channels_load::check_durable(client, channel)
                .await
                .map_err(|e| format!("--durable-channel {channel}: {e}"))?;
        }
    }
    let publisher = if args.service == BenchService::Pubsub && index == 0 {
        let client = connect(plan).await?;
        let stream = client.open("pubsub").await.map_err(|e| e.to_string())?;
        let line = format!("PUB {}\n", args.channel);
        stream
            .send(line.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        clients.push(client);
        Some(stream)
    } else {
        None
    };

    plan.ready.fetch_add(1, Relaxed);
    let go = loop {
        if plan.abort.load(Relaxed) {
            return Err("stopped: another thread failed".into());
        }
        match plan.go.load(Relaxed) {
            NOT_YET => time::sleep(Duration::from_millis(1)).await,
            go => break go,
        }
    };
    let ctx = Rc::new(Ctx {
        plan: plan.clone(),
        index,
        t: plan.timeline(go),
        rec: RefCell::new(Recorded::new()),
        publisher: Cell::new(None),
    });
    let total = args.connections * args.streams;
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    for (i, stream) in streams.into_iter().enumerate() {
        let stream = Rc::new(stream);
        let ctx = ctx.clone();
        tasks.push(match (args.service, args.rate) {
            (BenchService::Echo, 0) => spawn_local(echo_closed(stream, ctx)),
            (BenchService::Echo, rate) => {
                // Streams are spread evenly over one interval so their sends do not bunch.
                let interval = Duration::from_secs_f64(total as f64 / rate as f64);
                let offset = interval.mul_f64((i * args.threads + index) as f64 / total as f64);
                spawn_local(echo_open(stream, ctx, interval, offset))
            }
            (BenchService::Pubsub, _) => spawn_local(subscriber(stream, ctx, globals[i])),
            (BenchService::Channels, _) => {
                let channel = args.durable_channel.clone().unwrap_or(args.channel.clone());
                if args.replay {
                    spawn_local(channels_load::replay(stream, ctx, channel))
                } else {
                    spawn_local(channels_load::publish_closed(
                        stream, ctx, channel, args.depth,
                    ))
                }
            }
            (BenchService::Kv, _) => {
                let seed = (index * 7919 + i * 104_729 + 1) as u64;
                spawn_local(kv_closed(
                    stream, ctx, args.kv_op, args.keys, args.depth, seed,
                ))
            }
        });
    }
    if let Some(stream) = publisher {
        tasks.push(spawn_local(publish(stream, ctx.clone())));
    }
    for task in tasks {
        if task.await.is_err() {
            ctx.rec
                .borrow_mut()
                .errors
                .push("a load task panicked".into());
        }
    }
    for client in clients {
        let _ = client.close().await;
    }
    let ctx = Rc::try_unwrap(ctx).map_err(|_| "load tasks still running".to_string())?;
    Ok(ctx.rec.into_inner())
}

fn service_name(service: BenchService) -> &'static str {
    match service {
        BenchService::Echo => "echo",
        BenchService::Pubsub => "pubsub",
        BenchService::Kv => "kv",
        BenchService::Channels => "channels",
    }
}

async fn connect(plan: &Plan) -> Result<Client, String> {
    Client::connect_with(plan.addr, &plan.options)
        .await
        .map_err(|e| super::client::explain(&e))
}
