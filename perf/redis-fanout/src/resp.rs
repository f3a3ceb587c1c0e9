//! Just enough RESP2 for a fan-out run: encoding commands, and reading a subscriber's push
//! messages and the publisher's replies out of a receive buffer that a read may have cut
//! anywhere.

/// What a subscribed connection receives.
#[derive(Debug, PartialEq)]
pub enum Push<'a> {
    Message {
        channel: &'a [u8],
        payload: &'a [u8],
    },
    Subscribed {
        channel: &'a [u8],
        count: i64,
    },
    /// A well-formed frame this tool never asks for.
    Other,
}

#[derive(Debug, PartialEq)]
pub enum Error {
    /// An error reply (`-ERR ...`), as Redis wrote it.
    Server(String),
    /// Bytes that are not RESP.
    Protocol(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Error::Server(e) => write!(f, "redis replied with an error: {e}"),
            Error::Protocol(e) => write!(f, "not RESP: {e}"),
        }
    }
}

/// A command as a RESP array of bulk strings.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Bytes received but not yet parsed. A frame cut by a read stays here until the rest comes.
pub struct RecvBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl RecvBuf {
    pub fn new(capacity: usize) -> RecvBuf {
        RecvBuf {
            buf: vec![0; capacity.max(64)],
            start: 0,
            end: 0,
        }
    }

    /// Room to read into; pass what the read filled to [`RecvBuf::filled`].
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            // At most one partial frame is left, so this copy is small.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // One frame bigger than the whole buffer.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        &mut self.buf[self.end..]
    }

    pub fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// The next whole push frame, if one has arrived.
    pub fn next_push(&mut self) -> Result<Option<Push<'_>>, Error> {
        let data = &self.buf[self.start..self.end];
        let Some((elems, used)) = array(data)? else {
            return Ok(None);
        };
        self.start += used;
        Ok(Some(match elems {
            [
                Some(Elem::Bulk(b"message")),
                Some(Elem::Bulk(channel)),
                Some(Elem::Bulk(payload)),
            ] => Push::Message { channel, payload },
            [
                Some(Elem::Bulk(b"subscribe")),
                Some(Elem::Bulk(channel)),
                Some(Elem::Int(count)),
            ] => Push::Subscribed { channel, count },
            _ => Push::Other,
        }))
    }

    /// The next whole integer reply (the publisher's `:<receivers>`), if one has arrived.
    pub fn next_int(&mut self) -> Result<Option<i64>, Error> {
        let data = &self.buf[self.start..self.end];
        match data.first() {
            None => Ok(None),
            Some(b':') => Ok(line(data, 1)?
                .map(|(text, used)| {
                    self.start += used;
                    int(text)
                })
                .transpose()?),
            Some(b'-') => match server_error(data)? {
                Some(e) => Err(Error::Server(e)),
                None => Ok(None),
            },
            Some(&b) => Err(unexpected(b, "an integer reply")),
        }
    }

    /// Whether every byte received has been parsed.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

#[derive(Clone, Copy)]
enum Elem<'a> {
    Bulk(&'a [u8]),
    Int(i64),
}

/// One array frame from the front of `data`: its first three elements (the rest are skipped)
/// and its length in bytes; `None` while it is incomplete.
fn array(data: &[u8]) -> Result<Option<([Option<Elem<'_>>; 3], usize)>, Error> {
    let Some(&kind) = data.first() else {
        return Ok(None);
    };
    if kind == b'-' {
        // Incomplete: wait, so the message is whole when it is shown.
        return match server_error(data)? {
            Some(e) => Err(Error::Server(e)),
            None => Ok(None),
        };
    }
    if kind != b'*' {
        return Err(unexpected(kind, "a push message (an array)"));
    }
    let Some((text, mut pos)) = line(data, 1)? else {
        return Ok(None);
    };
    let count = int(text)?;
    let mut elems = [None; 3];
    for i in 0..count.max(0) as usize {
        let Some((elem, next)) = element(data, pos)? else {
            return Ok(None);
        };
        if let Some(slot) = elems.get_mut(i) {
            *slot = Some(elem);
        }
        pos = next;
    }
    Ok(Some((elems, pos)))
}

fn element(data: &[u8], pos: usize) -> Result<Option<(Elem<'_>, usize)>, Error> {
    let Some(&kind) = data.get(pos) else {
        return Ok(None);
    };
    let Some((text, after)) = line(data, pos + 1)? else {
        return Ok(None);
    };
    match kind {
        b':' => Ok(Some((Elem::Int(int(text)?), after))),
        b'$' => {
            let len = usize::try_from(int(text)?)
                .map_err(|_| Error::Protocol("a null bulk string in a push message".into()))?;
            let end = after + len;
            if data.len() < end + 2 {
                return Ok(None);
            }
            if &data[end..end + 2] != b"\r\n" {
                return Err(Error::Protocol("a bulk string longer than it said".into()));
            }
            Ok(Some((Elem::Bulk(&data[after..end]), end + 2)))
        }
        b => Err(unexpected(b, "a bulk string or an integer")),
    }
}

/// The text from `pos` to the next CRLF, and the position after it.
fn line(data: &[u8], pos: usize) -> Result<Option<(&[u8], usize)>, Error> {
    let rest = data.get(pos..).unwrap_or_default();
    match rest.iter().position(|&b| b == b'\n') {
        None if rest.len() > 4096 => Err(Error::Protocol("a line over 4 KiB".into())),
        None => Ok(None),
        Some(0) => Err(Error::Protocol("a bare LF".into())),
        Some(n) if rest[n - 1] != b'\r' => Err(Error::Protocol("a bare LF".into())),
        Some(n) => Ok(Some((&rest[..n - 1], pos + n + 1))),
    }
}

fn server_error(data: &[u8]) -> Result<Option<String>, Error> {
    Ok(line(data, 1)?.map(|(text, _)| String::from_utf8_lossy(text).into_owned()))
}

fn int(text: &[u8]) -> Result<i64, Error> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            Error::Protocol(format!(
                "{:?} is not a number",
                String::from_utf8_lossy(text)
            ))
        })
}

fn unexpected(b: u8, wanted: &str) -> Error {
    Error::Protocol(format!(
        "expected {wanted}, got a frame starting {:?}",
        b as char
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Owned {
        Message(Vec<u8>, Vec<u8>),
        Subscribed(Vec<u8>, i64),
        Other,
    }

    /// Feeds `pieces` one read at a time, reading frames after each, as a subscriber does.
    fn pushes<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> Result<Vec<Owned>, Error> {
        let mut rb = RecvBuf::new(0);
        let mut got = Vec::new();
        for piece in pieces {
            let mut rest = piece;
            while !rest.is_empty() {
                let room = rb.spare();
                let n = room.len().min(rest.len());
                room[..n].copy_from_slice(&rest[..n]);
                rb.filled(n);
                rest = &rest[n..];
            }
            while let Some(p) = rb.next_push()? {
                got.push(match p {
                    Push::Message { channel, payload } => {
                        Owned::Message(channel.to_vec(), payload.to_vec())
                    }
                    Push::Subscribed { channel, count } => {
                        Owned::Subscribed(channel.to_vec(), count)
                    }
                    Push::Other => Owned::Other,
                });
            }
        }
        assert!(rb.is_empty(), "bytes left over");
        Ok(got)
    }

    fn message(channel: &[u8], payload: &[u8]) -> Vec<u8> {
        command(&[b"message", channel, payload])
    }

    #[test]
    fn push_messages_come_out_the_same_however_the_reads_cut_them() {
        // Payloads with CRLF inside, and one bigger than the buffer's first size.
        let big = vec![b'y'; 300];
        let payloads: [&[u8]; 4] = [
            b"\x01\x02\x03\x04\x05\x06\x07\x08xx",
            b"a\r\nb\r\n",
            b"",
            &big,
        ];
        let mut wire = b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n".to_vec();
        wire.extend(command(&[b"pong", b""]));
        for p in payloads {
            wire.extend(message(b"ch", p));
        }
        let mut want = vec![Owned::Subscribed(b"ch".to_vec(), 1), Owned::Other];
        want.extend(payloads.map(|p| Owned::Message(b"ch".to_vec(), p.to_vec())));

        for cut in 0..=wire.len() {
            let (a, b) = wire.split_at(cut);
            assert_eq!(pushes([a, b].into_iter()).unwrap(), want, "cut at {cut}");
        }
        for size in 1..wire.len() {
            assert_eq!(pushes(wire.chunks(size)).unwrap(), want, "pieces of {size}");
        }
    }

    #[test]
    fn an_error_reply_is_an_error_once_whole() {
        let wire = b"-ERR unknown command\r\n";
        let (a, b) = wire.split_at(10);
        let mut rb = RecvBuf::new(64);
        rb.spare()[..a.len()].copy_from_slice(a);
        rb.filled(a.len());
        assert_eq!(rb.next_push(), Ok(None));
        rb.spare()[..b.len()].copy_from_slice(b);
        rb.filled(b.len());
        assert_eq!(
            rb.next_push(),
            Err(Error::Server("ERR unknown command".into()))
        );
    }

    #[test]
    fn integer_replies_and_errors() {
        let mut rb = RecvBuf::new(64);
        let wire = b":100\r\n:9";
        rb.spare()[..wire.len()].copy_from_slice(wire);
        rb.filled(wire.len());
        assert_eq!(rb.next_int(), Ok(Some(100)));
        assert_eq!(rb.next_int(), Ok(None));
        let wire = b"9\r\n-NOAUTH no\r\n";
        rb.spare()[..wire.len()].copy_from_slice(wire);
        rb.filled(wire.len());
        assert_eq!(rb.next_int(), Ok(Some(99)));
        assert_eq!(rb.next_int(), Err(Error::Server("NOAUTH no".into())));
    }
}
