//! A bare NATS subscriber connection (the text protocol: INFO, CONNECT, SUB, MSG/HMSG,
//! PING/PONG), as lean on the load CPU as the bare ringwire stream client in
//! [`crate::rwstream`], so that neither side of the fan-out comparison pays for a heavier
//! client (async-nats allocates and queues every message through a channel; with 100
//! subscribers on one load CPU that made the load generator, not the server, the limit).

use std::{io, net::SocketAddr};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

pub struct Sub {
    tcp: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    pending: Vec<u8>,
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

fn bad(what: &str, line: &[u8]) -> io::Error {
    io::Error::other(format!("{what}: {:?}", String::from_utf8_lossy(line)))
}

impl Sub {
    /// Connects, subscribes to `subject` and waits for the PONG that follows the SUB, so the
    /// subscription exists on the server when this returns.
    pub async fn subscribe(addr: SocketAddr, subject: &str) -> io::Result<Sub> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let mut s = Sub {
            tcp,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            pending: Vec::new(),
        };
        let hello = format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"lang\":\"rust\",\"version\":\"0\",\
             \"protocol\":1,\"headers\":true,\"no_responders\":false}}\r\nSUB {subject} 1\r\nPING\r\n"
        );
        s.tcp.write_all(hello.as_bytes()).await?;
        // INFO first, then (after our CONNECT and SUB) the PONG.
        loop {
            let mut pong = false;
            if !s.read(|_| {}, Some(&mut pong)).await? {
                return Err(io::Error::other("the server closed during the handshake"));
            }
            s.flush().await?;
            if pong {
                return Ok(s);
            }
        }
    }

    /// Reads once and handles every whole protocol message; each MSG/HMSG payload goes to
    /// `on_message`. `Ok(false)`: the server closed. Cancel-safe (the only await is the read).
    pub async fn read(
        &mut self,
        mut on_message: impl FnMut(&[u8]),
        mut pong: Option<&mut bool>,
    ) -> io::Result<bool> {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.tcp.read_buf(&mut self.buf).await? == 0 {
            return Ok(false);
        }
        loop {
            let rest = &self.buf[self.pos..];
            let Some(eol) = find_crlf(rest) else {
                return Ok(true);
            };
            let line = &rest[..eol];
            let verb = line.split(|&b| b == b' ').next().unwrap_or_default();
            match verb {
                b"MSG" | b"HMSG" => {
                    // MSG subject sid [reply] size | HMSG subject sid [reply] hdr_size size
                    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
                    let num = |f: &[u8]| {
                        std::str::from_utf8(f)
                            .ok()
                            .and_then(|s| s.parse::<usize>().ok())
                    };
                    let total = fields
                        .last()
                        .and_then(|f| num(f))
                        .ok_or_else(|| bad("bad MSG line", line))?;
                    let headers = if verb == b"HMSG" {
                        num(fields[fields.len() - 2]).ok_or_else(|| bad("bad HMSG line", line))?
                    } else {
                        0
                    };
                    let start = eol + 2;
                    if rest.len() < start + total + 2 {
                        return Ok(true);
                    }
                    on_message(&rest[start + headers..start + total]);
                    self.pos += start + total + 2;
                    continue;
                }
                b"PING" => self.pending.extend_from_slice(b"PONG\r\n"),
                b"PONG" => {
                    if let Some(p) = pong.as_deref_mut() {
                        *p = true;
                    }
                }
                b"INFO" | b"+OK" => {}
                b"-ERR" => return Err(bad("the server said", line)),
                _ => return Err(bad("unexpected", line)),
            }
            self.pos += eol + 2;
        }
    }

    /// Writes the PONGs that reading produced.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.tcp.write_all(&self.pending).await?;
            self.pending.clear();
        }
        Ok(())
    }
}
