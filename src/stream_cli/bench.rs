//! `ringwire bench-stream`: starts the load threads, prints progress once a second, then
//! merges their histograms into one summary (text, or one JSON line).

use super::{
    BenchArgs, BenchService,
    client::{options, resolve},
    load::{Plan, Recorded, thread_main},
    tasks::PUBLISH_AHEAD,
};
use ringwire_reactor::{Runtime, launcher::Launcher};
use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    thread,
    time::{Duration, Instant},
};

/// Runs the benchmark; returns the exit code.
pub fn run(args: BenchArgs) -> i32 {
    let addr = match resolve(&args.target) {
        Ok(a) => a,
        Err(e) => return fail(&format!("{}: {e}", args.target.addr)),
    };
    if args.service == BenchService::Pubsub && args.subscribers < args.connections {
        eprintln!(
            "ringwire bench-stream: note: {} subscribers on {} connections leaves some \
             connections idle",
            args.subscribers, args.connections
        );
    }
    let options = match options(&args.target) {
        Ok(o) => o,
        Err(e) => return fail(&e.to_string()),
    };
    let threads = args.threads;
    let plan = Arc::new(Plan::new(args.clone(), addr, options));
    let mut launcher = Launcher::new(threads)
        .name("ringwire-bench")
        .runtime(Runtime::builder().backend(args.target.io));
    if let Some(cpus) = &args.cpus {
        launcher = launcher.cpus(cpus.clone());
    }
    let factory_plan = plan.clone();
    let cores = match launcher.launch(move |info| thread_main(factory_plan.clone(), info.index)) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let backend = cores.backends()[0].kind.name();
    eprintln!("{}", describe(&args, backend));

    // Connections first, then the clock starts for everyone at once.
    while plan.ready.load(Relaxed) < threads && !plan.abort.load(Relaxed) {
        thread::sleep(Duration::from_millis(2));
    }
    if !plan.abort.load(Relaxed) {
        let measure = plan.start();
        progress(&plan, measure);
    }
    let mut total = Recorded::new();
    let mut failures = Vec::new();
    for result in cores.join() {
        match result {
            Ok(Ok(r)) => merge(&mut total, r),
            Ok(Err(e)) | Err(e) => failures.push(e),
        }
    }
    if let Some(first) = failures.iter().find(|e| !e.starts_with("stopped:")) {
        return fail(first);
    }
    for e in &total.errors {
        eprintln!("ringwire bench-stream: {e}");
    }
    let summary = Summary::new(&args, backend, &total);
    if args.json {
        println!("{}", summary.json());
    } else {
        print!("{}", summary.text());
    }
    if total.messages == 0 { 1 } else { 0 }
}

fn fail(message: &str) -> i32 {
    eprintln!("ringwire bench-stream: {message}");
    1
}

fn merge(total: &mut Recorded, r: Recorded) {
    // Same bounds everywhere, so adding cannot fail.
    let _ = total.hist.add(&r.hist);
    total.messages += r.messages;
    total.published += r.published;
    total.slow += r.slow;
    total.errors.extend(r.errors);
}

fn describe(a: &BenchArgs, backend: &str) -> String {
    let load = match a.service {
        BenchService::Echo => format!(
            "echo, {} connections x {} streams",
            a.connections, a.streams
        ),
        BenchService::Pubsub => format!(
            "pubsub fan-out, 1 publisher -> {} subscribers on {} connections, channel {}",
            a.subscribers, a.connections, a.channel
        ),
        BenchService::Kv => format!(
            "kv {:?} of {} keys, {} connections x {} streams x {} in flight",
            a.kv_op, a.keys, a.connections, a.streams, a.depth
        ),
        BenchService::Channels if a.replay => format!(
            "channels replay of {} from seq 1, {} connections x {} streams",
            a.durable_channel.as_deref().unwrap_or_default(),
            a.connections,
            a.streams
        ),
        BenchService::Channels => format!(
            "channels PUB to {} ({}), {} connections x {} streams x {} in flight",
            a.durable_channel.as_deref().unwrap_or(&a.channel),
            if a.durable_channel.is_some() {
                "durable"
            } else {
                "as the server has it"
            },
            a.connections,
            a.streams,
            a.depth
        ),
    };
    let rate = match a.rate {
        0 if a.service == BenchService::Pubsub => {
            format!("closed loop (publisher at most {PUBLISH_AHEAD} messages ahead)")
        }
        0 => "closed loop".to_string(),
        r => format!("{r} msg/s"),
    };
    format!(
        "ringwire bench-stream: {load}, {}-byte messages, {rate}, {:?} after {:?} warmup, \
         {} thread(s) on {backend}, to {}{}{}",
        a.size,
        a.duration,
        a.warmup,
        a.threads,
        a.target.addr,
        if a.target.tls.is_some() {
            " over TLS"
        } else {
            ""
        },
        if a.target.upgrade { " (upgrade)" } else { "" }
    )
}

/// Prints messages/s once a second (on stderr) until every thread is done.
fn progress(plan: &Plan, measure: Instant) {
    let start = Instant::now();
    let threads = plan.delivered.len();
    let count = || {
        plan.delivered
            .iter()
            .map(|c| c.0.load(Relaxed))
            .sum::<u64>()
    };
    let (mut last, mut last_at) = (count(), start);
    while plan.done.load(Relaxed) < threads {
        thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if now.duration_since(last_at) < Duration::from_secs(1) {
            continue;
        }
        let n = count();
        let rate = (n - last) as f64 / now.duration_since(last_at).as_secs_f64();
        let phase = if now < measure { " (warmup)" } else { "" };
        eprintln!(
            "[{:>4.0}s] {rate:>12.0} msg/s{phase}",
            now.duration_since(start).as_secs_f64()
        );
        (last, last_at) = (n, now);
    }
}

/// The final numbers.
struct Summary {
    service: &'static str,
    args: BenchArgs,
    backend: String,
    messages: u64,
    published: u64,
    rate: f64,
    mb: f64,
    /// p50, p90, p99, p99.9, max, in microseconds.
    latency: [f64; 5],
    errors: usize,
    slow: u64,
}

impl Summary {
    fn new(args: &BenchArgs, backend: &str, r: &Recorded) -> Summary {
        let secs = args.duration.as_secs_f64();
        let us = |v: u64| v as f64 / 1000.0;
        let q = |p: f64| us(r.hist.value_at_quantile(p));
        Summary {
            service: match args.service {
                BenchService::Echo => "echo",
                BenchService::Pubsub => "pubsub",
                BenchService::Kv => "kv",
                BenchService::Channels => "channels",
            },
            args: args.clone(),
            backend: backend.to_string(),
            messages: r.messages,
            published: r.published,
            rate: r.messages as f64 / secs,
            mb: (r.messages * args.size as u64) as f64 / secs / 1e6,
            latency: [q(0.5), q(0.9), q(0.99), q(0.999), us(r.hist.max())],
            errors: r.errors.len(),
            slow: r.slow,
        }
    }

    fn text(&self) -> String {
        let [p50, p90, p99, p999, max] = self.latency.map(fmt_us);
        let what = match self.service {
            "echo" => "echoes received",
            "channels" if self.args.replay => "messages replayed",
            "channels" => "PUBs answered",
            _ => "messages delivered",
        };
        let mut s = format!(
            "messages   {} {what} in {:?}\nrate       {:.0} msg/s\n\
             throughput {:.2} MB/s of message payload\n",
            self.messages, self.args.duration, self.rate, self.mb
        );
        if self.service == "pubsub" {
            s += &format!(
                "published  {} ({:.0} msg/s; {} subscribers)\n",
                self.published,
                self.published as f64 / self.args.duration.as_secs_f64(),
                self.args.subscribers
            );
        }
        let label = match self.service {
            "echo" => "round trip",
            "kv" => "request to answer",
            "channels" if self.args.replay => "not measured in a replay",
            "channels" => "PUB to answer",
            _ => "publish to deliver",
        };
        s += &format!(
            "latency    p50 {p50}  p90 {p90}  p99 {p99}  p99.9 {p999}  max {max}  ({label})\n"
        );
        if self.errors > 0 || self.slow > 0 {
            s += &format!(
                "errors     {} (SLOW_CONSUMER resets: {})\n",
                self.errors, self.slow
            );
        }
        s
    }

    fn json(&self) -> String {
        let a = &self.args;
        let [p50, p90, p99, p999, max] = self.latency;
        serde_json::json!({
            "service": self.service,
            "backend": self.backend,
            "connections": a.connections,
            "streams": if a.service == BenchService::Pubsub { 0 } else { a.streams },
            "depth": if matches!(a.service, BenchService::Kv | BenchService::Channels) {
                a.depth
            } else {
                0
            },
            "replay": a.replay,
            "durable_channel": a.durable_channel,
            "subscribers": if a.service == BenchService::Pubsub { a.subscribers } else { 0 },
            "size": a.size,
            "rate": a.rate,
            "threads": a.threads,
            "upgrade": a.target.upgrade,
            "tls": a.target.tls.is_some(),
            "duration_s": a.duration.as_secs_f64(),
            "messages": self.messages,
            "messages_per_sec": self.rate,
            "mb_per_sec": self.mb,
            "published": self.published,
            "latency_us": { "p50": p50, "p90": p90, "p99": p99, "p999": p999, "max": max },
            "errors": self.errors,
            "slow_consumer_resets": self.slow,
        })
        .to_string()
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{us:.0}µs")
    }
}
