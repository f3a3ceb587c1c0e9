//! Load and probes for the PostgreSQL failure tests (`tests/pg_failures.rs`, `tests/pg_nodes.rs`):
//! a small HTTP client over std `TcpStream` with a per-request timeout, client threads that
//! write in a loop and remember every answer, and metric lookups. Included with
//! `#[path = "util/pgload.rs"] mod pgload;` next to `mod util;`.
#![allow(dead_code)] // each test file uses a different subset

use crate::util::{Server, read_response};
use std::{
    io::{BufReader, Write},
    net::{SocketAddr, TcpStream},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// How long a client waits for an answer before it calls the request hung. Well above the
/// 5 s the issue allows, so that a slow answer is told apart from no answer.
pub const HUNG: Duration = Duration::from_secs(15);

/// One answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub etag: Option<String>,
    pub body: Vec<u8>,
    /// From connecting to the end of the response.
    pub elapsed: Duration,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A 503 that says when to come back: `Retry-After` of a whole number of seconds >= 1.
    pub fn has_retry_after(&self) -> bool {
        self.retry_after
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s >= 1)
    }
}

/// One request on a fresh connection (`Connection: close`); `Err` when there is no complete
/// answer within `timeout` (or the connection fails).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<Reply, String> {
    let start = Instant::now();
    let s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout)).unwrap();
    s.set_write_timeout(Some(timeout)).unwrap();
    let _ = s.set_nodelay(true);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if method == "PUT" || !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    (&s).write_all(&bytes).map_err(|e| format!("send: {e}"))?;
    let r = read_response(&mut BufReader::new(&s), method == "HEAD").ok_or_else(|| {
        format!(
            "{method} {path}: no complete answer after {:?}",
            start.elapsed()
        )
    })?;
    Ok(Reply {
        status: r.status,
        retry_after: r.header("retry-after").map(str::to_owned),
        etag: r.header("etag").map(str::to_owned),
        body: r.body,
        elapsed: start.elapsed(),
    })
}

pub fn put(addr: SocketAddr, key: &str, value: &[u8]) -> Result<Reply, String> {
    request(addr, "PUT", &format!("/kv/{key}"), &[], value, HUNG)
}

pub fn get(addr: SocketAddr, key: &str) -> Result<Reply, String> {
    request(addr, "GET", &format!("/kv/{key}"), &[], b"", HUNG)
}

/// `--db-backend postgres --db-url URL` and the rest.
pub fn pg_args(url: &str, rest: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["--db-backend", "postgres", "--db-url", url]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

/// `ringwire serve` on the PostgreSQL at `url`.
pub fn start_pg(io: &str, url: &str, rest: &[&str]) -> Server {
    let args = pg_args(url, rest);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(io, &args)
}

/// The status of `/health/ready`.
pub fn ready(s: &Server) -> u16 {
    s.admin_get("/health/ready").0
}

/// Polls `/health/ready` every 100 ms until it answers `want`; how long that took, or `None`
/// after `limit`.
pub fn wait_ready(s: &Server, want: u16, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready(s) == want {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(100));
    }
    None
}

/// The value of the sample `name{labels}` (written exactly as exposed, e.g.
/// `ringwire_db_breaker_state{core="all"}`) in a `/metrics` text.
pub fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(sample)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// As [`metric`], read from the server now; panics when the sample is missing.
pub fn metric_now(s: &Server, sample: &str) -> f64 {
    let (_, text) = s.admin_get("/metrics");
    metric(&text, sample).unwrap_or_else(|| panic!("no {sample} in /metrics:\n{text}"))
}

/// One request a client thread made.
#[derive(Debug, Clone)]
pub struct Sample {
    pub method: &'static str,
    pub key: String,
    pub value: String,
    /// When it was sent.
    pub at: Instant,
    pub reply: Result<Reply, String>,
}

impl Sample {
    pub fn status(&self) -> Option<u16> {
        self.reply.as_ref().ok().map(|r| r.status)
    }

    pub fn ok(&self) -> bool {
        matches!(self.status(), Some(200 | 201 | 204))
    }
}

/// Client threads writing (PUT) unique keys in a loop, each PUT acknowledged followed by a
/// GET of it when `read_back` is set, until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    /// Requests answered (or given up on) so far.
    done: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<Vec<Sample>>>,
}

impl Load {
    pub fn start(addr: SocketAddr, clients: usize, prefix: &str, read_back: bool) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let threads = (0..clients)
            .map(|t| {
                let (stop, prefix, count) = (stop.clone(), prefix.to_string(), done.clone());
                thread::spawn(move || {
                    let mut samples = Vec::new();
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let (key, value) = (format!("{prefix}{t}-{i}"), format!("v{t}-{i}"));
                        i += 1;
                        let at = Instant::now();
                        let reply = put(addr, &key, value.as_bytes());
                        count.fetch_add(1, Ordering::Relaxed);
                        let acked = matches!(&reply, Ok(r) if r.status == 201 || r.status == 204);
                        let method = "PUT";
                        let (k, v) = (key.clone(), value.clone());
                        samples.push(Sample {
                            method,
                            key,
                            value,
                            at,
                            reply,
                        });
                        if !acked {
                            // Not a tight loop of fast 503s on a 2-core machine.
                            thread::sleep(Duration::from_millis(10));
                        }
                        if read_back && acked {
                            let at = Instant::now();
                            let reply = get(addr, &k);
                            count.fetch_add(1, Ordering::Relaxed);
                            samples.push(Sample {
                                method: "GET",
                                key: k,
                                value: v,
                                at,
                                reply,
                            });
                        }
                    }
                    samples
                })
            })
            .collect();
        Load {
            stop,
            done,
            threads,
        }
    }

    /// Requests done so far.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    /// Waits until `more` further requests are done; panics after `limit`.
    pub fn wait_for(&self, more: usize, limit: Duration) {
        let (want, start) = (self.done() + more, Instant::now());
        while self.done() < want {
            assert!(
                start.elapsed() < limit,
                "the clients did {} of {want} requests in {limit:?}",
                self.done()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the clients after their current request; every sample, in no particular order
    /// across threads.
    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().expect("client thread"))
            .collect()
    }
}

/// Runs `ringwire ARGS` for at most `limit` (killed after it): the exit code (`None` if it
/// had to be killed), stderr, and how long it ran.
pub fn run_for(args: &[&str], limit: Duration) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (code, err, elapsed)
}
