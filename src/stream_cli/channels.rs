//! `ringwire client pub|sub|channel-info`: the `channels` stream service from the command
//! line (sequence numbers, replay, named consumers with acknowledgements), and the
//! request/answer plumbing `bench-stream --service channels` shares.

use super::channels_args::SubOpts;
use ringwire_net::stream::client::{Client, Stream};
use ringwire_protocol::channels::{
    Answer, Request, ServerMessage, Start, Status, parse_server_message, split,
};
use ringwire_reactor::time;
use std::{
    io::{self, Write},
    time::Duration,
};

/// PUBs a stream keeps in flight at most (the service's bound).
pub const MAX_IN_FLIGHT: usize = 256;
/// How long a finishing command waits for the answers it is owed.
const LINGER: Duration = Duration::from_secs(5);

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
        Status::Unauthorized | Status::Forbidden => io::ErrorKind::PermissionDenied,
        Status::RateLimited => io::ErrorKind::WouldBlock,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{status}: {message}{}", refusal_hint(status)))
}

/// What to do about an answer that refuses this client.
fn refusal_hint(status: Status) -> &'static str {
    match status {
        Status::Unauthorized => {
            " (give a valid token with --token TOKEN or RINGWIRE_TOKEN; `ringwire token issue` \
             makes one)"
        }
        Status::Forbidden => {
            " (the token needs a pub:/sub: scope matching this channel, or the server serves \
             only loopback clients until it has auth keys)"
        }
        Status::RateLimited => " (too many requests: retry later)",
        _ => "",
    }
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
    let mut c = attach(client, channel, opts).await?;
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

/// A stream with the SUB or CONSUME of `opts` answered. A CONSUME answered CONFLICT (the
/// consumer's state changed under the attach, e.g. by its previous owner's last write) is
/// retried on a new stream, as the status asks, a few times.
async fn attach(client: &Client, channel: &str, opts: &SubOpts) -> io::Result<ChanConn> {
    let start = opts.start.unwrap_or(Start::New);
    let mut attempt = 0;
    loop {
        let mut c = ChanConn::open(client).await?;
        let id = c.id();
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
        match c.answer(id, "the subscription").await {
            Ok(_) => return Ok(c),
            Err(e) if attempt < ATTACH_RETRIES && e.to_string().starts_with("CONFLICT") => {
                attempt += 1;
                drop(c);
                time::sleep(Duration::from_millis(50) * attempt).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// CONSUMEs retried after CONFLICT.
const ATTACH_RETRIES: u32 = 5;

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
