//! `ringwire client kv get|put|del|ls`: the `kv` stream service from the command line, and
//! the request/answer pairing `bench-stream --service kv` shares.

use clap::{Arg, ArgMatches, Command};
use ringwire_net::stream::client::{Client, Stream};
use ringwire_protocol::kv::{self, Cond, Op, Request, Response, Status};
use std::io::{self, Write};

/// `ringwire client kv ...`.
#[derive(Debug, Clone, PartialEq)]
pub enum KvCmd {
    Get {
        key: String,
    },
    Put {
        key: String,
        value: Vec<u8>,
    },
    Del {
        key: String,
    },
    Ls {
        prefix: String,
        limit: u16,
        after: String,
    },
}

/// `ringwire client kv ...`.
pub fn command() -> Command {
    let key = || {
        Arg::new("key")
            .required(true)
            .help("The key: 1 to 511 bytes")
    };
    Command::new("kv")
        .about("The key-value store: get, put, del, ls (exit 1 when a key is not found)")
        .subcommand_required(true)
        .subcommand(Command::new("get").about("Print a key's value").arg(key()))
        .subcommand(
            Command::new("put")
                .about("Set a key (answered once durable per db.sync)")
                .arg(key())
                .arg(
                    Arg::new("value")
                        .required(true)
                        .help("The value; - reads it from stdin"),
                ),
        )
        .subcommand(Command::new("del").about("Delete a key").arg(key()))
        .subcommand(
            Command::new("ls")
                .about("List keys by prefix, in byte order")
                .arg(
                    Arg::new("prefix")
                        .default_value("")
                        .help("Keys start with it"),
                )
                .arg(
                    Arg::new("limit")
                        .long("limit")
                        .value_name("N")
                        .help("At most N keys [default: 100]"),
                )
                .arg(
                    Arg::new("after")
                        .long("after")
                        .value_name("KEY")
                        .help("Start after this key"),
                ),
        )
}

/// Reads the parsed `ringwire client kv` arguments.
pub fn parse(m: &ArgMatches) -> Result<KvCmd, String> {
    let (name, sub) = m
        .subcommand()
        .ok_or("ringwire client kv: get, put, del or ls")?;
    let text = |k: &str| sub.get_one::<String>(k).cloned().unwrap_or_default();
    let key = || {
        let k = text("key");
        if k.is_empty() || k.len() > 511 {
            return Err(format!("a key must be 1 to 511 bytes, got {}", k.len()));
        }
        Ok(k)
    };
    Ok(match name {
        "get" => KvCmd::Get { key: key()? },
        "del" => KvCmd::Del { key: key()? },
        "put" => {
            let v = text("value");
            let value = if v == "-" {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                    .map_err(|e| format!("reading the value from stdin: {e}"))?;
                buf
            } else {
                v.into_bytes()
            };
            KvCmd::Put { key: key()?, value }
        }
        "ls" => KvCmd::Ls {
            prefix: text("prefix"),
            limit: match sub.get_one::<String>("limit") {
                Some(l) => l
                    .parse()
                    .ok()
                    .filter(|n: &u16| *n >= 1)
                    .ok_or(format!("--limit: expected 1 to 1000, got {l:?}"))?,
                None => 100,
            },
            after: text("after"),
        },
        other => return Err(format!("ringwire client kv: unknown subcommand {other:?}")),
    })
}

/// A `kv` stream with its receive buffer: one request, one answer at a time (the load
/// generator keeps many in flight with the same parts).
pub struct KvConn {
    stream: Stream,
    buf: Vec<u8>,
}

impl KvConn {
    pub async fn open(client: &Client) -> io::Result<KvConn> {
        Ok(KvConn {
            stream: client.open("kv").await?,
            buf: Vec::new(),
        })
    }

    pub async fn send(&self, req: &Request<'_>) -> io::Result<()> {
        let mut out = Vec::new();
        kv::encode_request(req, &mut out);
        self.stream.send(&out).await
    }

    /// The next answer's body (owned), `None` when the stream ended.
    pub async fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            match kv::split(&self.buf).map_err(bad)? {
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

    pub fn finish(&self) -> io::Result<()> {
        self.stream.finish()
    }
}

fn bad(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bad kv answer: {e}"))
}

/// Runs one command; `Ok(false)` when the key was not found (exit 1, like `grep`).
pub async fn run(client: &Client, cmd: KvCmd, out: &mut impl Write) -> io::Result<bool> {
    let mut c = KvConn::open(client).await?;
    let (req, op) = match &cmd {
        KvCmd::Get { key } => (
            Request::Get {
                id: 1,
                key: key.as_bytes(),
            },
            Op::Get,
        ),
        KvCmd::Put { key, value } => (
            Request::Put {
                id: 1,
                cond: Cond::Any,
                key: key.as_bytes(),
                value,
            },
            Op::Put,
        ),
        KvCmd::Del { key } => (
            Request::Delete {
                id: 1,
                cond: Cond::Any,
                key: key.as_bytes(),
            },
            Op::Delete,
        ),
        KvCmd::Ls {
            prefix,
            limit,
            after,
        } => (
            Request::Scan {
                id: 1,
                prefix: prefix.as_bytes(),
                after: after.as_bytes(),
                limit: *limit,
            },
            Op::Scan,
        ),
    };
    c.send(&req).await?;
    c.finish()?;
    let body = c.next().await?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server ended the stream without an answer",
        )
    })?;
    match kv::decode_response(&body, op).map_err(bad)? {
        Response::Value { value, version, .. } => {
            out.write_all(value)?;
            if !value.ends_with(b"\n") {
                writeln!(out)?;
            }
            eprintln!("version {version}");
        }
        Response::Written {
            version, created, ..
        } => {
            writeln!(
                out,
                "{} (version {version})",
                if created { "created" } else { "updated" }
            )?;
        }
        Response::Deleted { .. } => writeln!(out, "deleted")?,
        Response::Keys { keys, next, .. } => {
            for k in keys {
                writeln!(out, "{}", String::from_utf8_lossy(k))?;
            }
            if let Some(n) = next {
                eprintln!("more: --after {}", String::from_utf8_lossy(n));
            }
        }
        Response::NotFound { .. } => return Ok(false),
        Response::Conflict { current, .. } => {
            return Err(io::Error::other(format!(
                "conflict: the current version is {current}"
            )));
        }
        Response::RateLimited { retry_after_ms, .. } => {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("rate limited: retry in {retry_after_ms} ms"),
            ));
        }
        Response::Failed {
            status, message, ..
        } => {
            let (kind, hint) = match status {
                Status::Busy => (io::ErrorKind::WouldBlock, ""),
                Status::TooLarge | Status::BadRequest => (io::ErrorKind::InvalidInput, ""),
                Status::Unauthorized => (
                    io::ErrorKind::PermissionDenied,
                    " (give a valid token with --token TOKEN or RINGWIRE_TOKEN; `ringwire \
                     token issue` makes one)",
                ),
                Status::Forbidden => (
                    io::ErrorKind::PermissionDenied,
                    " (the token needs a kv:read: or kv:write: scope covering this key, or the \
                     server serves only loopback clients until it has auth keys)",
                ),
                _ => (io::ErrorKind::Other, ""),
            };
            return Err(io::Error::new(kind, format!("{message}{hint}")));
        }
    }
    Ok(true)
}
