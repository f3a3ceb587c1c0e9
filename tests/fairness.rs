//! One greedy client must not take a core from the others: a single-worker server answers a
//! polite client promptly while a greedy one pipelines without pause (epoll: the greedy task
//! must yield) or floods requests without reading answers (io_uring: it must not hoard the
//! core's provided receive buffers). Stalled file downloads: `tests/slow_readers.rs`.

mod util;

use std::{
    io::{BufReader, ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};
use util::{Server, read_response};

const REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";

/// How long the polite client may wait for any one answer. Generous: the machine running the
/// tests is shared; a starved core never answers at all.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// A client that writes pipelined requests as fast as the socket takes them, on a thread of
/// its own, and (if `read`) reads and discards the answers on another, until dropped.
struct Greedy {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Greedy {
    fn start(addr: SocketAddr, read: bool) -> Greedy {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        let mut w = stream.try_clone().unwrap();
        w.set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let (s, n) = (stop.clone(), sent.clone());
        threads.push(thread::spawn(move || {
            let batch = REQUEST.repeat(2048);
            while !s.load(Ordering::Relaxed) {
                match w.write(&batch) {
                    Ok(k) => {
                        n.fetch_add(k as u64, Ordering::Relaxed);
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        }));
        if read {
            let mut r = stream;
            r.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let (s, n) = (stop.clone(), received.clone());
            threads.push(thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while !s.load(Ordering::Relaxed) {
                    match r.read(&mut buf) {
                        Ok(0) => return,
                        Ok(k) => {
                            n.fetch_add(k as u64, Ordering::Relaxed);
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                ErrorKind::WouldBlock
                                    | ErrorKind::TimedOut
                                    | ErrorKind::Interrupted
                            ) => {}
                        Err(_) => return,
                    }
                }
            }));
        }
        Greedy {
            stop,
            sent,
            received,
            threads,
        }
    }

    /// Waits until the greedy client has pushed `bytes` requests' worth into the server.
    fn wait_sent(&self, bytes: u64) {
        let end = Instant::now() + Duration::from_secs(30);
        while self.sent.load(Ordering::Relaxed) < bytes {
            assert!(Instant::now() < end, "the greedy client could not send");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Greedy {
    /// Waits until the server stops taking the greedy client's bytes (it sends nothing for a
    /// quarter of a second).
    fn wait_stalled(&self) {
        let end = Instant::now() + Duration::from_secs(30);
        let mut last = self.sent.load(Ordering::Relaxed);
        loop {
            thread::sleep(Duration::from_millis(250));
            let now = self.sent.load(Ordering::Relaxed);
            if now == last {
                return;
            }
            assert!(Instant::now() < end, "the server kept taking the flood");
            last = now;
        }
    }
}

impl Drop for Greedy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One request on `s`; whether its answer came within [`ANSWER_WITHIN`].
fn round_trip(s: &mut BufReader<TcpStream>) -> bool {
    s.get_ref().set_read_timeout(Some(ANSWER_WITHIN)).unwrap();
    if s.get_mut().write_all(REQUEST).is_err() {
        return false;
    }
    matches!(read_response(s, false), Some(r) if r.status == 200)
}

/// `rounds` round trips, alternating a kept-alive connection and a fresh one (which needs the
/// accept loop too); returns how many were answered in time.
fn polite_client(addr: SocketAddr, rounds: usize) -> usize {
    let connect = || {
        let s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        BufReader::new(s)
    };
    let mut kept = connect();
    let mut ok = 0;
    for i in 0..rounds {
        let answered = if i % 2 == 0 {
            round_trip(&mut kept)
        } else {
            round_trip(&mut connect())
        };
        if answered {
            ok += 1;
        } else {
            kept = connect();
        }
    }
    ok
}

/// The sum of a per-core gauge on the metrics endpoint.
fn gauge(server: &Server, name: &str) -> f64 {
    let (status, body) = server.admin_get("/metrics");
    assert_eq!(status, 200);
    body.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

both_backends! {
    fn a_pipelining_client_that_never_pauses_does_not_starve_the_core(io) {
        // Small receive buffers: every read fills its buffer, so the greedy connection's
        // socket never reads as drained and only the reactor's budget makes its task yield.
        let server = Server::start(io, &["--workers", "1", "--recv-buffer-size", "512"]);
        let greedy = Greedy::start(server.addr, true);
        greedy.wait_sent(4 << 20);
        let rounds = 20;
        let ok = polite_client(server.addr, rounds);
        let (sent, received) = (
            greedy.sent.load(Ordering::Relaxed),
            greedy.received.load(Ordering::Relaxed),
        );
        drop(greedy);
        eprintln!("{io}: greedy sent {sent} B, got {received} B back; polite {ok}/{rounds}");
        assert!(received > 0, "the greedy client was answered too");
        assert_eq!(ok, rounds, "the polite client was starved on {io}");
    }
}

both_backends! {
    fn a_client_that_floods_without_reading_holds_few_receive_buffers(io) {
        // 512 provided buffers (the default) on the one core; the write timeout outlasts the
        // test, so the greedy connection stays, blocked on writing its answers.
        let server = Server::start(io, &["--workers", "1", "--write-timeout", "60s"]);
        let greedy = Greedy::start(server.addr, false);
        greedy.wait_sent(1 << 20);
        greedy.wait_stalled();
        let held = (0..5)
            .map(|_| {
                thread::sleep(Duration::from_millis(50));
                gauge(&server, "ringwire_recv_buffers_in_use")
            })
            .fold(0.0, f64::max);
        let rounds = 10;
        let ok = polite_client(server.addr, rounds);
        drop(greedy);
        eprintln!("{io}: greedy connection holds {held} receive buffers; polite {ok}/{rounds}");
        assert!(
            held <= 128.0,
            "one connection that does not read holds {held} of the core's receive buffers"
        );
        assert_eq!(ok, rounds, "the polite client was starved on {io}");
    }
}
