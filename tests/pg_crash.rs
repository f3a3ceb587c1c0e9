//! Nothing acknowledged is lost on the PostgreSQL backend: concurrent PUTs while (1) ringwire
//! is `kill -9`ed, or (2) PostgreSQL itself is `kill -9`ed (crash recovery on restart). Every
//! write that got its 201 must then be there with its exact value; a write in flight at the
//! kill may be there or not, never torn. In (2) the same ringwire process keeps running and
//! serves again once PostgreSQL is back.

mod util;

use std::{
    collections::HashSet,
    io::{BufReader, Write},
    net::SocketAddr,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};
use util::{Server, pg::PgCluster, read_response};

const WRITERS: usize = 8;

/// PUTs `{tag}/w{w}/{n}` until `stop`; reconnects after errors (the server or the database
/// may be gone for a while). Returns (sent, acknowledged with 201).
fn writer(
    addr: SocketAddr,
    tag: &str,
    w: usize,
    stop: &AtomicBool,
    acks: &AtomicUsize,
) -> (Vec<String>, Vec<String>) {
    let (mut sent, mut acked) = (Vec::new(), Vec::new());
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let Ok(conn) = std::net::TcpStream::connect(addr) else {
            thread::sleep(Duration::from_millis(20));
            continue;
        };
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut out = conn.try_clone().unwrap();
        let mut input = BufReader::new(conn);
        while !stop.load(Ordering::Relaxed) {
            let key = format!("{tag}/w{w}/{n}");
            n += 1;
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
                Some(r) if r.status == 503 => thread::sleep(Duration::from_millis(10)),
                Some(r) => panic!("PUT {key}: {}", r.status),
                None => break,
            }
        }
    }
    (sent, acked)
}

/// Runs the writers, calls `crash` once some writes are acknowledged, lets them go on for
/// `after`, then stops them.
fn under_load(
    addr: SocketAddr,
    tag: &str,
    crash: impl FnOnce(),
    after: Duration,
) -> (Vec<String>, Vec<String>) {
    let stop = AtomicBool::new(false);
    let acks = AtomicUsize::new(0);
    let all = Mutex::new((Vec::new(), Vec::new()));
    thread::scope(|sc| {
        for w in 0..WRITERS {
            let (stop, acks, all) = (&stop, &acks, &all);
            sc.spawn(move || {
                let (s, a) = writer(addr, tag, w, stop, acks);
                let mut all = all.lock().unwrap();
                all.0.extend(s);
                all.1.extend(a);
            });
        }
        let t = Instant::now();
        while acks.load(Ordering::Relaxed) < 50 && t.elapsed() < Duration::from_secs(30) {
            thread::sleep(Duration::from_millis(5));
        }
        crash();
        thread::sleep(after);
        stop.store(true, Ordering::Relaxed);
    });
    all.into_inner().unwrap()
}

fn check(s: &Server, sent: &[String], acked: &[String]) {
    let acked_set: HashSet<&String> = acked.iter().collect();
    let mut conn = BufReader::new(s.connect());
    let mut lost = Vec::new();
    for key in sent {
        let get = format!("GET /kv/{key} HTTP/1.1\r\nHost: x\r\n\r\n");
        conn.get_mut().write_all(get.as_bytes()).unwrap();
        let r = read_response(&mut conn, false).expect("GET answered");
        match r.status {
            200 => assert!(
                r.body == util::value_of_key(key),
                "{key}: torn or wrong value"
            ),
            404 if acked_set.contains(key) => lost.push(key.clone()),
            404 => {}
            other => panic!("GET {key}: {other}"),
        }
    }
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
}

fn args(url: &str) -> Vec<String> {
    [
        "--workers",
        "2",
        "--db-backend",
        "postgres",
        "--db-url",
        url,
    ]
    .map(String::from)
    .to_vec()
}

both_backends! {
    fn acknowledged_writes_survive_kill_9_of_ringwire(io) {
        let Some(pg) = PgCluster::start() else { return };
        let url = pg.url();
        let a = args(&url);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let (mut sent, mut acked) = (Vec::new(), Vec::new());
        for round in 0..2 {
            let mut s = Server::start(io, &a);
            let (se, ac) = under_load(s.addr, &format!("r{round}"), || {
                thread::sleep(Duration::from_millis(100 + 150 * round as u64));
                s.signal("KILL");
            }, Duration::from_millis(200));
            s.wait(Duration::from_secs(10)).expect("killed");
            assert!(!ac.is_empty());
            sent.extend(se);
            acked.extend(ac);
        }
        let s = Server::start(io, &a);
        check(&s, &sent, &acked);
        eprintln!("{} acknowledged of {} sent, all present after 2 kills of ringwire", acked.len(), sent.len());
    }
}

both_backends! {
    fn acknowledged_writes_survive_kill_9_of_postgres(io) {
        let Some(pg) = PgCluster::start() else { return };
        let url = pg.url();
        let a = args(&url);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let s = Server::start(io, &a);
        let (sent, acked) = under_load(s.addr, "pgkill", || {
            thread::sleep(Duration::from_millis(200));
            pg.kill();
            thread::sleep(Duration::from_millis(500));
            pg.start_again();
        }, Duration::from_secs(3));
        assert!(!acked.is_empty());
        // The same process serves again, without a restart; what it acknowledged before
        // the crash survived PostgreSQL's crash recovery.
        let deadline = Instant::now() + Duration::from_secs(15);
        while s.admin_get("/health/ready").0 != 200 {
            assert!(Instant::now() < deadline, "ready again after PostgreSQL is back");
            thread::sleep(Duration::from_millis(100));
        }
        check(&s, &sent, &acked);
        eprintln!("{} acknowledged of {} sent, all present after kill -9 of PostgreSQL", acked.len(), sent.len());
    }
}
