//! The `channels` stream service from a test: one blocking connection with one `channels`
//! stream, on std sockets and the sans-I/O codecs (so the server is tested independently of
//! the async client library). Every call returns errors instead of panicking, so a test can
//! kill the server under a client.

use ringwire_protocol::channels::{
    self, Answer, Op, Request, ServerMessage, Start, Status, parse_server_message,
};
use ringwire_protocol::stream::{Connection, Event, Role, Settings};
use std::{
    collections::VecDeque,
    io::{self, Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

/// How long a call waits for the server before failing.
pub const WAIT: Duration = Duration::from_secs(30);

/// An answer, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ans {
    Published(u64),
    Subscribed {
        first: u64,
        next: u64,
    },
    Info {
        first: u64,
        next: u64,
        count: u64,
        bytes: u64,
    },
    Done,
    Failed(Status, String),
}

/// A server message, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Answer {
        id: u32,
        op: Op,
        ans: Ans,
    },
    Message {
        seq: u64,
        deliveries: u32,
        data: Vec<u8>,
    },
}

fn own(m: ServerMessage<'_>) -> Msg {
    match m {
        ServerMessage::Message {
            seq,
            deliveries,
            data,
        } => Msg::Message {
            seq,
            deliveries,
            data: data.to_vec(),
        },
        ServerMessage::Answer { id, op, answer } => Msg::Answer {
            id,
            op,
            ans: match answer {
                Answer::Published { seq } => Ans::Published(seq),
                Answer::Subscribed { first, next } => Ans::Subscribed { first, next },
                Answer::Info {
                    first,
                    next,
                    count,
                    bytes,
                } => Ans::Info {
                    first,
                    next,
                    count,
                    bytes,
                },
                Answer::Done => Ans::Done,
                Answer::Failed { status, message } => Ans::Failed(status, message.to_string()),
            },
        },
    }
}

fn err(e: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("{e:?}"))
}

/// One connection with one `channels` stream.
pub struct Chan {
    sock: TcpStream,
    conn: Connection,
    id: u32,
    /// Bytes read from the socket, not yet decoded.
    buf: Vec<u8>,
    /// Frames to write.
    out: Vec<u8>,
    /// Request bytes the windows did not take yet.
    unsent: Vec<u8>,
    /// Stream bytes received, not yet split into messages.
    inbox: Vec<u8>,
    /// Messages set aside while waiting for an answer.
    queued: VecDeque<Msg>,
    next_id: u32,
    /// The server ended its side.
    pub ended: bool,
}

impl Chan {
    /// Connects, shakes hands and opens a `channels` stream.
    pub fn open(addr: SocketAddr) -> io::Result<Chan> {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        let mut c = Chan {
            sock,
            conn: Connection::new(Role::Client, Settings::default()).map_err(err)?,
            id: 0,
            buf: Vec::new(),
            out: Vec::new(),
            unsent: Vec::new(),
            inbox: Vec::new(),
            queued: VecDeque::new(),
            next_id: 1,
            ended: false,
        };
        c.conn.hello(&mut c.out).map_err(err)?;
        c.flush()?;
        let deadline = Instant::now() + WAIT;
        while !c.conn_ready() {
            if !c.pump(deadline)? {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no HELLO"));
            }
        }
        c.id = c.conn.open_stream("channels", &mut c.out).map_err(err)?;
        c.flush()?;
        Ok(c)
    }

    fn conn_ready(&self) -> bool {
        self.conn.peer_settings().is_some()
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.sock.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Sends what the windows take of the unsent request bytes.
    fn push(&mut self) -> io::Result<()> {
        if !self.unsent.is_empty() {
            let n = self
                .conn
                .send_data(self.id, &self.unsent, false, &mut self.out)
                .map_err(err)?;
            self.unsent.drain(..n);
        }
        self.flush()
    }

    /// Handles one event, reading the socket until `deadline` if none is buffered; false on
    /// timeout.
    fn pump(&mut self, deadline: Instant) -> io::Result<bool> {
        loop {
            if !self.buf.is_empty() {
                let (used, ev) = self.conn.decode(&self.buf, &mut self.out).map_err(err)?;
                let mut consumed = 0;
                let mut failure = None;
                let mut happened = ev.is_some();
                match ev {
                    Some(Event::Data { id, data, end }) if id == self.id => {
                        self.inbox.extend_from_slice(data);
                        consumed = data.len();
                        self.ended |= end;
                    }
                    Some(Event::Reset { code, .. }) | Some(Event::StreamError { code, .. }) => {
                        failure = Some(format!("the channels stream was reset: {code}"));
                    }
                    Some(Event::GoAway { code, .. }) => {
                        self.ended = true;
                        failure = Some(format!("GOAWAY {code}"));
                    }
                    Some(_) => {}
                    None => happened = false,
                }
                self.buf.drain(..used);
                if consumed > 0 {
                    self.conn
                        .consume(self.id, consumed, &mut self.out)
                        .map_err(err)?;
                }
                self.push()?;
                if let Some(f) = failure {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, f));
                }
                if happened {
                    return Ok(true);
                }
                if used > 0 {
                    continue;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            self.sock.set_read_timeout(Some(left))?;
            let mut chunk = [0u8; 65536];
            match self.sock.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A fresh request id.
    pub fn id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Queues `req` and sends what the windows allow.
    pub fn send(&mut self, req: &Request<'_>) -> io::Result<()> {
        req.encode(&mut self.unsent);
        self.push()
    }

    /// Ends this side of the stream once everything queued is sent.
    pub fn finish(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + WAIT;
        while !self.unsent.is_empty() {
            if !self.pump(deadline)? {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "window closed"));
            }
        }
        self.conn.end_stream(self.id, &mut self.out).map_err(err)?;
        self.flush()
    }

    /// The next server message by `deadline` (`Ok(None)`: none by then, or the stream ended).
    pub fn recv_until(&mut self, deadline: Instant) -> io::Result<Option<Msg>> {
        if let Some(m) = self.queued.pop_front() {
            return Ok(Some(m));
        }
        loop {
            if let Some((body, used)) = channels::split(&self.inbox).map_err(err)? {
                let m = own(parse_server_message(body).map_err(err)?);
                self.inbox.drain(..used);
                return Ok(Some(m));
            }
            if self.ended || !self.pump(deadline)? {
                return Ok(None);
            }
        }
    }

    /// The next server message, failing after [`WAIT`].
    pub fn recv(&mut self) -> io::Result<Msg> {
        self.recv_until(Instant::now() + WAIT)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "no message from the server"))
    }

    /// The answer to request `id`; MESSAGEs that come first are kept for [`Chan::message`].
    pub fn answer(&mut self, id: u32) -> io::Result<Ans> {
        let mut set_aside = Vec::new();
        let found = loop {
            match self.recv()? {
                Msg::Answer { id: got, ans, .. } if got == id => break ans,
                Msg::Answer { id: got, op, ans } => {
                    return Err(err(format!("waiting for {id}, got {op:?} {got}: {ans:?}")));
                }
                m => set_aside.push(m),
            }
        };
        for m in set_aside.into_iter().rev() {
            self.queued.push_front(m);
        }
        Ok(found)
    }

    /// Sends `req` (its id must come from [`Chan::id`]) and waits for its answer.
    pub fn request(&mut self, req: &Request<'_>) -> io::Result<Ans> {
        self.send(req)?;
        self.answer(req.id())
    }

    /// The next MESSAGE by `deadline`: (seq, deliveries, data).
    pub fn message_until(&mut self, deadline: Instant) -> io::Result<Option<(u64, u32, Vec<u8>)>> {
        match self.recv_until(deadline)? {
            None => Ok(None),
            Some(Msg::Message {
                seq,
                deliveries,
                data,
            }) => Ok(Some((seq, deliveries, data))),
            Some(other) => Err(err(format!("expected a MESSAGE, got {other:?}"))),
        }
    }

    /// The next MESSAGE, failing after [`WAIT`].
    pub fn message(&mut self) -> io::Result<(u64, u32, Vec<u8>)> {
        self.message_until(Instant::now() + WAIT)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "no MESSAGE in 30 s"))
    }

    /// Publishes every payload with up to `depth` PUBs in flight; returns each one's seq in
    /// order, appended to `acked`. Fails at the first error (the ones answered before are in
    /// `acked`).
    pub fn publish_all(
        &mut self,
        channel: &str,
        payloads: &[Vec<u8>],
        depth: usize,
        acked: &mut Vec<u64>,
    ) -> io::Result<()> {
        let (mut sent, mut answered) = (0, 0);
        let first_id = self.next_id;
        while answered < payloads.len() {
            while sent < payloads.len() && sent - answered < depth {
                let id = self.id();
                self.send(&Request::Pub {
                    id,
                    channel,
                    data: &payloads[sent],
                })?;
                sent += 1;
            }
            match self.answer(first_id + answered as u32)? {
                Ans::Published(seq) => acked.push(seq),
                other => return Err(err(format!("PUB: {other:?}"))),
            }
            answered += 1;
        }
        Ok(())
    }

    /// One PUB; its seq.
    pub fn publish(&mut self, channel: &str, data: &[u8]) -> io::Result<u64> {
        let id = self.id();
        match self.request(&Request::Pub { id, channel, data })? {
            Ans::Published(seq) => Ok(seq),
            other => Err(err(format!("PUB: {other:?}"))),
        }
    }

    /// A new connection subscribed to `channel` from `start`: it and the answer.
    pub fn subscribe(addr: SocketAddr, channel: &str, start: Start) -> io::Result<(Chan, Ans)> {
        let mut c = Chan::open(addr)?;
        let id = c.id();
        let ans = c.request(&Request::Sub { id, channel, start })?;
        Ok((c, ans))
    }

    /// A new stream with a CONSUME sent and answered (the server retries an attach whose
    /// compare-and-set raced the previous owner's last write, so no retry here: a CONFLICT is
    /// a finding).
    pub fn consume(
        addr: SocketAddr,
        channel: &str,
        name: &str,
        ack_wait_ms: u32,
        max_ack_pending: u32,
        start: Start,
    ) -> io::Result<(Chan, Ans)> {
        Self::consume_once(addr, channel, name, ack_wait_ms, max_ack_pending, start)
    }

    /// One CONSUME on a new connection: it and the answer.
    pub fn consume_once(
        addr: SocketAddr,
        channel: &str,
        name: &str,
        ack_wait_ms: u32,
        max_ack_pending: u32,
        start: Start,
    ) -> io::Result<(Chan, Ans)> {
        let mut c = Chan::open(addr)?;
        let id = c.id();
        let ans = c.request(&Request::Consume {
            id,
            channel,
            consumer: name,
            ack_wait_ms,
            max_ack_pending,
            start,
        })?;
        Ok((c, ans))
    }

    /// ACK of `seq`, answered once stored.
    pub fn ack(&mut self, seq: u64) -> io::Result<Ans> {
        let id = self.id();
        self.request(&Request::Ack { id, seq })
    }

    /// INFO of `channel`.
    pub fn info(&mut self, channel: &str) -> io::Result<Ans> {
        let id = self.id();
        self.request(&Request::Info { id, channel })
    }
}

/// A payload that says which publisher and which message it is, and checks itself.
pub fn payload(publisher: usize, n: usize) -> Vec<u8> {
    let mut p = format!("p{publisher}-m{n}-").into_bytes();
    let fill = (publisher * 31 + n * 7) % 200;
    p.extend(std::iter::repeat_n(b'a' + (n % 26) as u8, fill));
    p
}
