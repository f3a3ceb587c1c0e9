//! A blocking stream-protocol client for the tests, built straight on the sans-I/O codec, so
//! the server is tested independently of the async client library.

use ringwire_protocol::stream::{Connection, ErrorCode, Event, Role, Settings};
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

/// An event, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Hello,
    Data { id: u32, data: Vec<u8>, end: bool },
    Reset { id: u32, code: u32 },
    StreamError { id: u32, code: u32 },
    Refused { id: u32 },
    WindowOpened { id: u32 },
    Pong,
    GoAway { last_id: u32, code: u32 },
}

pub struct Wire {
    pub sock: TcpStream,
    pub conn: Connection,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Wire {
    pub fn connect(addr: SocketAddr) -> Wire {
        Self::connect_with(addr, Settings::default())
    }

    pub fn connect_with(addr: SocketAddr, settings: Settings) -> Wire {
        Self::over(TcpStream::connect(addr).unwrap(), settings, Vec::new())
    }

    /// Runs the handshake over `sock`; `already` holds bytes read past an HTTP upgrade.
    pub fn over(sock: TcpStream, settings: Settings, already: Vec<u8>) -> Wire {
        sock.set_nodelay(true).unwrap();
        let mut w = Wire {
            sock,
            conn: Connection::new(Role::Client, settings).unwrap(),
            buf: already,
            out: Vec::new(),
        };
        w.conn.hello(&mut w.out).unwrap();
        w.flush();
        assert_eq!(w.next(Duration::from_secs(5)), Some(Ev::Hello));
        w
    }

    pub fn flush(&mut self) {
        if !self.out.is_empty() {
            self.sock.write_all(&self.out).unwrap();
            self.out.clear();
        }
    }

    pub fn open(&mut self, service: &str) -> u32 {
        let id = self.conn.open_stream(service, &mut self.out).unwrap();
        self.flush();
        id
    }

    /// Sends what the windows allow; returns how much.
    pub fn send(&mut self, id: u32, data: &[u8], end: bool) -> usize {
        let n = self.conn.send_data(id, data, end, &mut self.out).unwrap();
        self.flush();
        n
    }

    pub fn consume(&mut self, id: u32, n: usize) {
        self.conn.consume(id, n, &mut self.out).unwrap();
        self.flush();
    }

    pub fn reset(&mut self, id: u32) {
        self.conn
            .reset(id, ErrorCode::CANCEL, &mut self.out)
            .unwrap();
        self.flush();
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).unwrap();
    }

    /// The next event, reading as needed; `None` at end of stream or after `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<Ev> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.buf.is_empty() {
                let (used, ev) = match self.conn.decode(&self.buf, &mut self.out) {
                    Ok(s) => s,
                    Err(_) => return None,
                };
                let owned = ev.map(|e| match e {
                    Event::Hello(_) => Ev::Hello,
                    Event::Data { id, data, end } => Ev::Data {
                        id,
                        data: data.to_vec(),
                        end,
                    },
                    Event::Reset { id, code } => Ev::Reset { id, code: code.0 },
                    Event::StreamError { id, code } => Ev::StreamError { id, code: code.0 },
                    Event::Refused { id } => Ev::Refused { id },
                    Event::WindowOpened { id } => Ev::WindowOpened { id },
                    Event::Pong(_) | Event::Ping(_) => Ev::Pong,
                    Event::GoAway { last_id, code, .. } => Ev::GoAway {
                        last_id,
                        code: code.0,
                    },
                    Event::StreamOpened { .. } => unreachable!("servers open no streams"),
                    Event::Auth(_) => unreachable!("a client is never sent AUTH"),
                });
                self.buf.drain(..used);
                self.flush();
                if let Some(ev) = owned {
                    return Some(ev);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 65536];
            match self.sock.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }

    /// Collects `want` bytes of DATA on stream `id` (consuming them), and whether END came.
    pub fn read_stream(&mut self, id: u32, want: usize, timeout: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        let mut ended = false;
        while (got.len() < want || want == usize::MAX) && !ended && Instant::now() < deadline {
            match self.next(deadline.saturating_duration_since(Instant::now())) {
                Some(Ev::Data { id: i, data, end }) if i == id => {
                    self.consume(id, data.len());
                    got.extend_from_slice(&data);
                    ended = end;
                }
                Some(_) => {}
                None => break,
            }
        }
        (got, ended)
    }
}
