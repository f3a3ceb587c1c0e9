//! `ringwire client ping|echo|pub|sub|channel-info|kv` and `ringwire bench-stream`: the
//! stream protocol from the command line, on the client library
//! `ringwire_net::stream::client`. `pub`, `sub` and `channel-info` use the `channels` service
//! (`channels.rs`); `bench-stream --service pubsub` the legacy `pubsub` one.

mod bench;
mod bench_args;
pub mod channels;
mod channels_args;
mod channels_load;
mod client;
pub mod kv;
mod kv_load;
mod load;
mod tasks;
mod tls;

use clap::{Arg, ArgAction, ArgMatches, Command};
use ringwire_reactor::Backend;
use std::time::Duration;

pub use bench::run as run_bench;
pub use bench_args::{BenchArgs, BenchService, bench_command, parse_bench};
pub use client::run as run_client;
pub use tls::TlsTarget;

/// The stream port's default address (`--stream-listen`'s default).
const STREAM_ADDR: &str = "127.0.0.1:7070";
/// The HTTP port's default address, used with `--upgrade`.
const HTTP_ADDR: &str = "127.0.0.1:8080";
/// Largest pub/sub message: a message travels in one frame, and every server accepts frames
/// of 16 KiB.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// Where and how to connect.
#[derive(Clone, PartialEq)]
pub struct Target {
    /// `host:port`, resolved when the command runs.
    pub addr: String,
    /// Reach the protocol through HTTP `Upgrade` on the HTTP port.
    pub upgrade: bool,
    /// The I/O backend of the client's runtime.
    pub io: Backend,
    /// Limit on connecting (TCP, upgrade, handshake).
    pub timeout: Duration,
    /// The token presented in the handshake (`--token`, env `RINGWIRE_TOKEN`).
    pub token: Option<String>,
    /// TLS (`--tls` and its `--tls-*` flags); `None`: plain TCP.
    pub tls: Option<TlsTarget>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never printed.
        f.debug_struct("Target")
            .field("addr", &self.addr)
            .field("upgrade", &self.upgrade)
            .field("io", &self.io)
            .field("timeout", &self.timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish()
    }
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
    Sub {
        channel: String,
        count: Option<u64>,
        opts: channels_args::SubOpts,
    },
    /// A durable channel's bounds.
    ChannelInfo { channel: String },
    /// The `kv` service.
    Kv(kv::KvCmd),
}

/// A parsed `ringwire client` invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientArgs {
    pub target: Target,
    pub cmd: ClientCmd,
}

pub(crate) fn target_args() -> Vec<Arg> {
    let mut args = vec![
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
        Arg::new("token")
            .long("token")
            .global(true)
            .value_name("TOKEN")
            .env("RINGWIRE_TOKEN")
            .hide_env_values(true)
            .help(
                "Token to present in the handshake (from `ringwire token issue`); needed by a \
                 server with auth keys. Prefer the environment variable: arguments are visible \
                 to other users in the process list",
            ),
    ];
    args.extend(tls::args());
    args
}

/// `ringwire client`.
pub fn client_command() -> Command {
    let channel = || {
        Arg::new("channel")
            .required(true)
            .help("Channel: 1 to 64 bytes of dot-separated tokens of A-Z a-z 0-9 _ : -")
    };
    let count = |help: &'static str| {
        Arg::new("count")
            .long("count")
            .short('n')
            .value_name("N")
            .help(help)
    };
    Command::new("client")
        .about("Talk to a stream-protocol server: ping, echo, publish, subscribe, kv")
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
                .about(
                    "Publish messages (at most 16 KiB each) to a channel; prints each one's \
                     sequence number on a durable channel",
                )
                .arg(channel())
                .arg(Arg::new("message").required(true).num_args(1..)),
        )
        .subcommand(
            Command::new("sub")
                .about("Print a channel's messages, one per line, until --count or Ctrl-C")
                .arg(channel())
                .arg(count("Stop after N messages"))
                .args(channels_args::sub_args()),
        )
        .subcommand(channels_args::info_command(channel()))
        .subcommand(kv::command())
}

pub(crate) fn target(m: &ArgMatches) -> Result<Target, String> {
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
        token: token_arg(m)?,
        tls: tls::parse(m)?,
    })
}

/// `--token` (or `RINGWIRE_TOKEN`): what the stream protocol can carry, 1 to 4096 printable
/// ASCII bytes (a token is base64url and dots); surrounding whitespace, as a file read into
/// the variable leaves it, is dropped.
fn token_arg(m: &ArgMatches) -> Result<Option<String>, String> {
    let Some(raw) = m.get_one::<String>("token") else {
        return Ok(None);
    };
    let token = raw.trim();
    let max = ringwire_protocol::stream::MAX_AUTH_TOKEN;
    if token.is_empty() {
        return Err(
            "--token (or RINGWIRE_TOKEN) is empty: give the token `ringwire token issue` printed, \
             or unset RINGWIRE_TOKEN"
                .into(),
        );
    }
    if token.len() > max || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "--token (or RINGWIRE_TOKEN) is not a token: expected up to {max} printable ASCII \
             characters as `ringwire token issue` prints them, got {} bytes",
            token.len()
        ));
    }
    Ok(Some(token.to_string()))
}

pub(crate) fn number<T>(m: &ArgMatches, name: &str, default: T, min: T) -> Result<T, String>
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
pub(crate) fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_duration(v)
        .map_err(|e| format!("{v:?} is not a duration such as 10s or 500ms ({e})"))
}

pub(crate) fn duration_arg(
    m: &ArgMatches,
    name: &str,
    default: Duration,
) -> Result<Duration, String> {
    m.get_one::<String>(name).map_or(Ok(default), |v| {
        parse_duration(v).map_err(|e| format!("--{name}: {e}"))
    })
}

/// Checks a channel (or consumer) name against the grammar every service uses.
pub fn check_channel(name: &str) -> Result<(), String> {
    match ringwire_protocol::channels::name_fault(name.as_bytes()) {
        None => Ok(()),
        Some(why) => Err(format!(
            "channel {name:?}: {why}; expected 1 to 64 bytes of tokens of A-Z a-z 0-9 _ : - \
             separated by single dots"
        )),
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
            ClientCmd::Sub {
                channel,
                count,
                opts: channels_args::parse_sub(sub)?,
            }
        }
        "channel-info" => {
            let channel = text("channel");
            check_channel(&channel)?;
            ClientCmd::ChannelInfo { channel }
        }
        "kv" => ClientCmd::Kv(kv::parse(sub)?),
        other => return Err(format!("ringwire client: unknown subcommand {other:?}")),
    };
    Ok(ClientArgs { target, cmd })
}

#[cfg(test)]
mod tests;
