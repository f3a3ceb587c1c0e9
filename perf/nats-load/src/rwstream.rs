//! Just enough of ringwire's stream protocol (docs/PROTOCOL.md) on tokio for one `pubsub`
//! stream per connection: the handshake, OPEN, DATA both ways within the peer's windows,
//! WINDOW_UPDATE back once half a window is consumed (the ringwire client's policy), PONG for
//! PING. Messages are assumed to fit one DATA frame (under 16 KiB with the default settings),
//! so the server never splits them; an empty DATA frame (a split's marker) is skipped.
//! With `--tls` the connection is TLS (ALPN `ringwire-stream/1`, [`crate::tls`]).

use crate::tls::{Io, Tls};
use std::{io, net::SocketAddr};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const VERSION: u8 = 1;
const HELLO: u8 = 0;
const OPEN: u8 = 1;
const DATA: u8 = 2;
const RESET: u8 = 3;
const WINDOW_UPDATE: u8 = 4;
const PING: u8 = 5;
const PONG: u8 = 6;
const GOAWAY: u8 = 7;
const HEADER: usize = 12;
/// The one stream each connection opens.
const STREAM: u32 = 1;

/// The settings this side announces: the protocol's defaults, as the ringwire client sends.
const MAX_FRAME_SIZE: u32 = 16_384;
const STREAM_WINDOW: u32 = 256 * 1024;
const CONN_WINDOW: u32 = 1024 * 1024;

fn frame(out: &mut Vec<u8>, ty: u8, flags: u16, stream: u32, payload: &[u8]) {
    out.push(VERSION);
    out.push(ty);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Writes `bytes` and flushes: TLS may keep the last records in its buffer until flushed.
async fn write(io: &mut Io, bytes: &[u8]) -> io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().expect("4 bytes"))
}

pub struct Conn {
    /// Used by one task, reading and writing in turn: no split.
    io: Io,
    buf: Vec<u8>,
    pos: usize,
    /// Bytes of DATA this side may still send, on the stream and on the connection.
    send_stream: i64,
    send_conn: i64,
    /// Consumed DATA bytes not yet given back, on the stream and on the connection.
    owed_stream: u32,
    owed_conn: u32,
    /// Frames to write on the next `flush`: WINDOW_UPDATEs and PONGs.
    pending: Vec<u8>,
}

impl Conn {
    /// Connects, exchanges HELLOs and opens stream 1 on `service` with `first` as its first
    /// DATA frame (the pubsub command line); with `tls`, after a TLS handshake that checks
    /// the server's certificate against `host` (or `--tls-server-name`).
    pub async fn open(
        addr: SocketAddr,
        host: &str,
        tls: Option<&Tls>,
        service: &str,
        first: &[u8],
    ) -> io::Result<Conn> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let mut io = match tls {
            Some(tls) => Io::Tls(Box::new(tls.connect(tcp, host).await?)),
            None => Io::Plain(tcp),
        };
        let mut hello = Vec::new();
        for (id, v) in [
            (1u16, MAX_FRAME_SIZE),
            (2, STREAM_WINDOW),
            (3, CONN_WINDOW),
            (4, 100),
            (5, 64),
        ] {
            hello.extend_from_slice(&id.to_be_bytes());
            hello.extend_from_slice(&v.to_be_bytes());
        }
        let mut out = Vec::new();
        frame(&mut out, HELLO, 0, 0, &hello);
        write(&mut io, &out).await?;
        let mut c = Conn {
            io,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            // The protocol's defaults until the server's HELLO says otherwise.
            send_stream: 256 * 1024,
            send_conn: 1024 * 1024,
            owed_stream: 0,
            owed_conn: 0,
            pending: Vec::new(),
        };
        // The server's HELLO (or a GOAWAY refusing us).
        loop {
            if c.buf.len() - c.pos >= HEADER {
                let h = &c.buf[c.pos..];
                let len = be32(&h[8..]) as usize;
                if c.buf.len() - c.pos >= HEADER + len {
                    if h[1] != HELLO {
                        return Err(io::Error::other(format!(
                            "expected the server's HELLO, got frame type {}",
                            h[1]
                        )));
                    }
                    let settings = &h[HEADER..HEADER + len];
                    let mut conn_window = 1024 * 1024;
                    for s in settings.chunks_exact(6) {
                        let v = i64::from(be32(&s[2..]));
                        match u16::from_be_bytes([s[0], s[1]]) {
                            2 => c.send_stream = v,
                            3 => conn_window = v,
                            _ => {}
                        }
                    }
                    c.send_conn = conn_window;
                    c.pos += HEADER + len;
                    break;
                }
            }
            if c.io.read_buf(&mut c.buf).await? == 0 {
                return Err(io::Error::other("the server closed during the handshake"));
            }
        }
        let mut out = Vec::new();
        frame(&mut out, OPEN, 0, STREAM, service.as_bytes());
        frame(&mut out, DATA, 0, STREAM, first);
        c.send_stream -= first.len() as i64;
        c.send_conn -= first.len() as i64;
        write(&mut c.io, &out).await?;
        Ok(c)
    }

    /// How many DATA frames of `len` bytes the windows allow now.
    pub fn room(&self, len: usize) -> u64 {
        (self.send_stream.min(self.send_conn).max(0) as u64) / len.max(1) as u64
    }

    /// Sends `n` messages of `len` bytes, each one DATA frame filled by `fill(i, payload)`;
    /// the caller checked [`Conn::room`].
    pub async fn send(
        &mut self,
        n: u64,
        len: usize,
        mut fill: impl FnMut(u64, &mut [u8]),
    ) -> io::Result<()> {
        let mut out = Vec::with_capacity(n as usize * (HEADER + len));
        let zeros = vec![b'x'; len];
        for i in 0..n {
            let at = out.len() + HEADER;
            frame(&mut out, DATA, 0, STREAM, &zeros);
            fill(i, &mut out[at..at + len]);
        }
        let bytes = (n as usize * len) as i64;
        self.send_stream -= bytes;
        self.send_conn -= bytes;
        write(&mut self.io, &out).await
    }

    /// Reads once (cancel-safe: the only await is the read) and handles every whole frame:
    /// each non-empty DATA payload goes to `on_message`. `Ok(false)`: the server closed.
    pub async fn read(&mut self, on_message: impl FnMut(&[u8])) -> io::Result<bool> {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.io.read_buf(&mut self.buf).await? == 0 {
            return Ok(false);
        }
        self.frames(on_message)?;
        Ok(true)
    }

    fn frames(&mut self, mut on_message: impl FnMut(&[u8])) -> io::Result<()> {
        loop {
            let rest = &self.buf[self.pos..];
            if rest.len() < HEADER {
                return Ok(());
            }
            let (ty, stream, len) = (rest[1], be32(&rest[4..]), be32(&rest[8..]) as usize);
            if rest.len() < HEADER + len {
                return Ok(());
            }
            let payload = &rest[HEADER..HEADER + len];
            match ty {
                DATA => {
                    if len > 0 {
                        on_message(payload);
                    }
                    self.owed_stream += len as u32;
                    self.owed_conn += len as u32;
                    if self.owed_stream >= STREAM_WINDOW / 2 {
                        frame(
                            &mut self.pending,
                            WINDOW_UPDATE,
                            0,
                            STREAM,
                            &self.owed_stream.to_be_bytes(),
                        );
                        self.owed_stream = 0;
                    }
                    if self.owed_conn >= CONN_WINDOW / 2 {
                        frame(
                            &mut self.pending,
                            WINDOW_UPDATE,
                            0,
                            0,
                            &self.owed_conn.to_be_bytes(),
                        );
                        self.owed_conn = 0;
                    }
                }
                WINDOW_UPDATE => {
                    let inc = i64::from(be32(payload));
                    if stream == 0 {
                        self.send_conn += inc;
                    } else {
                        self.send_stream += inc;
                    }
                }
                PING => {
                    let p = payload.to_vec();
                    frame(&mut self.pending, PONG, 0, 0, &p);
                }
                RESET => {
                    return Err(io::Error::other(format!(
                        "the server reset the stream (error code {:#x}{})",
                        be32(payload),
                        if be32(payload) == 0xb {
                            ": SLOW_CONSUMER"
                        } else {
                            ""
                        }
                    )));
                }
                GOAWAY => {
                    return Err(io::Error::other(format!(
                        "the server sent GOAWAY (error code {:#x}): {}",
                        be32(&payload[4..]),
                        String::from_utf8_lossy(&payload[8..])
                    )));
                }
                PONG => {}
                t => return Err(io::Error::other(format!("unexpected frame type {t}"))),
            }
            self.pos += HEADER + len;
        }
    }

    /// Writes the WINDOW_UPDATEs and PONGs that reading produced.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            write(&mut self.io, &self.pending).await?;
            self.pending.clear();
        }
        Ok(())
    }
}
