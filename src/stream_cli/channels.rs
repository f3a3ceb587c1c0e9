//! `ringwire client pub|sub|channel-info`: the `channels` stream service from the command
//! line (sequence numbers, replay, named consumers with acknowledgements), and the
//! request/answer plumbing `bench-stream --service channels` shares.

use super::parse_duration;
use clap::{Arg, ArgAction, ArgMatches, Command};
use ringwire_net::stream::client::{Client, Stream};
use ringwire_protocol::channels::{
    Answer, Request, ServerMessage, Start, Status, parse_server_message, split,
};
use ringwire_reactor::time;
use std::{
    io::{self, Write},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// PUBs a stream keeps in flight at most (the service's bound).
pub const MAX_IN_FLIGHT: usize = 256;
/// How long a finishing command waits for the answers it is owed.
const LINGER: Duration = Duration::from_secs(5);

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

/// A `channels` stream with its receive buffer and request ids.
pub struct ChanConn {
    pub stream: Stream,
    buf: Vec<u8>,
    next_id: u32,
}

impl ChanConn {
    pub async fn open(client: &Client) -> io::Result<ChanConn> {
        Ok(ChanConn::new(client.open("channels").await?))
    }

    pub fn new(stream: Stream) -> ChanConn {
        ChanConn {
            stream,
            buf: Vec::new(),
            next_id: 1,
        }
    }

    /// A fresh request id.
    pub fn id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Sends one request.
    pub async fn send(&self, req: &Request<'_>) -> io::Result<()> {
        let mut out = Vec::new();
        req.encode(&mut out);
        self.stream.send(&out).await
    }

    /// The next message body (owned), `None` when the stream ended.
    pub async fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            match split(&self.buf).map_err(bad)? {
                Some((body, used)) => {
                    let body = body.to_vec();
                    self.buf.drain(..used);
                    return Ok(Some(body));
                }
                None => match self.stream.recv().await? {
                    Some(b) => self.buf.extend_from_slice(&b),
                    None => return Ok(None),
                },
            }
        }
    }

    /// The answer to request `id`, which must come next (answers come in request order).
    /// A failure becomes an error naming its status.
    pub async fn answer(&mut self, id: u32, what: &str) -> io::Result<Vec<u8>> {
        let body = self.next().await?.ok_or_else(|| ended(what))?;
        match parse_server_message(&body).map_err(bad)? {
            ServerMessage::Answer {
                id: got, answer, ..
            } if got == id => {
                if let Answer::Failed { status, message } = answer {
                    return Err(failed(status, message));
                }
            }
            other => return Err(bad(format!("expected the answer to {what}, got {other:?}"))),
        }
        Ok(body)
    }
}

fn ended(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the server ended the stream before answering {what}"),
    )
}

pub fn bad(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad channels message: {e}"),
    )
}

/// An error for a failed answer: `STATUS: message`.
pub fn failed(status: Status, message: &str) -> io::Error {
    let kind = match status {
        Status::Busy | Status::Unavailable => io::ErrorKind::WouldBlock,
        Status::TooLarge | Status::BadRequest | Status::NotDurable => io::ErrorKind::InvalidInput,
        Status::NotFound => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{status}: {message}"))
}

/// The seq in a PUB's OK answer body.
fn published(body: &[u8]) -> io::Result<u64> {
    match parse_server_message(body).map_err(bad)? {
        ServerMessage::Answer {
            answer: Answer::Published { seq },
            ..
        } => Ok(seq),
        other => Err(bad(format!("expected a PUB answer, got {other:?}"))),
    }
}

/// `ringwire client pub`: PUBs pipelined, `seq N` printed per message of a durable channel.
pub async fn publish(
    client: &Client,
    channel: &str,
    messages: &[String],
    out: &mut impl Write,
) -> io::Result<()> {
    let mut c = ChanConn::open(client).await?;
    let (mut sent, mut answered, mut finished) = (0, 0, false);
    while answered < messages.len() {
        let mut wire = Vec::new();
        while sent < messages.len() && sent - answered < MAX_IN_FLIGHT {
            let req = Request::Pub {
                id: sent as u32 + 1,
                channel,
                data: messages[sent].as_bytes(),
            };
            req.encode(&mut wire);
            sent += 1;
        }
        if !wire.is_empty() {
            c.stream.send(&wire).await?;
        }
        if sent == messages.len() && !finished {
            c.stream.finish()?;
            finished = true;
        }
        let body = c.answer(answered as u32 + 1, "a PUB").await?;
        let seq = published(&body)?;
        if seq > 0 {
            writeln!(out, "seq {seq}")?;
        }
        answered += 1;
    }
    let plural = if messages.len() == 1 { "" } else { "s" };
    writeln!(
        out,
        "published {} message{plural} to {channel}",
        messages.len()
    )?;
    linger(&mut c).await
}

/// `ringwire client channel-info`.
pub async fn info(client: &Client, channel: &str, out: &mut impl Write) -> io::Result<()> {
    let mut c = ChanConn::open(client).await?;
    let id = c.id();
    c.send(&Request::Info { id, channel }).await?;
    c.stream.finish()?;
    let body = c.answer(id, "INFO").await?;
    match parse_server_message(&body).map_err(bad)? {
        ServerMessage::Answer {
            answer:
                Answer::Info {
                    first,
                    next,
                    count,
                    bytes,
                },
            ..
        } => writeln!(
            out,
            "first {first}\nnext {next}\ncount {count}\nbytes {bytes}"
        )?,
        other => return Err(bad(format!("expected an INFO answer, got {other:?}"))),
    }
    linger(&mut c).await
}

/// `ringwire client sub`: SUB (or CONSUME with `--consumer`), then one line per message until
/// `count` messages or the end of the stream. A consumer ACKs each message after printing it
/// and, before leaving, waits for its ACKs to be answered (stored).
pub async fn subscribe(
    client: &Client,
    channel: &str,
    count: Option<u64>,
    opts: &SubOpts,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut c = ChanConn::open(client).await?;
    let id = c.id();
    let start = opts.start.unwrap_or(Start::New);
    let req = match &opts.consumer {
        None => Request::Sub { id, channel, start },
        Some(k) => Request::Consume {
            id,
            channel,
            consumer: &k.name,
            ack_wait_ms: k.ack_wait_ms,
            max_ack_pending: k.max_ack_pending,
            start,
        },
    };
    c.send(&req).await?;
    c.answer(id, "the subscription").await?;
    let ack = opts.consumer.as_ref().is_some_and(|k| k.ack);
    let mut owed = 0u64;
    let mut seen = 0;
    while count.is_none_or(|n| seen < n) {
        let Some(body) = c.next().await? else {
            return Ok(());
        };
        match parse_server_message(&body).map_err(bad)? {
            ServerMessage::Message { seq, data, .. } => {
                if opts.seq {
                    write!(out, "{seq}\t")?;
                }
                out.write_all(data)?;
                out.write_all(b"\n")?;
                out.flush()?;
                seen += 1;
                if ack {
                    let id = c.id();
                    c.send(&Request::Ack { id, seq }).await?;
                    owed += 1;
                }
            }
            ServerMessage::Answer { answer, .. } => {
                owed = owed.saturating_sub(1);
                ack_answer(answer)?;
            }
        }
    }
    c.stream.finish()?;
    // The ACKs sent are stored only once answered: wait for them before leaving.
    let wait = async {
        while owed > 0 {
            let Some(body) = c.next().await? else {
                break;
            };
            if let ServerMessage::Answer { answer, .. } =
                parse_server_message(&body).map_err(bad)?
            {
                owed -= 1;
                ack_answer(answer)?;
            }
        }
        Ok::<(), io::Error>(())
    };
    match time::timeout(LINGER, wait).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{owed} acknowledgements not answered in {LINGER:?}"),
            ));
        }
    }
    linger(&mut c).await
}

/// An ACK's answer: NOT_FOUND (the message was redelivered meanwhile, or the consumer is
/// gone) is worth a warning; anything else but OK ends the subscription.
fn ack_answer(answer: Answer<'_>) -> io::Result<()> {
    match answer {
        Answer::Failed {
            status: Status::NotFound,
            message,
        } => {
            eprintln!("ringwire client: warning: ACK: NOT_FOUND: {message}");
            Ok(())
        }
        Answer::Failed { status, message } => Err(failed(status, message)),
        _ => Ok(()),
    }
}

/// Waits (briefly) for the server to end a stream this side has finished, dropping whatever
/// it still sends.
async fn linger(c: &mut ChanConn) -> io::Result<()> {
    let drain = async {
        while c.stream.recv().await?.is_some() {}
        Ok::<(), io::Error>(())
    };
    match time::timeout(LINGER, drain).await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}
