//! `bench-stream --service kv`: each stream keeps `--depth` requests in flight (GET of a random
//! key of `--keys`, or PUT with `--kv-op put`), and counts each answer as one message.

use super::load::{Ctx, nanos};
use ringwire_net::stream::client::{Client, Stream};
use ringwire_protocol::kv::{self, Cond, Request};
use std::{
    collections::HashMap,
    io,
    rc::Rc,
    time::{Duration, Instant},
};

/// Which request the kv load sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOp {
    Get,
    Put,
}

/// The key of index `i`.
fn key(i: u64) -> String {
    format!("bench:{i:08}")
}

/// A cheap per-stream random sequence (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Writes every key of the keyspace once, `depth` 256 on one stream, before the load.
pub(super) async fn preload(client: &Client, keys: u64, size: usize) -> io::Result<()> {
    let stream = client.open("kv").await?;
    let value = vec![b'v'; size];
    let mut buf = Vec::new();
    let (mut sent, mut answered) = (0u64, 0u64);
    let mut out = Vec::new();
    while answered < keys {
        out.clear();
        while sent < keys && sent - answered < 256 {
            let k = key(sent);
            let r = Request::Put {
                id: sent as u32,
                cond: Cond::Any,
                key: k.as_bytes(),
                value: &value,
            };
            kv::encode_request(&r, &mut out);
            sent += 1;
        }
        if !out.is_empty() {
            stream.send(&out).await?;
        }
        let Some(b) = stream.recv().await? else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server ended the preload stream",
            ));
        };
        buf.extend_from_slice(&b);
        let mut used_all = 0;
        while let Some((body, used)) = kv::split(&buf[used_all..]).map_err(io::Error::other)? {
            if body.get(4) != Some(&0) {
                return Err(io::Error::other(
                    "a preload PUT failed (is the store full?)",
                ));
            }
            answered += 1;
            used_all += used;
        }
        buf.drain(..used_all);
    }
    stream.finish()?;
    Ok(())
}

/// One stream's closed loop with `depth` requests in flight.
pub(super) async fn kv_closed(
    stream: Rc<Stream>,
    ctx: Rc<Ctx>,
    op: KvOp,
    keys: u64,
    depth: usize,
    seed: u64,
) {
    let value = vec![b'v'; ctx.plan.args.size];
    let mut rng = Rng(seed | 1);
    let mut in_flight: HashMap<u32, u64> = HashMap::with_capacity(depth);
    let mut next_id = 0u32;
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut send = |n: usize, in_flight: &mut HashMap<u32, u64>, out: &mut Vec<u8>| {
        let now = nanos(ctx.plan.base, Instant::now());
        for _ in 0..n {
            let k = key(rng.next() % keys.max(1));
            let id = next_id;
            next_id = next_id.wrapping_add(1);
            let r = match op {
                KvOp::Get => Request::Get {
                    id,
                    key: k.as_bytes(),
                },
                KvOp::Put => Request::Put {
                    id,
                    cond: Cond::Any,
                    key: k.as_bytes(),
                    value: &value,
                },
            };
            kv::encode_request(&r, out);
            in_flight.insert(id, now);
        }
    };
    send(depth, &mut in_flight, &mut out);
    loop {
        if !out.is_empty() {
            if let Err(e) = stream.send(&out).await {
                return ctx.rec.borrow_mut().error("kv send", &e);
            }
            out.clear();
        }
        let now = Instant::now();
        if (in_flight.is_empty() && now >= ctx.t.end) || now >= ctx.t.end + Duration::from_secs(5) {
            return;
        }
        match stream.recv().await {
            Ok(Some(b)) => buf.extend_from_slice(&b),
            Ok(None) => {
                return ctx
                    .rec
                    .borrow_mut()
                    .errors
                    .push("the server ended a kv stream".into());
            }
            Err(e) => return ctx.rec.borrow_mut().error("kv receive", &e),
        }
        let now = Instant::now();
        let mut used_all = 0;
        let mut answered = 0;
        loop {
            let (body, used) = match kv::split(&buf[used_all..]) {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => {
                    return ctx
                        .rec
                        .borrow_mut()
                        .errors
                        .push(format!("bad kv answer: {e}"));
                }
            };
            let id = kv::response_id(body).unwrap_or(u32::MAX);
            // Status 0 (OK) or 1 (NOT_FOUND, a GET of a key not preloaded) both count.
            if body.get(4).is_some_and(|s| *s > 1) && ctx.rec.borrow().errors.len() < 10 {
                let why = String::from_utf8_lossy(body.get(7..).unwrap_or_default()).into_owned();
                ctx.rec
                    .borrow_mut()
                    .errors
                    .push(format!("kv answer status {}: {why}", body[4]));
            }
            if let Some(sent) = in_flight.remove(&id) {
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
