//! The load tasks of one thread: echo streams (closed or open loop), pub/sub subscribers and
//! the publisher. Each records into its thread's [`Ctx`].

use super::load::{Ctx, nanos};
use ringwire_net::stream::client::Stream;
use ringwire_reactor::{spawn_local, time, yield_now};
use std::{
    cell::Cell,
    rc::Rc,
    sync::atomic::Ordering::Relaxed,
    task::Poll,
    time::{Duration, Instant},
};

/// How long an open-loop receiver waits past the end for messages still in flight.
const GRACE: Duration = Duration::from_secs(1);
/// A closed-loop publisher yields this often, so the writer and the receivers get to run.
const PUBLISH_BATCH: u64 = 32;
/// A closed-loop publisher stays at most this many messages ahead of the slowest subscriber
/// (well under the server's default 1024-message subscriber queue, so a closed loop measures
/// the fan-out instead of the slow-consumer policy).
pub(super) const PUBLISH_AHEAD: u64 = 64;
/// A subscriber's progress once it has stopped: the publisher no longer waits for it.
const GONE: u64 = u64::MAX;

/// A message of `size` bytes, its first 8 to be overwritten with the send time.
fn message(size: usize) -> Vec<u8> {
    vec![b'x'; size.max(8)]
}

fn stamp(msg: &mut [u8], base: Instant, at: Instant) {
    msg[..8].copy_from_slice(&nanos(base, at).to_be_bytes());
}

fn read_stamp(msg: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(msg.get(..8)?.try_into().ok()?))
}

/// One message at a time: send, wait for the whole echo, repeat.
pub(super) async fn echo_closed(stream: Rc<Stream>, ctx: Rc<Ctx>) {
    let size = ctx.plan.args.size;
    let mut msg = message(size);
    let mut extra = 0;
    loop {
        let sent = Instant::now();
        if sent >= ctx.t.end {
            return;
        }
        stamp(&mut msg, ctx.plan.base, sent);
        if let Err(e) = stream.send(&msg).await {
            return ctx.rec.borrow_mut().error("echo send", &e);
        }
        while extra < size {
            match stream.recv().await {
                Ok(Some(b)) => extra += b.len(),
                Ok(None) => {
                    return ctx
                        .rec
                        .borrow_mut()
                        .errors
                        .push("the server ended an echo stream".into());
                }
                Err(e) => return ctx.rec.borrow_mut().error("echo receive", &e),
            }
        }
        extra -= size;
        ctx.delivered(nanos(ctx.plan.base, sent), Instant::now());
    }
}

/// Sends on a schedule (`interval` apart, starting `offset` after go) and receives on the
/// side; a late schedule is caught up at once, and the latency still counts from it.
pub(super) async fn echo_open(
    stream: Rc<Stream>,
    ctx: Rc<Ctx>,
    interval: Duration,
    offset: Duration,
) {
    let sent = Rc::new(Cell::new(0u64));
    let done = Rc::new(Cell::new(false));
    let (s, c, n, d) = (stream.clone(), ctx.clone(), sent.clone(), done.clone());
    let sender = spawn_local(async move {
        let mut msg = message(c.plan.args.size);
        let mut next = c.t.go + offset;
        while next < c.t.end {
            if next > Instant::now() {
                time::sleep_until(next).await;
            }
            stamp(&mut msg, c.plan.base, next);
            if let Err(e) = s.send(&msg).await {
                c.rec.borrow_mut().error("echo send", &e);
                break;
            }
            n.set(n.get() + 1);
            next += interval;
        }
        d.set(true);
    });
    let mut assembler = Assembler::new(ctx.plan.args.size);
    let mut received = 0;
    let deadline = ctx.t.end + GRACE;
    while !(done.get() && received == sent.get()) {
        match time::timeout_at(deadline, stream.recv()).await {
            Err(_) => break,
            Ok(Ok(Some(b))) => {
                let now = Instant::now();
                assembler.feed(&b, |at| {
                    received += 1;
                    ctx.delivered(at, now);
                });
            }
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                ctx.rec.borrow_mut().error("echo receive", &e);
                break;
            }
        }
    }
    sender.abort();
}

/// Cuts a byte stream into messages of a fixed size and reads each one's stamp.
pub(super) struct Assembler {
    size: usize,
    pos: usize,
    head: [u8; 8],
}

impl Assembler {
    pub fn new(size: usize) -> Assembler {
        Assembler {
            size: size.max(8),
            pos: 0,
            head: [0; 8],
        }
    }

    /// Calls `message(stamp)` for every message that `data` completes.
    pub fn feed(&mut self, mut data: &[u8], mut message: impl FnMut(u64)) {
        while !data.is_empty() {
            if self.pos < 8 {
                let n = (8 - self.pos).min(data.len());
                self.head[self.pos..self.pos + n].copy_from_slice(&data[..n]);
            }
            let n = (self.size - self.pos).min(data.len());
            self.pos += n;
            data = &data[n..];
            if self.pos == self.size {
                message(u64::from_be_bytes(self.head));
                self.pos = 0;
            }
        }
    }
}

/// A subscription: every `recv_message` is one published message. `g` is its global index.
pub(super) async fn subscriber(stream: Rc<Stream>, ctx: Rc<Ctx>, g: usize) {
    let progress = &ctx.plan.subscribed[g].0;
    loop {
        match time::timeout_at(ctx.t.end, stream.recv_message()).await {
            Err(_) => break,
            Ok(Ok(Some(m))) => match read_stamp(&m) {
                Some(at) => {
                    ctx.delivered(at, Instant::now());
                    progress.fetch_add(1, Relaxed);
                    if let Some(w) = ctx.publisher.take() {
                        w.wake();
                    }
                }
                None => {
                    ctx.rec
                        .borrow_mut()
                        .errors
                        .push(format!("a {}-byte message has no timestamp", m.len()));
                    break;
                }
            },
            Ok(Ok(None)) => {
                ctx.rec
                    .borrow_mut()
                    .errors
                    .push("the server ended a subscription".into());
                break;
            }
            Ok(Err(e)) => {
                ctx.rec.borrow_mut().error("subscriber", &e);
                break;
            }
        }
    }
    progress.store(GONE, Relaxed);
}

/// Closed-loop publisher: waits until the slowest live subscriber is at most
/// `PUBLISH_AHEAD` messages behind `published`. `false`: no subscriber is left.
async fn wait_for_subscribers(ctx: &Ctx, published: u64) -> bool {
    loop {
        let slowest = ctx
            .plan
            .subscribed
            .iter()
            .map(|p| p.0.load(Relaxed))
            .min()
            .unwrap_or(GONE);
        if slowest == GONE {
            return false;
        }
        if published.saturating_sub(slowest) <= PUBLISH_AHEAD {
            return true;
        }
        let mut registered = false;
        let local = std::future::poll_fn(|cx| {
            if registered {
                return Poll::Ready(());
            }
            registered = true;
            ctx.publisher.set(Some(cx.waker().clone()));
            Poll::Pending
        });
        // Subscribers on other threads cannot wake this one: look again every 100 µs.
        let _ = time::timeout(Duration::from_micros(100), local).await;
    }
}

/// The one publisher: on a schedule with `--rate`; otherwise a closed loop that stays at most
/// `PUBLISH_AHEAD` messages ahead of the slowest subscriber.
pub(super) async fn publish(stream: Stream, ctx: Rc<Ctx>) {
    let mut msg = message(ctx.plan.args.size);
    let interval = match ctx.plan.args.rate {
        0 => None,
        rate => Some(Duration::from_secs_f64(1.0 / rate as f64)),
    };
    let mut next = ctx.t.go;
    let mut count = 0u64;
    loop {
        let at = match interval {
            Some(interval) => {
                if next > Instant::now() {
                    time::sleep_until(next).await;
                }
                next += interval;
                next - interval
            }
            None => {
                if !wait_for_subscribers(&ctx, count).await {
                    break;
                }
                Instant::now()
            }
        };
        if at >= ctx.t.end {
            break;
        }
        stamp(&mut msg, ctx.plan.base, at);
        if let Err(e) = stream.send(&msg).await {
            return ctx.rec.borrow_mut().error("publish", &e);
        }
        if at >= ctx.t.measure {
            ctx.rec.borrow_mut().published += 1;
        }
        count += 1;
        if count % PUBLISH_BATCH == 0 {
            yield_now().await;
        }
    }
    let _ = stream.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assembler_finds_messages_however_the_bytes_are_cut() {
        let mut wire = Vec::new();
        for stamp in [7u64, 1 << 40, 42] {
            wire.extend_from_slice(&stamp.to_be_bytes());
            wire.extend_from_slice(&[0; 12]);
        }
        for cut in 1..wire.len() {
            let mut a = Assembler::new(20);
            let mut got = Vec::new();
            for piece in wire.chunks(cut) {
                a.feed(piece, |s| got.push(s));
            }
            assert_eq!(got, [7, 1 << 40, 42], "pieces of {cut}");
        }
    }
}
