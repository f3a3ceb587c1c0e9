//! A small stream-protocol server built straight on the codec, so the client is tested
//! without the real server. Services:
//!
//! - `echo`: every payload back, END when the client ends; what it has not echoed yet stays
//!   unconsumed, so a client that does not read stalls the client's own sends.
//! - `sink`: keeps what it receives unconsumed until a `release` stream is opened, then
//!   consumes everything from then on; at the client's END it answers with the byte count.
//! - `release`: see `sink`.
//! - `reset`: RESET SERVICE_ERROR at once.
//! - `goaway`: starts a drain (GOAWAY NO_ERROR "draining"), then acts like `echo`. The
//!   connection closes once no stream is left.
//! - `kill`: GOAWAY INTERNAL_ERROR "test kill" and close.
//! - anything else: RESET UNKNOWN_SERVICE.

use ringwire_protocol::stream::{Connection, ErrorCode, Event, Role, Settings};
use ringwire_reactor::{
    net::{TcpListener, TcpStream},
    spawn_local,
};
use std::{cell::RefCell, collections::HashMap, net::SocketAddr, rc::Rc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upgrade {
    /// Speak the stream protocol from the first byte.
    No,
    /// Expect an HTTP/1.1 upgrade request and answer 101.
    Accept,
    /// Answer the upgrade request with 404.
    Refuse,
}

#[derive(Clone)]
pub struct Config {
    pub settings: Settings,
    pub upgrade: Upgrade,
    /// Answer the client's HELLO with GOAWAY of this code instead of a HELLO.
    pub refuse_handshake: Option<ErrorCode>,
    /// Write every output batch in 7-byte pieces, so frames reach the client split.
    pub dribble: bool,
    /// The one token accepted in AUTH; any other gets GOAWAY UNAUTHENTICATED "invalid token".
    pub token: Option<Vec<u8>>,
    pub log: Rc<RefCell<Log>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            settings: Settings::default(),
            upgrade: Upgrade::No,
            refuse_handshake: None,
            dribble: false,
            token: None,
            log: Rc::default(),
        }
    }
}

/// What the server saw, for the tests to check.
#[derive(Default, Debug)]
pub struct Log {
    /// Stream id and payload length of every DATA frame, in arrival order.
    pub data: Vec<(u32, usize)>,
    /// Streams the client reset, with the code.
    pub resets: Vec<(u32, ErrorCode)>,
    /// Upgrade request heads.
    pub requests: Vec<String>,
    pub connections: usize,
    pub closed: usize,
    /// Every token presented in AUTH.
    pub tokens: Vec<Vec<u8>>,
}

/// Starts the server on an ephemeral loopback port of the current runtime.
pub fn start(cfg: Config) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    spawn_local(async move {
        while let Ok(sock) = listener.accept().await {
            let cfg = cfg.clone();
            cfg.log.borrow_mut().connections += 1;
            spawn_local(async move {
                serve(&sock, &cfg).await;
                cfg.log.borrow_mut().closed += 1;
            });
        }
    });
    addr
}

#[derive(PartialEq)]
enum Kind {
    Echo,
    Sink,
    Release,
}

struct Srv {
    kind: Kind,
    /// Received, not yet echoed (echo) or not yet consumed (sink).
    pending: Vec<u8>,
    held: usize,
    total: usize,
    end: bool,
    done: bool,
}

async fn serve(sock: &TcpStream, cfg: &Config) {
    sock.set_nodelay(true).unwrap();
    let mut input = Vec::new();
    if cfg.upgrade != Upgrade::No {
        let Some(rest) = answer_upgrade(sock, cfg).await else {
            return;
        };
        input = rest;
    }
    let mut conn = Connection::new(Role::Server, cfg.settings).unwrap();
    let mut out = Vec::new();
    let mut streams: HashMap<u32, Srv> = HashMap::new();
    let mut released = false;
    loop {
        let mut pos = 0;
        let mut fatal = false;
        if let (Some(code), false) = (cfg.refuse_handshake, input.is_empty()) {
            conn.goaway(code, b"go away", &mut out).unwrap();
            fatal = true;
        }
        while !fatal {
            let (used, event) = match conn.decode(&input[pos..], &mut out) {
                Ok(step) => step,
                Err(_) => {
                    fatal = true;
                    break;
                }
            };
            pos += used;
            let Some(event) = event else { break };
            match event {
                Event::Auth(token) => {
                    cfg.log.borrow_mut().tokens.push(token.to_vec());
                    if cfg.token.as_deref() == Some(token) {
                        conn.accept_hello(&mut out).unwrap();
                    } else {
                        conn.goaway(ErrorCode::UNAUTHENTICATED, b"invalid token", &mut out)
                            .unwrap();
                        fatal = true;
                    }
                }
                Event::StreamOpened { id, service } => {
                    let kind = match service {
                        "echo" => Kind::Echo,
                        "sink" => Kind::Sink,
                        "release" => {
                            released = true;
                            Kind::Release
                        }
                        "goaway" => {
                            conn.goaway(ErrorCode::NO_ERROR, b"draining", &mut out)
                                .unwrap();
                            Kind::Echo
                        }
                        "kill" => {
                            conn.goaway(ErrorCode::INTERNAL_ERROR, b"test kill", &mut out)
                                .unwrap();
                            fatal = true;
                            break;
                        }
                        "reset" => {
                            conn.reset(id, ErrorCode::SERVICE_ERROR, &mut out).unwrap();
                            continue;
                        }
                        _ => {
                            conn.reset(id, ErrorCode::UNKNOWN_SERVICE, &mut out)
                                .unwrap();
                            continue;
                        }
                    };
                    let s = Srv {
                        kind,
                        pending: Vec::new(),
                        held: 0,
                        total: 0,
                        end: false,
                        done: false,
                    };
                    streams.insert(id, s);
                }
                Event::Data { id, data, end } => {
                    cfg.log.borrow_mut().data.push((id, data.len()));
                    let Some(s) = streams.get_mut(&id) else {
                        continue;
                    };
                    s.end |= end;
                    s.total += data.len();
                    s.held += data.len();
                    if s.kind == Kind::Echo {
                        s.pending.extend_from_slice(data);
                    }
                }
                Event::Reset { id, code } => {
                    cfg.log.borrow_mut().resets.push((id, code));
                    streams.remove(&id);
                }
                _ => {}
            }
        }
        input.drain(..pos);
        if !fatal {
            pump(&mut conn, &mut streams, released, &mut out);
        }
        if !out.is_empty() {
            let batch = std::mem::take(&mut out);
            if write(sock, batch, cfg.dribble).await.is_err() {
                return;
            }
        }
        let drained = conn.goaway_sent().is_some() && conn.open_streams() == 0;
        if fatal || drained {
            return;
        }
        match sock.recv().await {
            Ok(Some(buf)) => input.extend_from_slice(&buf),
            _ => return,
        }
    }
}

/// Sends what each stream owes and consumes what it has dealt with.
fn pump(conn: &mut Connection, streams: &mut HashMap<u32, Srv>, released: bool, out: &mut Vec<u8>) {
    for (&id, s) in streams.iter_mut() {
        if s.done {
            continue;
        }
        match s.kind {
            Kind::Echo => {
                let sent = conn.send_data(id, &s.pending, s.end, out).unwrap_or(0);
                s.pending.drain(..sent);
                conn.consume(id, sent, out).unwrap();
                s.held -= sent;
                // With `end`, the frame carrying the last byte (or a bare one) had END_STREAM.
                s.done = s.end && s.pending.is_empty();
            }
            Kind::Sink | Kind::Release => {
                if released || s.kind == Kind::Release {
                    conn.consume(id, s.held, out).unwrap();
                    s.held = 0;
                }
                if s.end {
                    let total = s.total.to_string();
                    conn.send_data(id, total.as_bytes(), true, out).unwrap();
                    s.done = true;
                }
            }
        }
    }
    streams.retain(|_, s| !s.done);
}

async fn write(sock: &TcpStream, batch: Vec<u8>, dribble: bool) -> std::io::Result<()> {
    if !dribble {
        return sock.write_all(batch).await.0;
    }
    for piece in batch.chunks(7) {
        sock.write_all(piece.to_vec()).await.0?;
    }
    Ok(())
}

/// Reads the upgrade request head and answers it; returns the bytes after the head.
async fn answer_upgrade(sock: &TcpStream, cfg: &Config) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        head.extend_from_slice(&sock.recv().await.ok()??);
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    cfg.log.borrow_mut().requests.push(text);
    let answer: &[u8] = match cfg.upgrade {
        Upgrade::Accept => {
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\
              Upgrade: ringwire-stream/1\r\n\r\n"
        }
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    };
    sock.write_all(answer.to_vec()).await.0.ok()?;
    (cfg.upgrade == Upgrade::Accept).then(|| head[end..].to_vec())
}
