//! `ringwire client ping|echo|pub|sub` and `ringwire bench-stream`: the stream protocol from
//! the command line, on the client library `ringwire_net::stream::client`.
//!
//! Pub/sub convention (shared with the server's `pubsub` service): the first DATA payload on
//! the stream is `SUB <channel>\n` or `PUB <channel>\n`; after `SUB` each DATA frame from the
//! server is one message, after `PUB` each DATA frame from the client is one message.

mod bench;
mod client;
pub mod kv;
mod kv_load;
mod load;
mod tasks;

use clap::{Arg, ArgAction, ArgMatches, Command};
use ringwire_reactor::Backend;
use std::time::Duration;

pub use bench::run as run_bench;
pub use client::run as run_client;

/// The stream port's default address (`--stream-listen`'s default).
const STREAM_ADDR: &str = "127.0.0.1:7070";
/// The HTTP port's default address, used with `--upgrade`.
const HTTP_ADDR: &str = "127.0.0.1:8080";
/// Longest channel name the pub/sub service accepts.
const MAX_CHANNEL: usize = 64;
/// Largest pub/sub message: a message travels in one frame, and every server accepts frames
/// of 16 KiB.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `host:port`, resolved when the command runs.
    pub addr: String,
    /// Reach the protocol through HTTP `Upgrade` on the HTTP port.
    pub upgrade: bool,
    /// The I/O backend of the client's runtime.
    pub io: Backend,
    /// Limit on connecting (TCP, upgrade, handshake).
    pub timeout: Duration,
}

/// `ringwire client ...`.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientCmd {
    /// Round-trip times of PINGs.
    Ping { count: u64, interval: Duration },
    /// One message to the `echo` service and back.
    Echo { message: String },
    /// Messages published to a channel.
    Pub {
        channel: String,
        messages: Vec<String>,
    },
    /// Messages of a channel, one per line.
    Sub { channel: String, count: Option<u64> },
    /// The `kv` service.
    Kv(kv::KvCmd),
}

/// A parsed `ringwire client` invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientArgs {
    pub target: Target,
    pub cmd: ClientCmd,
}

/// The service `bench-stream` loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchService {
    Echo,
    Pubsub,
    /// The `kv` service: GET or PUT (`--kv-op`) of random keys, `--depth` in flight a stream.
    Kv,
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
    /// kv: requests in flight per stream.
    pub depth: usize,
}

fn target_args() -> Vec<Arg> {
    vec![
        Arg::new("addr")
            .long("addr")
            .global(true)
            .value_name("HOST:PORT")
            .help(format!(
                "Server address [default: {STREAM_ADDR}, or {HTTP_ADDR} with --upgrade]"
            )),
        Arg::new("upgrade")
            .long("upgrade")
            .global(true)
            .action(ArgAction::SetTrue)
            .help(
                "Reach the stream protocol through HTTP `Upgrade: ringwire-stream/1` on the \
                 HTTP port",
            ),
        Arg::new("io")
            .long("io")
            .global(true)
            .value_name("BACKEND")
            .help("I/O backend: auto, uring, epoll [default: auto]"),
        Arg::new("timeout")
            .long("timeout")
            .global(true)
            .value_name("DURATION")
            .help("Limit on connecting and on the handshake [default: 10s]"),
    ]
}

/// `ringwire client`.
pub fn client_command() -> Command {
    let channel = || {
        Arg::new("channel")
            .required(true)
            .help("Channel: 1 to 64 of A-Z a-z 0-9 . _ : -")
    };
    let count = |help: &'static str| {
        Arg::new("count")
            .long("count")
            .short('n')
            .value_name("N")
            .help(help)
    };
    Command::new("client")
        .about("Talk to a stream-protocol server: ping, echo, publish, subscribe")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .args(target_args())
        .subcommand(
            Command::new("ping")
                .about("Print the round-trip time of PINGs")
                .arg(count("Pings to send [default: 4]"))
                .arg(
                    Arg::new("interval")
                        .long("interval")
                        .value_name("DURATION")
                        .help("Pause between pings [default: 1s]"),
                ),
        )
        .subcommand(
            Command::new("echo")
                .about("Send a message to the echo service and print what comes back")
                .arg(Arg::new("message").required(true)),
        )
        .subcommand(
            Command::new("pub")
                .about("Publish messages (one DATA frame each, at most 16 KiB) to a channel")
                .arg(channel())
                .arg(Arg::new("message").required(true).num_args(1..)),
        )
        .subcommand(
            Command::new("sub")
                .about("Print a channel's messages, one per line, until --count or Ctrl-C")
                .arg(channel())
                .arg(count("Stop after N messages")),
        )
        .subcommand(kv::command())
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
                "echo, or pubsub (one publisher, --subscribers on the channel) [default: echo]",
            )
            .value_parser(["echo", "pubsub", "kv"]),
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
            "kv: requests in flight per stream (pipelining) [default: 1]",
        ))
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

fn target(m: &ArgMatches) -> Result<Target, String> {
    let upgrade = m.get_flag("upgrade");
    let default = if upgrade { HTTP_ADDR } else { STREAM_ADDR };
    let addr = m.get_one::<String>("addr").map_or(default, String::as_str);
    if addr
        .rsplit_once(':')
        .is_none_or(|(_, port)| port.parse::<u16>().is_err())
    {
        return Err(format!(
            "--addr: expected HOST:PORT such as {STREAM_ADDR}, got {addr:?}"
        ));
    }
    let io = match m.get_one::<String>("io") {
        Some(v) => v.parse().map_err(|e| format!("--io: {e}"))?,
        None => Backend::Auto,
    };
    Ok(Target {
        addr: addr.to_string(),
        upgrade,
        io,
        timeout: duration_arg(m, "timeout", Duration::from_secs(10))?,
    })
}

fn number<T>(m: &ArgMatches, name: &str, default: T, min: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(v) = m.get_one::<String>(name) else {
        return Ok(default);
    };
    match v.trim().parse::<T>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(format!(
            "--{name}: expected a whole number of at least {min}, got {v:?}"
        )),
    }
}

/// A duration such as `10s`, `500ms` or `2m`; a bare number is seconds.
fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_duration(v)
        .map_err(|e| format!("{v:?} is not a duration such as 10s or 500ms ({e})"))
}

fn duration_arg(m: &ArgMatches, name: &str, default: Duration) -> Result<Duration, String> {
    m.get_one::<String>(name).map_or(Ok(default), |v| {
        parse_duration(v).map_err(|e| format!("--{name}: {e}"))
    })
}

/// Checks a channel name against the pub/sub service's rule.
pub fn check_channel(name: &str) -> Result<(), String> {
    let ok = (1..=MAX_CHANNEL).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "channel {name:?}: expected 1 to {MAX_CHANNEL} characters of A-Z a-z 0-9 . _ : -"
        ))
    }
}

/// Parses the matches of `ringwire client`.
pub fn parse_client(m: &ArgMatches) -> Result<ClientArgs, String> {
    let (name, sub) = m
        .subcommand()
        .ok_or("ringwire client: a subcommand is required")?;
    let target = target(sub)?;
    let text = |k: &str| sub.get_one::<String>(k).cloned().unwrap_or_default();
    let cmd = match name {
        "ping" => ClientCmd::Ping {
            count: number(sub, "count", 4, 1)?,
            interval: duration_arg(sub, "interval", Duration::from_secs(1))?,
        },
        "echo" => ClientCmd::Echo {
            message: text("message"),
        },
        "pub" => {
            let channel = text("channel");
            check_channel(&channel)?;
            let messages: Vec<String> = sub
                .get_many::<String>("message")
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            if let Some(big) = messages
                .iter()
                .find(|m| m.len() > MAX_MESSAGE || m.is_empty())
            {
                return Err(format!(
                    "a message must be 1 to {MAX_MESSAGE} bytes (one frame); got {} bytes",
                    big.len()
                ));
            }
            ClientCmd::Pub { channel, messages }
        }
        "sub" => {
            let channel = text("channel");
            check_channel(&channel)?;
            let count = match sub.get_one::<String>("count") {
                Some(_) => Some(number(sub, "count", 1, 1)?),
                None => None,
            };
            ClientCmd::Sub { channel, count }
        }
        "kv" => ClientCmd::Kv(kv::parse(sub)?),
        other => return Err(format!("ringwire client: unknown subcommand {other:?}")),
    };
    Ok(ClientArgs { target, cmd })
}

/// Parses the matches of `ringwire bench-stream`.
pub fn parse_bench(m: &ArgMatches) -> Result<BenchArgs, String> {
    let service = match m.get_one::<String>("service").map(String::as_str) {
        Some("pubsub") => BenchService::Pubsub,
        Some("kv") => BenchService::Kv,
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
    })
}

#[cfg(test)]
mod tests;
