//! Redis pub/sub fan-out, measured the way `ringwire bench-stream --service pubsub` measures
//! ringwire: one publisher, N subscriber connections on one channel, a closed loop that keeps
//! the publisher at most `--window` messages ahead of the slowest subscriber, and
//! publish-to-deliver latency from a timestamp in each payload.
//!
//! One thread (the caller pins it with taskset), so the load generator's cost is one core.
//! With `--tls --tls-ca FILE` every connection speaks TLS to Redis's `--tls-port` ([`tls`]).

mod load;
mod report;
mod resp;
mod tls;

use clap::Parser;
use load::{Publisher, Shared, Subscriber, Target, Timeline, fail};
use std::{
    net::{SocketAddr, ToSocketAddrs},
    rc::Rc,
    time::{Duration, Instant},
};
use tokio::task::{LocalSet, spawn_local};

#[derive(Parser)]
#[command(about = "Redis pub/sub fan-out load: one publisher, N subscribers, closed loop")]
pub struct Args {
    /// Redis address, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:6379")]
    addr: String,
    /// Subscriber connections, each subscribed to the channel.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Payload bytes per message; the first 8 are the send time.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Measured seconds, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Channel name [default: bench-<pid>].
    #[arg(long)]
    channel: Option<String>,
    /// Most messages the publisher may be ahead of the slowest subscriber.
    #[arg(long, default_value_t = 64)]
    window: u64,
    /// Redis server process to charge CPU time to over the measured window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print one JSON line instead of the text summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tls: tls::TlsArgs,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = check(&args) {
        fail(e);
    }
    let addr = resolve(&args.addr);
    let target = Target {
        addr,
        host: host_of(&args.addr).to_string(),
        tls: args.tls.load().unwrap_or_else(|e| fail(e)),
    };
    let channel = args
        .channel
        .clone()
        .unwrap_or_else(|| format!("bench-{}", std::process::id()));
    let ticks = args.server_pid.map(|pid| {
        let ticks = report::clock_ticks();
        // A wrong pid should fail now, not after the whole run.
        if let Err(e) = report::cpu_seconds(pid, ticks) {
            fail(format_args!("--server-pid: {e}"));
        }
        ticks
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .unwrap_or_else(|e| fail(format_args!("tokio runtime: {e}")));
    let base = Instant::now();
    let summary = LocalSet::new().block_on(&rt, async {
        let mut subs = Vec::with_capacity(args.subscribers);
        for i in 0..args.subscribers {
            subs.push(Subscriber::connect(&target, &channel, i).await);
        }
        for s in &mut subs {
            s.confirmed().await;
        }
        let publisher = Publisher::connect(&target, &channel, args.size, args.subscribers).await;
        eprintln!(
            "redis-fanout: 1 publisher -> {} subscribers on {addr}{}, channel {channel}, \
             {}-byte messages, closed loop (window {}), {}s after {}s warmup",
            args.subscribers,
            if target.tls.is_some() {
                " over TLS"
            } else {
                ""
            },
            args.size,
            args.window,
            args.duration,
            args.warmup
        );

        // Everyone is subscribed: the clock starts now.
        let measure = Instant::now() + Duration::from_secs_f64(args.warmup);
        let t = Timeline {
            base,
            measure,
            end: measure + Duration::from_secs_f64(args.duration),
        };
        let shared = Rc::new(Shared::new(t, &channel, args.window, args.subscribers));
        let cpu = spawn_local(server_cpu(args.server_pid.zip(ticks), t));
        let mut tasks: Vec<_> = subs
            .into_iter()
            .map(|s| spawn_local(s.run(shared.clone())))
            .collect();
        tasks.push(spawn_local(publisher.run(shared.clone())));
        for task in tasks {
            if let Err(e) = task.await {
                fail(format_args!("a load task failed: {e}"));
            }
        }
        let cpu = cpu.await.unwrap_or_else(|e| fail(e));
        report::Summary::new(&shared, &args, cpu)
    });
    if args.json {
        println!("{}", summary.json());
    } else {
        print!("{}", summary.text());
    }
    if summary.messages == 0 {
        fail("no message was delivered in the measured window");
    }
}

fn check(a: &Args) -> Result<(), String> {
    if a.subscribers == 0 {
        return Err("--subscribers: at least 1".into());
    }
    if a.size < 8 {
        return Err("--size: at least 8 (the timestamp)".into());
    }
    if a.window == 0 {
        return Err("--window: at least 1".into());
    }
    if !(a.duration > 0.0 && a.duration.is_finite()) {
        return Err("--duration: more than 0 seconds".into());
    }
    if !(a.warmup >= 0.0 && a.warmup.is_finite()) {
        return Err("--warmup: 0 seconds or more".into());
    }
    if a.channel.as_ref().is_some_and(|c| c.is_empty()) {
        return Err("--channel: empty".into());
    }
    Ok(())
}

/// Resolves once, up front: tokio would resolve names on a helper thread.
fn resolve(addr: &str) -> SocketAddr {
    match addr.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        Ok(None) => fail(format_args!("--addr {addr}: no address")),
        Err(e) => fail(format_args!("--addr {addr}: {e}")),
    }
}

/// The host part of `HOST:PORT` (`[::1]:6379` gives `::1`).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The server's CPU seconds over the measured window.
async fn server_cpu(server: Option<(u32, f64)>, t: Timeline) -> Option<f64> {
    let (pid, ticks) = server?;
    let sample = || report::cpu_seconds(pid, ticks).unwrap_or_else(|e| fail(e));
    tokio::time::sleep_until(t.measure.into()).await;
    let start = sample();
    tokio::time::sleep_until(t.end.into()).await;
    Some(sample() - start)
}
