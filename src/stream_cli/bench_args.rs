//! `ringwire bench-stream`'s arguments.

use super::{
    MAX_MESSAGE, Target, check_channel, duration_arg, kv_load, number, target, target_args,
};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::time::Duration;

/// The service `bench-stream` loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchService {
    Echo,
    Pubsub,
    /// The `kv` service: GET or PUT (`--kv-op`) of random keys, `--depth` in flight a stream.
    Kv,
    /// The `channels` service: PUBs with `--depth` in flight a stream, counted when answered
    /// (once durable on a durable channel); or, with `--replay`, SUBs from seq 1.
    Channels,
}

/// A parsed `ringwire bench-stream` invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchArgs {
    pub target: Target,
    pub connections: usize,
    pub streams: usize,
    pub size: usize,
    /// Messages per second overall (echo: over all streams; pub/sub: published); 0 is a
    /// closed loop.
    pub rate: u64,
    pub duration: Duration,
    pub warmup: Duration,
    pub service: BenchService,
    pub subscribers: usize,
    pub channel: String,
    pub json: bool,
    pub threads: usize,
    pub cpus: Option<Vec<usize>>,
    /// kv: GET or PUT.
    pub kv_op: kv_load::KvOp,
    /// kv: keys drawn from `0..keys`.
    pub keys: u64,
    /// kv, channels: requests in flight per stream.
    pub depth: usize,
    /// channels: publish to (or replay) this channel, which must be durable on the server.
    pub durable_channel: Option<String>,
    /// channels: read the durable channel from seq 1 on every stream instead of publishing.
    pub replay: bool,
}

/// `ringwire bench-stream`.
pub fn bench_command() -> Command {
    let opt = |name: &'static str, value: &'static str, help: &'static str| {
        Arg::new(name).long(name).value_name(value).help(help)
    };
    Command::new("bench-stream")
        .about("Load-test a stream-protocol server: throughput and latency percentiles")
        .args(target_args())
        .arg(opt("connections", "N", "Connections [default: 4]"))
        .arg(opt(
            "streams",
            "N",
            "Echo streams per connection [default: 8]",
        ))
        .arg(opt(
            "size",
            "BYTES",
            "Message size, at least 8 (a timestamp); pub/sub at most 16384 [default: 64]",
        ))
        .arg(opt(
            "rate",
            "MSG/S",
            "Messages per second overall (pub/sub: published); 0 = closed loop: one message in \
             flight per echo stream, or the publisher at most 64 messages ahead of the slowest \
             subscriber [default: 0]",
        ))
        .arg(opt("duration", "DURATION", "Measured time [default: 10s]"))
        .arg(opt(
            "warmup",
            "DURATION",
            "Unmeasured time before it [default: 2s]",
        ))
        .arg(
            opt(
                "service",
                "NAME",
                "echo; pubsub (one publisher, --subscribers on the channel); kv; channels \
                 (publishers with --depth PUBs in flight a stream, counted when answered) \
                 [default: echo]",
            )
            .value_parser(["echo", "pubsub", "kv", "channels"]),
        )
        .arg(
            opt(
                "kv-op",
                "OP",
                "kv: get (preloads --keys keys first) or put [default: get]",
            )
            .value_parser(["get", "put"]),
        )
        .arg(opt(
            "keys",
            "N",
            "kv: the keyspace, random keys of it [default: 10000]",
        ))
        .arg(opt(
            "depth",
            "N",
            "kv, channels: requests in flight per stream (pipelining) [default: 1]",
        ))
        .arg(opt(
            "durable-channel",
            "NAME",
            "channels: publish to this channel, which must be durable on the server \
             (pubsub.durable) [default: --channel, as the server has it]",
        ))
        .arg(
            Arg::new("replay")
                .long("replay")
                .action(ArgAction::SetTrue)
                .requires("durable-channel")
                .help(
                    "channels: read --durable-channel from seq 1 on every stream (SUB from 1) \
                     and count the messages, instead of publishing",
                ),
        )
        .arg(opt(
            "subscribers",
            "N",
            "pub/sub: subscriber streams, spread over --connections [default: 1]",
        ))
        .arg(opt(
            "channel",
            "NAME",
            "pub/sub channel [default: bench-<pid>]",
        ))
        .arg(opt(
            "threads",
            "N",
            "Load-generator threads, one runtime each [default: 1]",
        ))
        .arg(opt("cpus", "LIST", "CPUs to pin the threads to, e.g. 2-3"))
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the summary as one JSON line"),
        )
}

/// Parses the matches of `ringwire bench-stream`.
pub fn parse_bench(m: &ArgMatches) -> Result<BenchArgs, String> {
    let service = match m.get_one::<String>("service").map(String::as_str) {
        Some("pubsub") => BenchService::Pubsub,
        Some("kv") => BenchService::Kv,
        Some("channels") => BenchService::Channels,
        _ => BenchService::Echo,
    };
    let size = number(m, "size", 64usize, 8)?;
    if service == BenchService::Pubsub && size > MAX_MESSAGE {
        return Err(format!(
            "--size: a pub/sub message travels in one frame: at most {MAX_MESSAGE} bytes"
        ));
    }
    let channel = m
        .get_one::<String>("channel")
        .cloned()
        .unwrap_or_else(|| format!("bench-{}", std::process::id()));
    check_channel(&channel).map_err(|e| format!("--channel: {e}"))?;
    let durable_channel = m.get_one::<String>("durable-channel").cloned();
    if let Some(c) = &durable_channel {
        check_channel(c).map_err(|e| format!("--durable-channel: {e}"))?;
        if service != BenchService::Channels {
            return Err("--durable-channel: only with --service channels".into());
        }
    }
    let replay = m.get_flag("replay");
    let cpus = match m.get_one::<String>("cpus") {
        Some(list) => Some(
            ringwire_reactor::launcher::parse_cpu_list(list).map_err(|e| format!("--cpus: {e}"))?,
        ),
        None => None,
    };
    let duration = duration_arg(m, "duration", Duration::from_secs(10))?;
    if duration.is_zero() {
        return Err("--duration: must be more than 0".into());
    }
    Ok(BenchArgs {
        target: target(m)?,
        connections: number(m, "connections", 4, 1)?,
        streams: number(m, "streams", 8, 1)?,
        size,
        rate: number(m, "rate", 0, 0)?,
        duration,
        warmup: duration_arg(m, "warmup", Duration::from_secs(2))?,
        service,
        subscribers: number(m, "subscribers", 1, 1)?,
        channel,
        json: m.get_flag("json"),
        threads: number(m, "threads", 1, 1)?,
        cpus,
        kv_op: match m.get_one::<String>("kv-op").map(String::as_str) {
            Some("put") => kv_load::KvOp::Put,
            _ => kv_load::KvOp::Get,
        },
        keys: number(m, "keys", 10_000, 1)?,
        depth: number(m, "depth", 1, 1)?,
        durable_channel,
        replay,
    })
}
