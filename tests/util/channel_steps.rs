//! Steps the channel tests share: reading and replaying, a publisher that runs until the
//! server is killed, consumers attached from seq 1, servers on PostgreSQL.

use super::channels::{Ans, Chan, payload};
use ringwire_protocol::channels::Start;
use std::net::SocketAddr;

/// Reads MESSAGEs until `n` arrived (30 s each at most): (seq, data) in arrival order; each
/// must be a first delivery.
pub fn read_n(c: &mut Chan, n: usize) -> Vec<(u64, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let (seq, deliveries, data) = c
                .message()
                .unwrap_or_else(|e| panic!("message {i} of {n}: {e}"));
            assert_eq!(deliveries, 1, "a subscription delivers once");
            (seq, data)
        })
        .collect()
}

/// INFO of `channel` on a fresh connection: (first, next).
pub fn info_of(addr: SocketAddr, channel: &str) -> (u64, u64) {
    match Chan::open(addr).unwrap().info(channel).unwrap() {
        Ans::Info { first, next, .. } => (first, next),
        other => panic!("INFO {channel}: {other:?}"),
    }
}

/// Replays `channel` from seq 1 on a fresh connection: every message up to INFO's next.
pub fn replay_all(addr: SocketAddr, channel: &str) -> Vec<(u64, Vec<u8>)> {
    let (first, next) = info_of(addr, channel);
    assert_eq!(first, 1, "nothing is trimmed without retention");
    let (mut c, ans) = Chan::subscribe(addr, channel, Start::From(1)).unwrap();
    assert_eq!(ans, Ans::Subscribed { first: 1, next }, "SUB from 1");
    read_n(&mut c, (next - 1) as usize)
}

/// What one publisher sent, and the (seq, payload) of what was acknowledged.
pub type Published = (Vec<Vec<u8>>, Vec<(u64, Vec<u8>)>);

/// One publisher to `channel` until the server dies (or `stop`): PUBs 64 at a time, 32 in
/// flight, counting acknowledgements in `acks`.
pub fn crash_publisher(
    addr: SocketAddr,
    channel: &str,
    who: usize,
    stop: &std::sync::atomic::AtomicBool,
    acks: &std::sync::atomic::AtomicUsize,
) -> Published {
    use std::sync::atomic::Ordering;
    let (mut sent, mut acked) = (Vec::new(), Vec::new());
    let Ok(mut c) = Chan::open(addr) else {
        return (sent, acked);
    };
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let batch: Vec<Vec<u8>> = (n..n + 64).map(|i| payload(who, i)).collect();
        n += 64;
        sent.extend(batch.iter().cloned());
        let mut seqs = Vec::new();
        let result = c.publish_all(channel, &batch, 32, &mut seqs);
        acks.fetch_add(seqs.len(), Ordering::Relaxed);
        acked.extend(seqs.into_iter().zip(batch));
        if result.is_err() {
            break; // killed
        }
    }
    (sent, acked)
}

/// The durable patterns the PostgreSQL channel tests use.
pub const PG_DURABLE: &str = "orders.*,audit";

/// `--workers N --db-backend postgres --db-url URL --durable PG_DURABLE`.
pub fn pg_args(url: &str, workers: &str) -> Vec<String> {
    [
        "--workers",
        workers,
        "--db-backend",
        "postgres",
        "--db-url",
        url,
        "--durable",
        PG_DURABLE,
    ]
    .map(String::from)
    .to_vec()
}

/// A server started with owned arguments.
pub fn start(io: &str, args: &[String]) -> super::Server {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    super::Server::start(io, &a)
}

/// The consumer `c` of `channel` on a new connection; panics unless attached.
pub fn attach_from_1(addr: SocketAddr, channel: &str, c: &str) -> Chan {
    let (chan, ans) = Chan::consume(addr, channel, c, 0, 0, Start::From(1)).unwrap();
    assert!(matches!(ans, Ans::Subscribed { .. }), "CONSUME: {ans:?}");
    chan
}
