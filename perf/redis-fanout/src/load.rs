//! The subscribers and the closed-loop publisher, all tasks on one thread, and what they record.
//!
//! Each payload starts with its send time (nanoseconds after `Timeline::base`, little-endian),
//! so a subscriber measures publish-to-deliver latency with no other bookkeeping.

use crate::{
    resp::{self, Push, RecvBuf},
    tls::{Io, Tls},
};
use hdrhistogram::Histogram;
use std::{
    cell::{Cell, RefCell},
    fmt::Display,
    future::poll_fn,
    io,
    net::SocketAddr,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf},
    net::TcpStream,
    time::Timeout,
};

/// How long connecting, subscribing and the publisher's last replies may take.
const SETUP: Duration = Duration::from_secs(10);
/// A subscriber's first receive buffer; it grows if one message does not fit.
const RECV_BUF: usize = 64 * 1024;

/// Ends the run: every failure is fatal, so no task has to tell the others to stop.
pub fn fail(message: impl Display) -> ! {
    eprintln!("redis-fanout: {message}");
    std::process::exit(1)
}

/// `tokio::time::timeout_at` with a std deadline, the clock the stamps use.
fn until<F: Future>(deadline: Instant, f: F) -> Timeout<F> {
    tokio::time::timeout_at(deadline.into(), f)
}

const BUFFER_LIMIT_HINT: &str = "it fell too far behind: see redis' \
     client-output-buffer-limit pubsub";

#[derive(Clone, Copy)]
pub struct Timeline {
    /// The clock the payload stamps count from.
    pub base: Instant,
    pub measure: Instant,
    pub end: Instant,
}

/// What the tasks share; one thread, so plain cells.
pub struct Shared {
    pub t: Timeline,
    channel: Vec<u8>,
    window: u64,
    /// Messages each subscriber has received, in all phases: the publisher's flow control.
    progress: Vec<Cell<u64>>,
    /// The publisher, when it waits for the slowest subscriber.
    publisher: Cell<Option<Waker>>,
    /// Publish-to-deliver latency in nanoseconds, measured window only.
    pub hist: RefCell<Histogram<u64>>,
    /// Deliveries in the measured window, all subscribers.
    pub messages: Cell<u64>,
    /// Messages published in the measured window.
    pub published: Cell<u64>,
}

impl Shared {
    pub fn new(t: Timeline, channel: &str, window: u64, subscribers: usize) -> Shared {
        Shared {
            t,
            channel: channel.as_bytes().to_vec(),
            window,
            progress: (0..subscribers).map(|_| Cell::new(0)).collect(),
            publisher: Cell::new(None),
            // The bounds `ringwire bench-stream` uses, so the percentiles round alike.
            hist: RefCell::new(
                Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds"),
            ),
            messages: Cell::new(0),
            published: Cell::new(0),
        }
    }

    fn slowest(&self) -> u64 {
        self.progress.iter().map(Cell::get).min().unwrap_or(0)
    }

    fn delivered(&self, stamp: u64, now: Instant) {
        let sent = self.t.base + Duration::from_nanos(stamp);
        if sent >= self.t.measure && now <= self.t.end {
            self.messages.set(self.messages.get() + 1);
            let ns = now.saturating_duration_since(sent).as_nanos() as u64;
            self.hist.borrow_mut().saturating_record(ns.max(1));
        }
    }
}

/// Where Redis is and how to speak to it.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// The host of --addr: the name a TLS certificate is checked against by default.
    pub host: String,
    pub tls: Option<Tls>,
}

async fn connect(target: &Target, what: &str) -> Io {
    let addr = target.addr;
    let stream = match until(Instant::now() + SETUP, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => fail(format_args!("{what}: connect to {addr}: {e}")),
        Err(_) => fail(format_args!("{what}: connect to {addr}: timed out")),
    };
    // Latency is the point: no waiting to coalesce small writes.
    if let Err(e) = stream.set_nodelay(true) {
        fail(format_args!("{what}: TCP_NODELAY: {e}"));
    }
    let Some(tls) = &target.tls else {
        return Io::Plain(stream);
    };
    match until(Instant::now() + SETUP, tls.connect(stream, &target.host)).await {
        Ok(Ok(s)) => Io::Tls(Box::new(s)),
        Ok(Err(e)) => fail(format_args!("{what}: {addr}: {e}")),
        Err(_) => fail(format_args!("{what}: {addr}: TLS handshake timed out")),
    }
}

/// Writes `bytes` and flushes: TLS may keep the last records in its buffer until flushed.
async fn write(io: &mut Io, bytes: &[u8]) -> io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// One read into `buf` if bytes are there now (or, with TLS, records that decrypt to some):
/// `Ready(Ok(n))`, 0 at the end; `Pending` registers `cx` to be woken when more arrive.
fn poll_fill(io: &mut Io, buf: &mut RecvBuf, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
    let mut rb = ReadBuf::new(buf.spare());
    match Pin::new(io).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => {
            let n = rb.filled().len();
            buf.filled(n);
            Poll::Ready(Ok(n))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// One subscriber: its own connection to redis.
pub struct Subscriber {
    index: usize,
    stream: Io,
    buf: RecvBuf,
}

impl Subscriber {
    /// Connects and sends SUBSCRIBE; [`Subscriber::confirmed`] waits for the answer, so that
    /// many subscribers can be set up in two passes rather than one round trip each.
    pub async fn connect(target: &Target, channel: &str, index: usize) -> Subscriber {
        let mut stream = connect(target, &format!("subscriber {index}")).await;
        let cmd = resp::command(&[b"SUBSCRIBE", channel.as_bytes()]);
        if let Err(e) = write(&mut stream, &cmd).await {
            fail(format_args!("subscriber {index}: send SUBSCRIBE: {e}"));
        }
        Subscriber {
            index,
            stream,
            buf: RecvBuf::new(RECV_BUF),
        }
    }

    pub async fn confirmed(&mut self) {
        let deadline = Instant::now() + SETUP;
        loop {
            if self.read(deadline).await.is_none() {
                fail(format_args!(
                    "subscriber {}: no answer to SUBSCRIBE",
                    self.index
                ));
            }
            match self.buf.next_push() {
                Ok(Some(Push::Subscribed { .. })) => return,
                Ok(Some(p)) => fail(format_args!(
                    "subscriber {}: expected the subscribe confirmation, got {p:?}",
                    self.index
                )),
                Ok(None) => {}
                Err(e) => fail(format_args!("subscriber {}: {e}", self.index)),
            }
        }
    }

    /// Reads once into the buffer; `None` at the deadline.
    async fn read(&mut self, deadline: Instant) -> Option<()> {
        match until(deadline, self.stream.read(self.buf.spare())).await {
            Err(_) => None,
            Ok(Ok(0)) => fail(format_args!(
                "redis closed subscriber {}'s connection (perhaps {BUFFER_LIMIT_HINT})",
                self.index
            )),
            Ok(Ok(n)) => {
                self.buf.filled(n);
                Some(())
            }
            Ok(Err(e)) => fail(format_args!("subscriber {}: {e}", self.index)),
        }
    }

    /// Receives until the end of the measured window.
    pub async fn run(mut self, shared: Rc<Shared>) {
        while self.read(shared.t.end).await.is_some() {
            let now = Instant::now();
            let mut got = 0;
            loop {
                let push = match self.buf.next_push() {
                    Ok(Some(p)) => p,
                    Ok(None) => break,
                    Err(e) => fail(format_args!("subscriber {}: {e}", self.index)),
                };
                let stamp = match push {
                    Push::Message { channel, payload } if channel == shared.channel => payload
                        .get(..8)
                        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes"))),
                    _ => None,
                };
                let Some(stamp) = stamp else {
                    fail(format_args!(
                        "subscriber {}: not a message of this run: {push:?}",
                        self.index
                    ));
                };
                shared.delivered(stamp, now);
                got += 1;
            }
            let progress = &shared.progress[self.index];
            progress.set(progress.get() + got);
            if let Some(w) = shared.publisher.take() {
                w.wake();
            }
        }
    }
}

/// The one publisher connection.
pub struct Publisher {
    stream: Io,
    buf: RecvBuf,
    /// One whole PUBLISH command; `stamp_at` is where its payload starts.
    template: Vec<u8>,
    stamp_at: usize,
    subscribers: i64,
    sent: u64,
    replies: u64,
}

impl Publisher {
    pub async fn connect(
        target: &Target,
        channel: &str,
        size: usize,
        subscribers: usize,
    ) -> Publisher {
        let stream = connect(target, "publisher").await;
        let payload = vec![b'x'; size];
        let template = resp::command(&[b"PUBLISH", channel.as_bytes(), &payload]);
        Publisher {
            stream,
            buf: RecvBuf::new(4096),
            stamp_at: template.len() - 2 - size,
            template,
            subscribers: subscribers as i64,
            sent: 0,
            replies: 0,
        }
    }

    /// Publishes until the end of the measured window, at most `window` messages ahead of the
    /// slowest subscriber; each time the window opens, all it allows go in one write.
    pub async fn run(mut self, shared: Rc<Shared>) {
        let mut batch = Vec::with_capacity(self.template.len() * shared.window as usize);
        loop {
            self.take_replies();
            let now = Instant::now();
            if now >= shared.t.end {
                break;
            }
            let room = shared
                .window
                .saturating_sub(self.sent.saturating_sub(shared.slowest()));
            if room == 0 {
                let _ = until(shared.t.end, self.wait(&shared)).await;
                continue;
            }
            let stamp = (now - shared.t.base).as_nanos() as u64;
            batch.clear();
            for _ in 0..room {
                let at = batch.len() + self.stamp_at;
                batch.extend_from_slice(&self.template);
                batch[at..at + 8].copy_from_slice(&stamp.to_le_bytes());
            }
            if let Err(e) = write(&mut self.stream, &batch).await {
                fail(format_args!("publisher: {e}"));
            }
            self.sent += room;
            if now >= shared.t.measure {
                shared.published.set(shared.published.get() + room);
            }
        }
        // The last replies still count: an error among them fails the run.
        let deadline = Instant::now() + SETUP;
        while self.replies < self.sent {
            let read = poll_fn(|cx| poll_fill(&mut self.stream, &mut self.buf, cx));
            match until(deadline, read).await {
                Err(_) => fail(format_args!(
                    "redis answered {} of {} PUBLISH commands",
                    self.replies, self.sent
                )),
                Ok(Ok(0)) => fail("redis closed the publisher's connection"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => fail(format_args!("publisher: {e}")),
            }
            self.take_replies();
        }
    }

    /// Until the slowest subscriber catches up or a reply arrives (read into the buffer,
    /// for [`Publisher::take_replies`]).
    async fn wait(&mut self, shared: &Shared) {
        poll_fn(|cx| {
            let behind = self.sent.saturating_sub(shared.slowest());
            if behind < shared.window {
                return Poll::Ready(());
            }
            match poll_fill(&mut self.stream, &mut self.buf, cx) {
                Poll::Ready(Ok(0)) => fail("redis closed the publisher's connection"),
                Poll::Ready(Ok(_)) => return Poll::Ready(()),
                Poll::Ready(Err(e)) => fail(format_args!("publisher: {e}")),
                Poll::Pending => {}
            }
            shared.publisher.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }

    /// Reads whatever replies have arrived, without waiting; the socket must not fill up.
    fn take_replies(&mut self) {
        // Polled with a waker that does nothing: `Pending` only means nothing more is there
        // now (the next `wait` polls with the task's own waker).
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            match poll_fill(&mut self.stream, &mut self.buf, &mut cx) {
                Poll::Ready(Ok(0)) => fail("redis closed the publisher's connection"),
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => break,
                Poll::Ready(Err(e)) => fail(format_args!("publisher: {e}")),
            }
        }
        loop {
            match self.buf.next_int() {
                Ok(Some(n)) if n < self.subscribers => fail(format_args!(
                    "a PUBLISH reached {n} of {} subscribers: redis dropped some \
                     (perhaps {BUFFER_LIMIT_HINT})",
                    self.subscribers
                )),
                Ok(Some(_)) => self.replies += 1,
                Ok(None) => break,
                Err(e) => fail(format_args!("publisher: {e}")),
            }
        }
    }
}
