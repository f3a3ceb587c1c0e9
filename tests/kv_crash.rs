//! Nothing acknowledged is lost: concurrent PUTs, `kill -9` at random moments (several times),
//! restart, and every write that got its 201 must be there with its exact value. A write that
//! was in flight at the kill may be there or not, but never torn.

mod util;

use std::{
    collections::HashMap,
    io::{BufReader, Write},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use util::{Server, read_response};

const WRITERS: usize = 16;
const ROUNDS: usize = 4;

/// One value per key, derived from the key, so a torn or mixed value cannot pass.
/// Writes keys `r{round}/w{w}/{n}` on one keep-alive connection until the server dies;
/// returns the keys it sent (the last may be unacknowledged) and those acknowledged.
fn writer(
    addr: std::net::SocketAddr,
    round: usize,
    w: usize,
    stop: &AtomicBool,
    acks: &AtomicUsize,
) -> (Vec<String>, Vec<String>) {
    let (mut sent, mut acked) = (Vec::new(), Vec::new());
    let Ok(conn) = std::net::TcpStream::connect(addr) else {
        return (sent, acked);
    };
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = conn.try_clone().unwrap();
    let mut input = BufReader::new(conn);
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("r{round}/w{w}/{n}");
        let body = util::value_of_key(&key);
        let head = format!(
            "PUT /kv/{key} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        sent.push(key.clone());
        if out
            .write_all(head.as_bytes())
            .and_then(|_| out.write_all(&body))
            .is_err()
        {
            break;
        }
        match read_response(&mut input, false) {
            Some(r) if r.status == 201 => {
                acked.push(key);
                acks.fetch_add(1, Ordering::Relaxed);
            }
            Some(r) => panic!("PUT {key}: {}", r.status),
            None => break, // killed
        }
    }
    (sent, acked)
}

fn crash_round(
    io: &str,
    data: &str,
    round: usize,
    kill_after: Duration,
) -> (Vec<String>, Vec<String>) {
    let mut s = Server::start(
        io,
        &["--workers", "2", "--data-dir", data, "--db-sync", "always"],
    );
    let stop = AtomicBool::new(false);
    let acks = AtomicUsize::new(0);
    let results = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    thread::scope(|sc| {
        for w in 0..WRITERS {
            let (addr, stop, acks, results) = (s.addr, &stop, &acks, results.clone());
            sc.spawn(move || {
                let (sent, acked) = writer(addr, round, w, stop, acks);
                let mut r = results.lock().unwrap();
                r.0.extend(sent);
                r.1.extend(acked);
            });
        }
        // The clock starts at the first acknowledgement, so a slow disk cannot leave a
        // round with nothing acknowledged to check.
        let started = std::time::Instant::now();
        while acks.load(Ordering::Relaxed) == 0 && started.elapsed() < Duration::from_secs(30) {
            thread::sleep(Duration::from_millis(5));
        }
        thread::sleep(kill_after);
        s.signal("KILL");
        s.wait(Duration::from_secs(10)).expect("killed");
        stop.store(true, Ordering::Relaxed);
    });
    let r = results.lock().unwrap();
    (r.0.clone(), r.1.clone())
}

both_backends! {
    fn every_acknowledged_write_survives_kill_9(io) {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        eprintln!("kill timing seed {seed}");
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_str().unwrap();
        let mut acked_all: Vec<String> = Vec::new();
        let mut sent_all: Vec<String> = Vec::new();
        for round in 0..ROUNDS {
            // 50..550 ms of load after the first acknowledgement, then the kill.
            let ms = 50 + (seed.rotate_left(round as u32 * 13) % 500);
            let (sent, acked) = crash_round(io, dir, round, Duration::from_millis(ms));
            eprintln!("round {round}: killed after {ms} ms, {} acknowledged of {} sent", acked.len(), sent.len());
            assert!(!acked.is_empty(), "round {round}: nothing was acknowledged before the kill");
            acked_all.extend(acked);
            sent_all.extend(sent);
        }
        let s = Server::start(io, &["--workers", "1", "--data-dir", dir]);
        let acked: std::collections::HashSet<&String> = acked_all.iter().collect();
        let mut conn = BufReader::new(s.connect());
        let mut present = HashMap::new();
        for key in &sent_all {
            let get = format!("GET /kv/{key} HTTP/1.1\r\nHost: x\r\n\r\n");
            conn.get_mut().write_all(get.as_bytes()).unwrap();
            let r = read_response(&mut conn, false).expect("GET answered");
            present.insert(key, r.status);
            match r.status {
                200 => assert!(r.body == util::value_of_key(key), "{key}: torn or wrong value ({} bytes)", r.body.len()),
                404 => assert!(!acked.contains(key), "{key} was acknowledged and is lost"),
                other => panic!("GET {key}: {other}"),
            }
        }
        let lost = acked_all.iter().filter(|k| present.get(k) != Some(&200)).count();
        assert_eq!(lost, 0);
        eprintln!("{} acknowledged writes, all present after {ROUNDS} kills", acked_all.len());
    }
}
