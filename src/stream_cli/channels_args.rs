//! `ringwire client sub`'s options for the `channels` service, and `channel-info`.

use super::parse_duration;
use clap::{Arg, ArgAction, ArgMatches, Command};
use ringwire_protocol::channels::Start;
use std::time::{SystemTime, UNIX_EPOCH};

/// `ringwire client sub`'s options beyond the channel and `--count`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubOpts {
    /// Where to start (`None`: new messages only).
    pub start: Option<Start>,
    /// Read as this named consumer.
    pub consumer: Option<ConsumerOpts>,
    /// Print `seq<TAB>message` rather than the message alone.
    pub seq: bool,
}

/// `--consumer NAME` and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerOpts {
    pub name: String,
    /// 0: the server's `pubsub.ack_wait`.
    pub ack_wait_ms: u32,
    /// 0: the server's `pubsub.max_ack_pending`.
    pub max_ack_pending: u32,
    /// ACK each message once printed (`--no-ack` turns it off).
    pub ack: bool,
}

/// The options `ringwire client sub` adds for the `channels` service.
pub fn sub_args() -> Vec<Arg> {
    let opt = |name: &'static str, value: &'static str, help: &'static str| {
        Arg::new(name).long(name).value_name(value).help(help)
    };
    let starts = ["from", "last", "since"];
    let others = |me: &str| {
        starts
            .iter()
            .filter(|s| **s != me)
            .copied()
            .collect::<Vec<_>>()
    };
    vec![
        opt(
            "from",
            "SEQ",
            "Durable channel: start at sequence number SEQ",
        )
        .conflicts_with_all(others("from")),
        opt(
            "last",
            "N",
            "Durable channel: start with the last N messages",
        )
        .conflicts_with_all(others("last")),
        opt(
            "since",
            "TIME",
            "Durable channel: start at messages stored since TIME: Unix milliseconds, or a \
             duration ago such as 10m",
        )
        .conflicts_with_all(others("since")),
        opt(
            "consumer",
            "NAME",
            "Durable channel: read as the named consumer (kept by the server; resumes where \
             it stopped) and ACK each message after printing it",
        ),
        opt(
            "ack-wait",
            "DURATION",
            "With --consumer: redelivery after this long unacknowledged [default: the \
             server's pubsub.ack_wait]",
        )
        .requires("consumer"),
        opt(
            "max-ack-pending",
            "N",
            "With --consumer: at most N messages unacknowledged [default: the server's \
             pubsub.max_ack_pending]",
        )
        .requires("consumer"),
        Arg::new("no-ack")
            .long("no-ack")
            .action(ArgAction::SetTrue)
            .requires("consumer")
            .help("With --consumer: do not acknowledge (messages come again after ack-wait)"),
        Arg::new("seq")
            .long("seq")
            .action(ArgAction::SetTrue)
            .help("Print `seq<TAB>message` (seq 0 on an ephemeral channel)"),
    ]
}

/// `ringwire client channel-info`.
pub fn info_command(channel: Arg) -> Command {
    Command::new("channel-info")
        .about("Print a durable channel's first and next sequence number, count and bytes")
        .arg(channel)
}

fn positive(m: &ArgMatches, name: &str) -> Result<Option<u64>, String> {
    m.get_one::<String>(name)
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(format!(
                    "--{name}: expected a whole number of at least 1, got {v:?}"
                ))
        })
        .transpose()
}

/// Reads `sub`'s channel options.
pub fn parse_sub(m: &ArgMatches) -> Result<SubOpts, String> {
    let since = match m.get_one::<String>("since") {
        None => None,
        Some(v) => Some(Start::SinceMs(since_ms(v, SystemTime::now())?)),
    };
    let start = positive(m, "from")?
        .map(Start::From)
        .or(positive(m, "last")?.map(Start::Last))
        .or(since);
    let consumer = match m.get_one::<String>("consumer") {
        None => None,
        Some(name) => {
            super::check_channel(name).map_err(|e| format!("--consumer: {e}"))?;
            let ack_wait_ms = match m.get_one::<String>("ack-wait") {
                None => 0,
                Some(v) => {
                    let d = parse_duration(v).map_err(|e| format!("--ack-wait: {e}"))?;
                    u32::try_from(d.as_millis())
                        .ok()
                        .filter(|ms| *ms >= 1)
                        .ok_or(format!("--ack-wait: expected 1ms to 49 days, got {v:?}"))?
                }
            };
            let max_ack_pending = match positive(m, "max-ack-pending")? {
                None => 0,
                Some(n) => u32::try_from(n)
                    .map_err(|_| format!("--max-ack-pending: at most {}, got {n}", u32::MAX))?,
            };
            Some(ConsumerOpts {
                name: name.clone(),
                ack_wait_ms,
                max_ack_pending,
                ack: !m.get_flag("no-ack"),
            })
        }
    };
    Ok(SubOpts {
        start,
        consumer,
        seq: m.get_flag("seq"),
    })
}

/// `--since`: Unix milliseconds, or a duration before `now`.
pub fn since_ms(v: &str, now: SystemTime) -> Result<u64, String> {
    if let Ok(ms) = v.trim().parse::<u64>() {
        return Ok(ms);
    }
    let ago = humantime::parse_duration(v.trim()).map_err(|_| {
        format!("--since: expected Unix milliseconds or a duration ago such as 10m, got {v:?}")
    })?;
    let at = now.checked_sub(ago).unwrap_or(UNIX_EPOCH);
    Ok(at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64)
}
