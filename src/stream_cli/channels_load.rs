//! `bench-stream --service channels`: each stream keeps `--depth` PUBs in flight and counts
//! each answered PUB as one message (on a durable channel a PUB is answered once its append
//! is durable, so this is the durable publish rate); with `--replay`, each stream reads the
//! durable channel from seq 1 and counts the messages it gets.

use super::{
    channels::{ChanConn, MAX_IN_FLIGHT, bad, failed},
    load::{Ctx, nanos},
};
use ringwire_net::stream::client::{Client, Stream};
use ringwire_protocol::channels::{Answer, Request, ServerMessage, Start, parse_server_message};
use ringwire_reactor::time;
use std::{
    collections::VecDeque,
    io,
    rc::Rc,
    time::{Duration, Instant},
};

/// How long a stream waits past the end for answers still in flight.
const GRACE: Duration = Duration::from_secs(5);

/// Fails unless `channel` is durable on the server (INFO answers OK).
pub(super) async fn check_durable(client: &Client, channel: &str) -> io::Result<()> {
    let mut c = ChanConn::open(client).await?;
    let id = c.id();
    c.send(&Request::Info { id, channel }).await?;
    c.stream.finish()?;
    c.answer(id, "INFO").await?;
    Ok(())
}

fn record_error(ctx: &Ctx, what: String) {
    let mut rec = ctx.rec.borrow_mut();
    if rec.errors.len() < 10 {
        rec.errors.push(what);
    }
}

/// One stream's closed loop with `depth` PUBs in flight. Answers come in request order, so
/// the send times wait in a queue.
pub(super) async fn publish_closed(
    stream: Rc<Stream>,
    ctx: Rc<Ctx>,
    channel: String,
    depth: usize,
) {
    let depth = depth.min(MAX_IN_FLIGHT);
    let data = vec![b'm'; ctx.plan.args.size];
    let mut in_flight: VecDeque<u64> = VecDeque::with_capacity(depth);
    let mut id = 0u32;
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut send = |n: usize, in_flight: &mut VecDeque<u64>, out: &mut Vec<u8>| {
        let now = nanos(ctx.plan.base, Instant::now());
        for _ in 0..n {
            id = id.wrapping_add(1);
            let req = Request::Pub {
                id,
                channel: &channel,
                data: &data,
            };
            req.encode(out);
            in_flight.push_back(now);
        }
    };
    send(depth, &mut in_flight, &mut out);
    loop {
        if !out.is_empty() {
            if let Err(e) = stream.send(&out).await {
                return ctx.rec.borrow_mut().error("channels send", &e);
            }
            out.clear();
        }
        let now = Instant::now();
        if (in_flight.is_empty() && now >= ctx.t.end) || now >= ctx.t.end + GRACE {
            return;
        }
        match stream.recv().await {
            Ok(Some(b)) => buf.extend_from_slice(&b),
            Ok(None) => return record_error(&ctx, "the server ended a channels stream".into()),
            Err(e) => return ctx.rec.borrow_mut().error("channels receive", &e),
        }
        let now = Instant::now();
        let mut used_all = 0;
        let mut answered = 0;
        loop {
            let (body, used) = match ringwire_protocol::channels::split(&buf[used_all..]) {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => return record_error(&ctx, bad(e).to_string()),
            };
            match parse_server_message(body) {
                Ok(ServerMessage::Answer {
                    answer: Answer::Published { .. },
                    ..
                }) => {}
                Ok(ServerMessage::Answer {
                    answer: Answer::Failed { status, message },
                    ..
                }) => record_error(&ctx, format!("PUB: {}", failed(status, message))),
                Ok(other) => record_error(&ctx, format!("unexpected {other:?}")),
                Err(e) => return record_error(&ctx, bad(e).to_string()),
            }
            if let Some(sent) = in_flight.pop_front() {
                ctx.delivered(sent, now);
                answered += 1;
            }
            used_all += used;
        }
        buf.drain(..used_all);
        if now < ctx.t.end {
            send(answered, &mut in_flight, &mut out);
        }
    }
}

/// One stream reading `channel` from seq 1 until the end of the run; every MESSAGE counts
/// (no latency: there is no send time to measure from). Seqs must rise.
pub(super) async fn replay(stream: Rc<Stream>, ctx: Rc<Ctx>, channel: String) {
    let Ok(stream) = Rc::try_unwrap(stream) else {
        return record_error(&ctx, "a replay stream is shared".into());
    };
    let mut c = ChanConn::new(stream);
    let id = c.id();
    let sub = Request::Sub {
        id,
        channel: &channel,
        start: Start::From(1),
    };
    if let Err(e) = c.send(&sub).await {
        return ctx.rec.borrow_mut().error("channels send", &e);
    }
    if let Err(e) = c.answer(id, "SUB").await {
        return ctx.rec.borrow_mut().error("replay SUB", &e);
    }
    let mut last = 0;
    loop {
        let left = ctx.t.end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let body = match time::timeout(left, c.next()).await {
            Err(_) => return,
            Ok(Ok(Some(body))) => body,
            Ok(Ok(None)) => return record_error(&ctx, "the server ended a replay".into()),
            Ok(Err(e)) => return ctx.rec.borrow_mut().error("replay receive", &e),
        };
        match parse_server_message(&body) {
            Ok(ServerMessage::Message { seq, .. }) => {
                if seq <= last {
                    record_error(&ctx, format!("replay: seq {seq} after {last}"));
                }
                last = seq;
                ctx.counted(Instant::now());
            }
            Ok(other) => record_error(&ctx, format!("replay: unexpected {other:?}")),
            Err(e) => return record_error(&ctx, bad(e).to_string()),
        }
    }
}
