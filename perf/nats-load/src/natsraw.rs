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

/// One protocol message from the server.
#[derive(Debug, PartialEq)]
enum Item<'a> {
    /// MSG or HMSG: the payload (after the headers).
    Msg(&'a [u8]),
    Ping,
    Pong,
    /// INFO, +OK: nothing to do.
    Other,
}

/// The first whole protocol message in `b` and the bytes it takes; `None` until it is whole.
fn parse(b: &[u8]) -> io::Result<Option<(Item<'_>, usize)>> {
    // Protocol lines end in CRLF; the first LF at a message's start ends its line.
    let Some(lf) = b.iter().position(|&c| c == b'\n') else {
        return Ok(None);
    };
    if lf == 0 || b[lf - 1] != b'\r' {
        return Err(bad("a line without CRLF", &b[..lf]));
    }
    let eol = lf - 1;
    let line = &b[..eol];
    let verb = line.split(|&c| c == b' ').next().unwrap_or_default();
    let item = match verb {
        b"MSG" | b"HMSG" => {
            // MSG subject sid [reply] size | HMSG subject sid [reply] hdr_size size: the sizes
            // are the last fields (read from the end, without allocating: this runs once per
            // delivery on the load CPU).
            let hmsg = verb == b"HMSG";
            let mut back = line.rsplit(|&c| c == b' ').filter(|f| !f.is_empty());
            let num = |f: Option<&[u8]>| {
                f.and_then(|f| std::str::from_utf8(f).ok())
                    .and_then(|s| s.parse::<usize>().ok())
            };
            let total = num(back.next()).ok_or_else(|| bad("bad MSG line", line))?;
            let headers = if hmsg {
                num(back.next()).ok_or_else(|| bad("bad HMSG line", line))?
            } else {
                0
            };
            // What is left: the verb, the subject, the sid and perhaps a reply subject.
            if !(3..=4).contains(&back.count()) {
                return Err(bad("bad MSG line", line));
            }
            let start = eol + 2;
            if headers > total {
                return Err(bad("HMSG headers longer than the message", line));
            }
            if b.len() < start + total + 2 {
                return Ok(None);
            }
            return Ok(Some((
                Item::Msg(&b[start + headers..start + total]),
                start + total + 2,
            )));
        }
        b"PING" => Item::Ping,
        b"PONG" => Item::Pong,
        b"INFO" | b"+OK" => Item::Other,
        b"-ERR" => return Err(bad("the server said", line)),
        _ => return Err(bad("unexpected", line)),
    };
    Ok(Some((item, eol + 2)))
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
            let Some((item, used)) = parse(&self.buf[self.pos..])? else {
                return Ok(true);
            };
            match item {
                Item::Msg(payload) => on_message(payload),
                Item::Ping => self.pending.extend_from_slice(b"PONG\r\n"),
                Item::Pong => {
                    if let Some(p) = pong.as_deref_mut() {
                        *p = true;
                    }
                }
                Item::Other => {}
            }
            self.pos += used;
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

#[cfg(test)]
mod tests {
    use super::{Item, parse};

    fn all(mut b: &[u8]) -> (Vec<Item<'_>>, usize) {
        let mut out = Vec::new();
        while let Some((item, used)) = parse(b).unwrap() {
            out.push(item);
            b = &b[used..];
        }
        (out, b.len())
    }

    #[test]
    fn messages_with_and_without_headers_and_reply_subjects() {
        let wire = b"INFO {\"a\":1}\r\nMSG s.x 1 5\r\nhello\r\nMSG s.x 1 r.y 2\r\nhi\r\n\
                     HMSG s.x 1 12 15\r\nNATS/1.0\r\n\r\nabc\r\nPING\r\n+OK\r\nPONG\r\n";
        let (items, left) = all(wire);
        assert_eq!(
            items,
            vec![
                Item::Other,
                Item::Msg(b"hello"),
                Item::Msg(b"hi"),
                Item::Msg(b"abc"),
                Item::Ping,
                Item::Other,
                Item::Pong
            ]
        );
        assert_eq!(left, 0);
    }

    #[test]
    fn a_payload_may_hold_crlf_and_an_incomplete_message_waits() {
        let wire = b"MSG s 1 4\r\n\r\n\r\n\r\n";
        assert_eq!(
            parse(wire).unwrap(),
            Some((Item::Msg(b"\r\n\r\n"), wire.len()))
        );
        for cut in 0..wire.len() {
            assert_eq!(parse(&wire[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn errors_and_garbage_fail() {
        assert!(parse(b"-ERR 'Slow Consumer'\r\n").is_err());
        assert!(parse(b"HELLO\r\n").is_err());
        assert!(parse(b"MSG s 1 x\r\n").is_err());
        assert!(parse(b"HMSG s 1 9 4\r\nabcd\r\n").is_err());
        assert!(parse(b"MSG s 4\r\nabcd\r\n").is_err());
        assert!(parse(b"PING\n").is_err());
    }
}
