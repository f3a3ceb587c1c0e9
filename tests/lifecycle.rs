//! Starting, configuring and stopping the real binary.

mod util;

use std::{
    io::{BufReader, Write},
    process::Command,
    thread,
    time::{Duration, Instant},
};
use util::{Server, read_response};

fn ringwire(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

both_backends! {
    fn drain_lets_an_in_flight_request_finish_then_exits_zero(io) {
        let mut s = Server::start(io, &["--workers", "1", "--shutdown-timeout", "10s"]);
        // An in-flight request whose body arrives slowly.
        let mut slow = s.connect();
        slow.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234").unwrap();
        // An idle keep-alive connection.
        let idle = s.connect();
        let mut w = idle.try_clone().unwrap();
        w.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut idle_reader = BufReader::new(idle);
        assert_eq!(read_response(&mut idle_reader, false).unwrap().status, 200);
        thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        s.signal("TERM");
        thread::sleep(Duration::from_millis(300));
        // The idle connection was closed; new connections are no longer served.
        assert!(read_response(&mut idle_reader, false).is_none(), "idle connection closed by the drain");
        let refused = std::net::TcpStream::connect(s.addr).map(|mut c| {
            c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = c.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
            read_response(&mut BufReader::new(c), false).is_none()
        });
        assert!(refused.unwrap_or(true), "a new connection was served during the drain");
        // The in-flight request completes, told to close.
        slow.write_all(b"56789").unwrap();
        let resp = read_response(&mut BufReader::new(slow), false).expect("in-flight request answered");
        assert_eq!((resp.status, &resp.body[..]), (200, &b"0123456789"[..]));
        assert_eq!(resp.header("connection"), Some("close"));
        let status = s.wait(Duration::from_secs(10)).expect("exits after the drain");
        assert_eq!(status.code(), Some(0), "{}", s.log());
        assert!(start.elapsed() < Duration::from_secs(9), "exited before the deadline");
        assert!(s.log().contains("draining"), "{}", s.log());
    }
}

both_backends! {
    fn drain_deadline_force_closes_and_exits(io) {
        let mut s = Server::start(io, &["--workers", "1", "--shutdown-timeout", "500ms"]);
        let mut stuck = s.connect();
        stuck.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0").unwrap();
        thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        s.signal("TERM");
        let status = s.wait(Duration::from_secs(5)).expect("exits at the deadline");
        assert_eq!(status.code(), Some(0));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(400) && took < Duration::from_millis(1500), "exited after {took:?}");
        assert!(s.log().contains("force-closed 1"), "{}", s.log());
    }
}

#[test]
fn check_config_prints_the_effective_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ringwire.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9999\"\n[timeouts]\nhead = \"3s\"\n",
    )
    .unwrap();
    let (code, out, err) = ringwire(
        &[
            "check-config",
            "--config",
            file.to_str().unwrap(),
            "--keepalive-timeout",
            "5s",
        ],
        &[("RINGWIRE_LIMITS_MAX_BODY", "2m")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("listen = \"127.0.0.1:9999\""), "{out}");
    assert!(out.contains("head = \"3s\""), "{out}");
    assert!(out.contains("keepalive = \"5s\""), "{out}");
    assert!(out.contains("max_body = 2097152"), "{out}");
}

#[test]
fn bad_configuration_fails_at_start_naming_the_key() {
    let (code, _, err) = ringwire(&["serve", "--head-timeout", "forever"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("timeouts.head") && err.contains("--head-timeout"),
        "{err}"
    );
    let (code, _, err) = ringwire(&["check-config"], &[("RINGWIRE_IO", "kqueue")]);
    assert_eq!(code, 2);
    assert!(err.contains("io") && err.contains("$RINGWIRE_IO"), "{err}");
    let (code, _, err) = ringwire(&["serve", "--root", "/no/such/dir"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("root"), "{err}");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, _, err) = ringwire(
        &[
            "serve",
            "--listen",
            &addr,
            "--io",
            "epoll",
            "--admin",
            "",
            "--stream-listen",
            "",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains(&addr) && err.contains("bind"), "{err}");
}

#[test]
fn forced_uring_fails_loudly_when_unavailable() {
    let (code, _, err) = ringwire(
        &[
            "serve",
            "--io",
            "uring",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "",
            "--stream-listen",
            "",
        ],
        &[("RINGWIRE_URING_UNAVAILABLE", "test")],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("io_uring is unavailable") && err.contains("test"),
        "{err}"
    );
}

#[test]
fn auto_falls_back_to_epoll_and_says_why() {
    let child = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--admin",
            "",
            "--stream-listen",
            "",
        ])
        .env("RINGWIRE_URING_UNAVAILABLE", "simulated seccomp")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("backend epoll (auto: io_uring unavailable")
            && err.contains("simulated seccomp"),
        "{err}"
    );
}

#[test]
fn config_docs_are_up_to_date() {
    let (code, out, _) = ringwire(&["config-docs"], &[]);
    assert_eq!(code, 0);
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIG.md"))
        .unwrap_or_default();
    assert!(
        doc == out,
        "docs/CONFIG.md is stale: run `cargo run -- config-docs > docs/CONFIG.md`"
    );
}

/// Runs ringwire for at most `limit` (killed after it): exit code (`None` if killed) and stderr.
fn ringwire_for(args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (code, err)
}

both_backends! {
    fn a_second_instance_on_the_same_ports_fails_naming_the_address(io) {
        let s = Server::start(io, &["--workers", "2"]);
        let http = s.addr.to_string();
        let admin = s.admin.expect("admin listener").to_string();
        let stream = s.stream.expect("stream listener").to_string();
        // Every listener of the first one, one at a time, the others on free ports.
        for (flag, addr) in [("--listen", &http), ("--admin", &admin), ("--stream-listen", &stream)] {
            let mut args = vec!["serve", "--io", io, "--workers", "2"];
            for (f, free) in [("--listen", "127.0.0.1:0"), ("--admin", "127.0.0.1:0"), ("--stream-listen", "127.0.0.1:0")] {
                args.extend([f, if f == flag { addr.as_str() } else { free }]);
            }
            let (code, err) = ringwire_for(&args, Duration::from_secs(10));
            assert_eq!(code, Some(1), "{flag} {addr}: the second instance started:\n{err}");
            assert!(err.contains(addr.as_str()) && err.contains("another process listens there"), "{flag}: {err}");
        }
        // The first one still serves every request itself.
        for _ in 0..20 {
            let resp = util::raw(&s, b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            assert_eq!(resp.expect("answered").status, 200);
        }
    }
}

both_backends! {
    fn a_restart_right_after_kill_9_binds_the_same_ports(io) {
        let mut first = Server::start(io, &["--workers", "2"]);
        let (http, admin, stream) = (first.addr, first.admin.unwrap(), first.stream.unwrap());
        // A busy connection, so the dying process has sockets to tear down.
        let _held = first.connect();
        first.signal("KILL");
        first.wait(Duration::from_secs(10)).expect("killed");
        let (h, a, s) = (http.to_string(), admin.to_string(), stream.to_string());
        let second = Server::start(io, &["--workers", "2", "--listen", &h, "--admin", &a, "--stream-listen", &s]);
        assert_eq!(second.addr, http);
        let resp = util::raw(&second, b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(resp.expect("answered").status, 200);
    }
}
