//! Starting the real `ringwire` binary and talking to it over real sockets.
#![allow(dead_code)] // each test file uses a different subset

pub mod channel_steps;
pub mod channels;
pub mod edge;
pub mod kvstream;
pub mod nats;
pub mod netns;
pub mod pg;
pub mod sse;
pub mod tls;
pub mod tokens;
pub mod wire;

use std::{
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

/// One test per backend: `name::uring` and `name::epoll`, each starting its own server. The
/// io_uring variant prints `SKIPPED` and returns where io_uring is missing, or fails when
/// `RINGWIRE_REQUIRE_URING=1` (see `ringwire_reactor::testing`).
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* fn $name:ident($io:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)] // tests that use nothing from their file still get the glob
            use super::*;
            $(#[$meta])*
            fn run($io: &'static str) $body

            #[test]
            fn uring() {
                if !ringwire_reactor::testing::uring_or_skip(concat!(stringify!($name), "::uring")) {
                    return;
                }
                run("uring")
            }

            #[test]
            fn epoll() {
                run("epoll")
            }
        }
    };
}

/// Why io_uring cannot be used here, if it cannot. Probed on a thread of its own: a ring's
/// teardown can interrupt the creating thread's next blocking socket call with EINTR.
pub fn uring_unavailable() -> Option<String> {
    ringwire_reactor::testing::uring_unavailable()
}

/// A running `ringwire serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The admin endpoints' address (`None` if the test turned them off).
    pub admin: Option<SocketAddr>,
    /// The stream protocol's own listener (`None` if the test turned it off).
    pub stream: Option<SocketAddr>,
    log: Arc<Mutex<String>>,
    /// The data directory, private to this server unless the test passed `--data-dir`.
    pub data: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `ringwire serve --io <io> --listen 127.0.0.1:0 --admin 127.0.0.1:0 <args>` and
    /// waits until it listens.
    pub fn start(io: &str, args: &[&str]) -> Server {
        Self::start_with_env(io, args, &[])
    }

    /// Like [`Server::start`], with extra environment variables.
    pub fn start_with_env(io: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringwire"));
        cmd.args(["serve", "--io", io]);
        if !args.contains(&"--log-level") {
            cmd.args(["--log-level", "info"]);
        }
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        let data = (!args.contains(&"--data-dir")).then(|| tempfile::tempdir().unwrap());
        if let Some(d) = &data {
            cmd.arg("--data-dir").arg(d.path());
        }
        if !args.contains(&"--admin") {
            cmd.args(["--admin", "127.0.0.1:0"]);
        }
        if !args.contains(&"--stream-listen") {
            cmd.args(["--stream-listen", "127.0.0.1:0"]);
        }
        // Overload shedding reacts to a loop that runs late, which a test machine starved by
        // other processes (a build, a parallel test) causes by itself: only the tests about
        // shedding turn it on (tests/edge_overload.rs).
        if !args.contains(&"--shed-queue-delay") {
            cmd.args(["--shed-queue-delay", "0s"]);
        }
        let mut child = cmd
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ringwire");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        thread::spawn(move || {
            let markers = [
                ("http", "listening on http://"),
                ("http", "listening on https://"),
                ("admin", "admin endpoints on http://"),
                ("stream", "stream protocol on tcp://"),
                ("stream", "stream protocol on tls://"),
            ];
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                for (key, marker) in markers {
                    if let Some(rest) = line.split(marker).nth(1) {
                        let addr = rest
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_string();
                        let _ = tx.send((key, addr));
                    }
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let off = |flag: &str| args.windows(2).any(|w| w[0] == flag && w[1].is_empty());
        let disabled = args.windows(2).any(|w| w == ["--stream-enabled", "false"]);
        let (admin_off, stream_off) = (off("--admin"), off("--stream-listen") || disabled);
        let (mut addr, mut admin, mut stream) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(20);
        while addr.is_none() || (admin.is_none() && !admin_off) || (stream.is_none() && !stream_off)
        {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(("http", a)) => addr = Some(a.parse().expect("address in the log")),
                Ok(("stream", a)) => stream = Some(a.parse().expect("stream address in the log")),
                Ok((_, a)) => admin = Some(a.parse().expect("admin address in the log")),
                Err(_) => {
                    let _ = child.kill();
                    panic!("ringwire did not start:\n{}", log.lock().unwrap());
                }
            }
        }
        Server {
            child,
            addr: addr.unwrap(),
            admin,
            stream,
            log,
            data,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET on the admin endpoints: (status, body).
    pub fn admin_get(&self, path: &str) -> (u16, String) {
        let admin = self.admin.expect("admin endpoints are on");
        let mut s = TcpStream::connect(admin).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let r = read_response(&mut BufReader::new(s), false).expect("admin response");
        (r.status, String::from_utf8_lossy(&r.body).into_owned())
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed response read off a raw socket.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response (Content-Length or chunked or until close) from `r`.
pub fn read_response(r: &mut impl BufRead, head_request: bool) -> Option<Response> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_request || status == 304 || status == 204 || status < 200 {
        return Some(resp);
    }
    if let Some(len) = resp.header("content-length") {
        let mut body = vec![0; len.parse().ok()?];
        r.read_exact(&mut body).ok()?;
        resp.body = body;
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            line.clear();
            r.read_line(&mut line).ok()?;
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                line.clear();
                r.read_line(&mut line).ok()?;
                break;
            }
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).ok()?;
            resp.body.extend_from_slice(&chunk[..size]);
        }
    } else {
        r.read_to_end(&mut resp.body).ok()?;
    }
    Some(resp)
}

/// Sends raw bytes and reads one response.
pub fn raw(server: &Server, request: &[u8]) -> Option<Response> {
    let mut s = server.connect();
    s.write_all(request).unwrap();
    read_response(&mut BufReader::new(s), request.starts_with(b"HEAD "))
}

/// Runs curl with `args`; returns (stdout bytes, exit status).
pub fn curl(args: &[&str]) -> (Vec<u8>, i32) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl must be installed (scripts/test installs it)");
    (out.stdout, out.status.code().unwrap_or(-1))
}

/// Runs a Python 3 snippet with `ADDR` bound to "host:port"; returns stdout.
pub fn python(server: &Server, code: &str) -> String {
    let prelude = format!(
        "import http.client, socket, sys\nHOST, PORT = '{}', {}\n",
        server.addr.ip(),
        server.addr.port()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(prelude + code)
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The one value the crash tests write under `key` (16 B to 2 KiB, derived from the key), so a
/// torn or mixed-up value cannot pass for the acknowledged one.
pub fn value_of_key(key: &str) -> Vec<u8> {
    let seed = key.bytes().fold(1469598103934665603u64, |h, b| {
        (h ^ b as u64).wrapping_mul(1099511628211)
    });
    pattern(seed, 16 + (seed % 2000) as usize)
}

/// Deterministic pseudo-random bytes.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
