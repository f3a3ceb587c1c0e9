//! `GET /debug/flamegraph` on the admin listener, against the real server on both backends:
//! an SVG (or folded stacks) of every core sampled in-process while HTTP load runs, with not
//! one failed request (SIGPROF interrupts `epoll_wait`, `io_uring_enter` and the blocking
//! threads' calls while a profile runs), one profile at a time (409), 400 for a bad query,
//! and the `admin` scope when keys are configured.

mod util;

use std::{
    io::{BufReader, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};
use util::{
    Response, Server, read_response,
    tokens::{Key, KeyDir, admin_call, error_code},
};

/// HTTP load on the data port until stopped: keep-alive GETs (a new connection every 50
/// requests, so accepts happen during the profile too) and kv PUTs (the store's writer
/// thread); every answer that is not 2xx, and every I/O error, is a failure.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    threads: Vec<JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(addr: SocketAddr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let threads = (0..3)
            .map(|t| {
                let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
                thread::spawn(move || {
                    let mut errors = Vec::new();
                    let mut i = 0u64;
                    // A bound of its own, should the test never stop it.
                    let end = Instant::now() + Duration::from_secs(60);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                        match one_connection(addr, t, &mut i, &stop, &ok) {
                            Ok(()) => {}
                            Err(e) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                if errors.len() < 5 {
                                    errors.push(e);
                                }
                            }
                        }
                    }
                    errors
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            threads,
        }
    }

    /// Stops the load: (answered requests, failures and the first few of them).
    fn finish(self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let errors = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            errors,
        )
    }
}

/// Up to 50 requests on one connection; thread 0 writes to the store, the others GET.
fn one_connection(
    addr: SocketAddr,
    thread: usize,
    i: &mut u64,
    stop: &AtomicBool,
    ok: &AtomicU64,
) -> Result<(), String> {
    let s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    for _ in 0..50 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        *i += 1;
        let request = if thread == 0 {
            let body = format!("value {i}");
            format!(
                "PUT /kv/profiled-{} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                *i % 16,
                body.len()
            )
        } else {
            "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n".to_string()
        };
        w.write_all(request.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let res = read_response(&mut r, false).ok_or("no response (connection closed)")?;
        if !(200..300).contains(&res.status) {
            return Err(format!(
                "{} {}",
                res.status,
                String::from_utf8_lossy(&res.body)
            ));
        }
        ok.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Profiles `query` while load runs; asserts the load saw no failure.
fn profile_under_load(s: &Server, query: &str) -> Response {
    let load = Load::start(s.addr);
    // Load is flowing before the profile starts.
    thread::sleep(Duration::from_millis(200));
    let r = admin_call(s, "GET", &format!("/debug/flamegraph?{query}"), None);
    thread::sleep(Duration::from_millis(200));
    let (ok, failed, errors) = load.finish();
    assert_eq!(
        failed,
        0,
        "failed requests during the profile: {errors:?}\n{}",
        s.log()
    );
    assert!(ok > 0, "the load made no request");
    assert_eq!(r.status, 200, "{r:?}\n{}", s.log());
    r
}

/// Whether process `pid` has a SIGPROF handler installed (`SigCgt` in /proc/PID/status).
fn catches_sigprof(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .expect("SigCgt line");
    let mask = u64::from_str_radix(mask.trim(), 16).unwrap();
    mask & (1 << (27 - 1)) != 0 // SIGPROF is 27 on Linux
}

/// The sample count of an inferno SVG: its root frame's `all (1,234 samples, 100%)`.
fn svg_samples(svg: &str) -> u64 {
    let at = svg.find("all (").expect("a root frame") + "all (".len();
    let digits: String = svg[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().expect("a sample count")
}

both_backends! {
    fn svg_of_every_core_under_load_with_no_failed_request(io) {
        let s = Server::start(io, &["--workers", "2", "--access-log-sample", "1"]);
        let r = profile_under_load(&s, "seconds=2");
        assert_eq!(r.header("content-type"), Some("image/svg+xml"), "{r:?}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let svg = String::from_utf8(r.body).unwrap();
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"), "{}", &svg[..200]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(
            svg.contains("all cores (workers and control), 2 s at 99 Hz"),
            "title says the seconds, the rate and the cores"
        );
        assert!(svg_samples(&svg) > 0);
        // Symbolized frames of ringwire's own crates, sampled on the worker threads.
        assert!(svg.contains("ringwire_net::") || svg.contains("ringwire_reactor::"));
        // One tower per worker core, named by its core (`ringwire-w-N`, within Linux's 15
        // bytes of thread name), and none merged under a cut-off name.
        for core in ["ringwire-w-0", "ringwire-w-1"] {
            assert!(svg.contains(&format!(">{core} (")), "{core} is in the profile on its own");
        }
        assert!(!svg.contains(">ringwire-worker ("), "the cores are not merged");
    }
}

both_backends! {
    fn folded_stacks_cover_the_workers(io) {
        let s = Server::start(io, &["--workers", "2"]);
        let r = profile_under_load(&s, "seconds=1&format=folded&hz=250");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        let text = String::from_utf8(r.body).unwrap();
        // Samples in ringwire's code, by worker core: each core's thread has its own root.
        let mut worker_samples = [0; 2];
        for line in text.lines() {
            let (stack, count) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
            let count: u64 = count.parse().unwrap_or_else(|_| panic!("count of {line}"));
            assert!(count > 0 && !stack.is_empty() && !stack.contains(";;"), "{line}");
            assert!(!stack.starts_with("ringwire-worker;"), "merged cores: {line}");
            for (core, n) in worker_samples.iter_mut().enumerate() {
                if stack.starts_with(&format!("ringwire-w-{core};")) && stack.contains(";ringwire_") {
                    *n += count;
                }
            }
        }
        assert!(worker_samples.iter().all(|n| *n > 0), "a worker core without samples in ringwire's code {worker_samples:?}:\n{text}");
    }
}

both_backends! {
    fn one_profile_at_a_time(io) {
        let s = Server::start(io, &["--workers", "1"]);
        let admin = s.admin.unwrap();
        let first = thread::spawn(move || {
            util::tokens::call_at(admin, "GET", "/debug/flamegraph?seconds=3&format=folded", None, b"")
        });
        thread::sleep(Duration::from_millis(500));
        let second = admin_call(&s, "GET", "/debug/flamegraph?seconds=1", None);
        // Sampling starts once the symbol tables are loaded (a while, in a debug build).
        let mut catching = false;
        while !catching && !first.is_finished() {
            catching = catches_sigprof(s.pid());
            thread::sleep(Duration::from_millis(10));
        }
        let first = first.join().unwrap();
        // The second normally finds the first running; on a starved machine the first may
        // have arrived second: either way exactly one ran and the other was refused.
        let second_ran = second.status == 200;
        let (ran, refused) = if first.status == 200 { (first, second) } else { (second, first) };
        assert_eq!(ran.status, 200, "{ran:?}");
        assert_eq!(refused.status, 409, "{refused:?}\n{}", s.log());
        assert_eq!(error_code(&refused), "profile.busy", "{refused:?}");
        let retry: u64 = refused.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=3).contains(&retry), "{retry}");
        // (Checked while the 3 s profile runs; in the swapped order it was over already.)
        assert!(catching || second_ran, "SIGPROF has a handler while a profile runs");
        // The lock went with the first profile.
        let again = admin_call(&s, "GET", "/debug/flamegraph?seconds=1&format=folded", None);
        assert_eq!(again.status, 200, "{again:?}");
        // Between profiles nothing samples: no SIGPROF handler (the timer goes with it).
        assert!(!catches_sigprof(s.pid()), "SIGPROF still caught after the profiles");
    }
}

both_backends! {
    fn a_bad_query_is_400_and_only_get_is_taken(io) {
        let s = Server::start(io, &["--workers", "1"]);
        for q in ["seconds=0", "seconds=61", "seconds=ten", "seconds=", "format=pdf", "hz=0", "secs=2"] {
            let r = admin_call(&s, "GET", &format!("/debug/flamegraph?{q}"), None);
            assert_eq!(r.status, 400, "{q}: {r:?}");
            assert_eq!(error_code(&r), "profile.bad_parameter", "{q}: {r:?}");
        }
        let r = admin_call(&s, "GET", "/debug/flamegraph?seconds=61", None);
        assert!(String::from_utf8_lossy(&r.body).contains("1 to 60"), "{r:?}");
        for method in ["POST", "HEAD"] {
            let r = admin_call(&s, method, "/debug/flamegraph?seconds=1", None);
            assert_eq!(r.status, 405, "{method}: {r:?}");
        }
    }
}

both_backends! {
    fn needs_the_admin_scope_when_keys_are_configured(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &["--workers", "1", "--auth-keys", keys.path()]);
        let path = "/debug/flamegraph?seconds=1&format=folded";
        let r = admin_call(&s, "GET", path, None);
        assert_eq!((r.status, error_code(&r)), (401, "auth.missing_token".into()), "{r:?}");
        let r = admin_call(&s, "GET", path, Some(&a.token(&["kv:read:"])));
        assert_eq!((r.status, error_code(&r)), (403, "auth.forbidden".into()), "{r:?}");
        // A refused request takes no lock: the admin's profile runs at once.
        let r = admin_call(&s, "GET", path, Some(&a.token(&["admin"])));
        assert_eq!(r.status, 200, "{r:?}\n{}", s.log());
    }
}
