//! NATS load for `perf/stream-compare`, on one thread (the caller pins it with taskset):
//!
//! - `js-publish`: JetStream publishes, `--in-flight` per connection, each counted when its
//!   PublishAck arrives (the peer of `ringwire bench-stream --service channels` on a durable
//!   channel, whose PUBs are counted when answered, once durable).
//! - `fanout`: one publisher, `--subscribers` subscriber connections on one subject (or
//!   channel), a closed loop that keeps the publisher at most `--window` messages ahead of the
//!   slowest subscriber, measured like `ringwire bench-stream --service pubsub` and
//!   `perf/redis-fanout`. The publisher and the subscribers each reach either NATS
//!   (`nats://HOST:PORT`) or a ringwire node's `pubsub` stream service
//!   (`ringwire://HOST:PORT`, the stream port): NATS alone is `--pub nats://X --sub nats://X`;
//!   ringwire across two nodes bridged through NATS is `--pub ringwire://A --sub ringwire://B`.
//!   With `--tls --tls-ca FILE` the `ringwire://` sides speak TLS ([`tls`]); NATS stays plain.

mod fanout;
mod js;
mod natsraw;
mod report;
mod rwstream;
mod tls;

use clap::{Args, Parser, Subcommand};
use std::fmt::Display;

#[derive(Parser)]
#[command(about = "NATS load: JetStream publish, and closed-loop fan-out over NATS or ringwire")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// JetStream publish with N in flight per connection, counted when acknowledged.
    JsPublish(js::JsArgs),
    /// One publisher, N subscribers, closed loop; NATS or ringwire pubsub on either side.
    Fanout(fanout::FanoutArgs),
}

/// What every mode shares: the run's timing and its output.
#[derive(Args, Clone)]
pub struct Common {
    /// Payload bytes per message (at least 16 for fanout: a sequence number and a timestamp).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Measured seconds, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Print one JSON line (the field names of `ringwire bench-stream --json`).
    #[arg(long)]
    json: bool,
    /// Server processes (comma-separated pids) whose CPU time over the measured window is
    /// reported, summed, as `server_cpu_s`.
    #[arg(long, value_delimiter = ',')]
    server_pids: Vec<u32>,
}

impl Common {
    fn check(&self, min_size: usize) -> Result<(), String> {
        if self.size < min_size {
            return Err(format!("--size: at least {min_size}"));
        }
        if !(self.duration > 0.0 && self.duration.is_finite()) {
            return Err("--duration: more than 0 seconds".into());
        }
        if !(self.warmup >= 0.0 && self.warmup.is_finite()) {
            return Err("--warmup: 0 seconds or more".into());
        }
        for &pid in &self.server_pids {
            report::cpu_seconds(pid, 100.0).map_err(|e| format!("--server-pids: {e}"))?;
        }
        Ok(())
    }
}

/// Ends the run: every failure is fatal, so no task has to tell the others to stop.
pub fn fail(message: impl Display) -> ! {
    eprintln!("nats-load: {message}");
    std::process::exit(1)
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .unwrap_or_else(|e| fail(format_args!("tokio runtime: {e}")));
    let local = tokio::task::LocalSet::new();
    let summary = match cli.mode {
        Mode::JsPublish(a) => local.block_on(&rt, js::run(a)),
        Mode::Fanout(a) => local.block_on(&rt, fanout::run(a)),
    };
    if summary.json_mode {
        println!("{}", summary.json());
    } else {
        print!("{}", summary.text());
    }
    if summary.messages == 0 {
        fail("no message was counted in the measured window");
    }
    // Subscriber tasks and the NATS clients' own tasks are still running: do not wait for them.
    std::process::exit(0)
}
