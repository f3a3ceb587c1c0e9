//! Helpers for the edge tests (tokens, protected mode, limits, shedding): keys and tokens made
//! with the real `ringwire token` CLI, keep-alive HTTP connections (optionally from a chosen
//! loopback address), and reading counters off `/metrics`.
#![allow(dead_code)] // each test file uses a different subset

use super::{Response, Server, read_response};
use std::{
    io::{BufRead, BufReader, ErrorKind, Read, Write},
    net::{IpAddr, SocketAddr, TcpStream},
    process::Command,
    time::Duration,
};

/// A key pair made by `ringwire token keygen` in a temporary directory, which is also a valid
/// `--auth-keys` directory (the server reads only its `*.pub`).
pub struct Keys {
    pub dir: tempfile::TempDir,
    /// The private key's path, for `ringwire token issue --key`.
    pub key: String,
}

impl Keys {
    pub fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
            .args(["token", "keygen", "--out"])
            .arg(dir.path().join("k"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let kid = text
            .lines()
            .find_map(|l| l.strip_prefix("kid: "))
            .unwrap_or_else(|| panic!("no kid in {text:?}"));
        let key = dir.path().join("k").join(format!("{kid}.key"));
        Keys {
            key: key.to_str().unwrap().to_string(),
            dir,
        }
    }

    /// The `--auth-keys` directory.
    pub fn path(&self) -> String {
        self.dir.path().join("k").to_str().unwrap().to_string()
    }

    /// A token for `sub` with `scopes`, valid for an hour.
    pub fn issue(&self, sub: &str, scopes: &[&str]) -> String {
        let mut args = vec!["token", "issue", "--key", &self.key, "--sub", sub];
        for s in scopes {
            args.extend(["--scope", s]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

/// The stable code of an error body (text form `<code>: <message> (request <id>)`).
pub fn code(r: &Response) -> String {
    let body = String::from_utf8_lossy(&r.body);
    body.split(':')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Opens a TCP connection to `to` from local address `from` (any port), e.g. 127.0.0.2: all of
/// 127.0.0.0/8 is loopback on Linux.
pub fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    sock.bind(&SocketAddr::new(from, 0).into())?;
    sock.connect_timeout(&to.into(), Duration::from_secs(10))?;
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    r: BufReader<TcpStream>,
}

impl Conn {
    pub fn new(s: TcpStream) -> Conn {
        Conn {
            r: BufReader::new(s),
        }
    }

    pub fn open(server: &Server) -> Conn {
        Conn::new(server.connect())
    }

    /// Sends `GET path` with `extra` header lines (each ending in `\r\n`); the response, or
    /// `None` if the server closed the connection.
    pub fn get(&mut self, path: &str, extra: &str) -> Option<Response> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
        self.r.get_mut().write_all(req.as_bytes()).ok()?;
        read_response(&mut self.r, false)
    }

    /// Sends `GET path`: `Some(response)`, or `None` if the server closed the connection
    /// without sending a byte (EOF or reset). Panics if it does neither within the read
    /// timeout.
    pub fn get_or_closed(&mut self, path: &str) -> Option<Response> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        if self.r.get_mut().write_all(req.as_bytes()).is_err() {
            return None; // closed before the request went out
        }
        match self.r.fill_buf() {
            Ok([]) => None,
            Ok(_) => Some(read_response(&mut self.r, false).expect("a whole response")),
            Err(e) if closed(&e) => None,
            Err(e) => panic!("neither an answer nor a close: {e}"),
        }
    }

    /// Whether the server closed the connection without sending a byte (reads until EOF or
    /// reset; a byte read is a `false`).
    pub fn closed_without_a_byte(&mut self) -> bool {
        let mut buf = [0u8; 256];
        match self.r.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => closed(&e),
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        self.r.get_mut()
    }
}

/// Whether `e` means the peer closed the connection.
fn closed(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

/// The value of the sample `name` (with its labels exactly as printed, e.g.
/// `ringwire_edge_denied_total{reason="overloaded"}`) on the admin `/metrics`; 0 if absent.
pub fn metric(server: &Server, name: &str) -> f64 {
    let (status, body) = server.admin_get("/metrics");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The core that answered, from a server-made `X-Request-Id` (hex digits 12..16).
pub fn core_of(r: &Response) -> Option<u16> {
    let id = r.header("x-request-id")?;
    u16::from_str_radix(id.get(12..16)?, 16).ok()
}
