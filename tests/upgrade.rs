//! Zero-downtime upgrade against the real binary, on both backends: while clients send
//! requests without pause (keep-alive connections, and new connections all the time),
//! `ringwire upgrade` starts a successor that inherits the listeners; the old process drains
//! and exits. No request may fail and no connection attempt may be refused.

mod util;

use std::{
    io::{BufReader, Write},
    net::{SocketAddr, TcpStream},
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};
use util::{Server, read_response};

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    errors: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, count: &AtomicU64, what: String) {
        count.fetch_add(1, Ordering::Relaxed);
        let mut e = self.errors.lock().unwrap();
        if e.len() < 10 {
            e.push(what);
        }
    }
}

/// One client: connects, sends up to `per_conn` requests one after another (closing early
/// when the server says `Connection: close`), and again, until `stop`.
fn client(addr: SocketAddr, per_conn: usize, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    while !stop.load(Ordering::Relaxed) {
        let sock = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => {
                tally.fail(&tally.refused, format!("connect: {e}"));
                continue;
            }
        };
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        sock.set_nodelay(true).unwrap();
        let mut w = sock.try_clone().unwrap();
        let mut r = BufReader::new(sock);
        for i in 0..per_conn {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if let Err(e) = w.write_all(b"GET /plaintext HTTP/1.1\r\nHost: upgrade\r\n\r\n") {
                tally.fail(
                    &tally.failed,
                    format!("request {i} on a connection: write: {e}"),
                );
                break;
            }
            match read_response(&mut r, false) {
                Some(resp) if resp.status == 200 => {
                    tally.ok.fetch_add(1, Ordering::Relaxed);
                    if resp.header("connection") == Some("close") {
                        break;
                    }
                }
                Some(resp) => {
                    tally.fail(
                        &tally.failed,
                        format!("request {i}: status {}", resp.status),
                    );
                    break;
                }
                None => {
                    tally.fail(
                        &tally.failed,
                        format!("request {i} on a connection: no answer"),
                    );
                    break;
                }
            }
        }
    }
}

/// Kills the successor when the test ends, however it ends.
struct Successor(u32);

impl Drop for Successor {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

both_backends! {
    fn an_upgrade_under_load_drops_nothing(io) {
        let mut old = Server::start(io, &[]);
        let admin = old.admin.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        // Two long keep-alive clients and two that reconnect every few requests.
        let clients: Vec<_> = [1000, 1000, 3, 1]
            .into_iter()
            .map(|per_conn| {
                let (stop, tally) = (stop.clone(), tally.clone());
                let addr = old.addr;
                thread::spawn(move || client(addr, per_conn, stop, tally))
            })
            .collect();
        thread::sleep(Duration::from_millis(500));
        let before = tally.ok.load(Ordering::Relaxed);
        let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
            .args(["upgrade", "--admin", &admin.to_string()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "ringwire upgrade failed: {stdout}{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            old.log()
        );
        let pid: u32 = stdout
            .split("\"pid\":")
            .nth(1)
            .and_then(|p| p.trim_end_matches(|c: char| !c.is_ascii_digit()).parse().ok())
            .unwrap_or_else(|| panic!("no pid in `{stdout}`"));
        let _successor = Successor(pid);
        assert_ne!(pid, old.pid());
        // The old process drains and exits by itself, under load.
        let status = old.wait(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "the old process did not drain and exit cleanly ({status:?}):\n{}",
            old.log()
        );
        // The successor serves alone now.
        thread::sleep(Duration::from_millis(500));
        let after_exit = tally.ok.load(Ordering::Relaxed);
        thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        let (ok, refused, failed) = (
            tally.ok.load(Ordering::Relaxed),
            tally.refused.load(Ordering::Relaxed),
            tally.failed.load(Ordering::Relaxed),
        );
        let errors = tally.errors.lock().unwrap().clone();
        println!("{ok} requests, {before} before the upgrade; refused {refused}, failed {failed}");
        assert_eq!((refused, failed), (0, 0), "{errors:?}\n{}", old.log());
        assert!(ok > after_exit && after_exit > before, "the successor serves");
        let log = old.log();
        assert!(log.contains(&format!("upgrade: process {pid} is ready")), "{log}");
        assert!(log.contains("upgrade: serving on the inherited listeners"), "{log}");
        // Its admin endpoints answer on the same address.
        let mut s = TcpStream::connect(admin).unwrap();
        s.write_all(b"GET /health/ready HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let r = read_response(&mut BufReader::new(s), false).unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
}

/// `ringwire upgrade` against `admin`: (exit code, stdout + stderr).
fn upgrade(admin: SocketAddr) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(["upgrade", "--admin", &admin.to_string()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

fn plaintext(s: &Server) -> u16 {
    let mut c = s.connect();
    c.write_all(b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    read_response(&mut BufReader::new(c), false).map_or(0, |r| r.status)
}

both_backends! {
    fn a_successor_that_fails_leaves_the_old_process_serving(io) {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ringwire.toml");
        std::fs::write(&config, "").unwrap();
        let mut old = Server::start(io, &["--config", config.to_str().unwrap()]);
        // The successor reads the configuration again: make it one that cannot start.
        std::fs::write(&config, "limits = \"not a table\"\n").unwrap();
        let (code, text) = upgrade(old.admin.unwrap());
        assert_eq!(code, Some(1), "{text}");
        assert!(text.contains("500") && text.contains("ended before it was ready"), "{text}");
        assert!(old.wait(Duration::from_millis(300)).is_none(), "the old process must go on");
        assert_eq!(plaintext(&old), 200);
        assert!(old.log().contains("upgrade failed, this process goes on serving"), "{}", old.log());
        // A later upgrade with a good configuration still works.
        std::fs::write(&config, "").unwrap();
        let (code, text) = upgrade(old.admin.unwrap());
        assert_eq!(code, Some(0), "{text}\n{}", old.log());
        let pid: u32 = text.split("\"pid\":").nth(1).unwrap().trim_end_matches(|c: char| !c.is_ascii_digit()).parse().unwrap();
        let _successor = Successor(pid);
        assert!(old.wait(Duration::from_secs(30)).is_some_and(|s| s.success()));
        assert_eq!(plaintext(&old), 200, "the successor serves on the same address");
    }
}

both_backends! {
    fn systemd_hears_the_successor_is_the_main_process(io) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let notify = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        notify.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut old = Server::start_with_env(io, &[], &[("NOTIFY_SOCKET", path.to_str().unwrap())]);
        let mut buf = [0u8; 512];
        let mut said = Vec::new();
        let mut hear = |said: &mut Vec<String>| {
            let n = notify.recv(&mut buf).unwrap();
            said.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        };
        hear(&mut said);
        assert_eq!(said, ["READY=1"]);
        let (code, text) = upgrade(old.admin.unwrap());
        assert_eq!(code, Some(0), "{text}");
        let pid: u32 = text.split("\"pid\":").nth(1).unwrap().trim_end_matches(|c: char| !c.is_ascii_digit()).parse().unwrap();
        let _successor = Successor(pid);
        // The successor does not claim readiness itself: the old process names it main first.
        while !said.iter().any(|m| m.starts_with("MAINPID=")) {
            hear(&mut said);
        }
        let handed = said.iter().find(|m| m.starts_with("MAINPID=")).unwrap();
        assert_eq!(handed, &format!("MAINPID={pid}\nREADY=1"), "{said:?}");
        assert!(!said[1..].contains(&"READY=1".to_string()), "the successor said READY itself: {said:?}");
        assert!(old.wait(Duration::from_secs(30)).is_some_and(|s| s.success()));
    }
}

both_backends! {
    fn an_idle_connection_is_answered_and_probes_see_the_successor(io) {
        let mut old = Server::start(io, &["--keepalive-timeout", "20s"]);
        let admin = old.admin.unwrap();
        // A keep-alive connection that goes idle on the old process before the upgrade.
        let idle = old.connect();
        let mut w = idle.try_clone().unwrap();
        let mut r = BufReader::new(idle);
        w.write_all(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut r, false).map(|r| r.status), Some(200));
        let (code, text) = upgrade(admin);
        assert_eq!(code, Some(0), "{text}");
        let pid: u32 = text.split("\"pid\":").nth(1).unwrap().trim_end_matches(|c: char| !c.is_ascii_digit()).parse().unwrap();
        let _successor = Successor(pid);
        // The old process waits for that connection's next request (a hand-over does not
        // close idle connections under a client's feet), so it is still draining now; every
        // probe reaches the successor, which is ready.
        for _ in 0..20 {
            let mut s = TcpStream::connect(admin).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET /health/ready HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
            let resp = read_response(&mut BufReader::new(s), false).unwrap();
            assert_eq!(resp.status, 200, "a probe saw the draining process: {}", String::from_utf8_lossy(&resp.body));
        }
        assert!(old.wait(Duration::from_millis(100)).is_none(), "the old process left its idle connection");
        // The idle connection's next request is answered, with Connection: close.
        w.write_all(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let resp = read_response(&mut r, false).expect("the idle connection's next request is answered");
        assert_eq!((resp.status, resp.header("connection")), (200, Some("close")));
        assert!(old.wait(Duration::from_secs(10)).is_some_and(|s| s.success()), "{}", old.log());
    }
}
