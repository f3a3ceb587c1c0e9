//! The control core against the real binary: metrics, probes, signals, sd_notify, logs,
//! systemd unit checks. Each server-backed test runs on both backends.

mod util;

use std::{
    io::Write,
    os::unix::net::UnixDatagram,
    process::Command,
    thread,
    time::{Duration, Instant},
};
use util::{Server, raw};

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `promtool check metrics` on `text`; panics with promtool's findings. scripts/test installs
/// promtool (Debian package `prometheus`).
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: scripts/test installs it (Debian package prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
}

both_backends! {
    fn metrics_count_exactly_the_requests_made(io) {
        let s = Server::start(io, &["--workers", "2"]);
        for _ in 0..60 {
            assert_eq!(raw(&s, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().status, 200);
        }
        for _ in 0..25 {
            assert_eq!(raw(&s, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc").unwrap().status, 200);
        }
        for _ in 0..15 {
            assert_eq!(raw(&s, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().status, 404);
        }
        assert_eq!(raw(&s, b"GET / HTTP/1.1\r\n\r\n").unwrap().status, 400);
        // A response reaches the client a moment before its worker records it: poll briefly.
        let series = |m: &str, c: &str| format!("ringwire_http_requests_total{{protocol=\"http1\",method=\"{m}\",status=\"{c}\"}}");
        let deadline = Instant::now() + Duration::from_secs(5);
        let text = loop {
            let (status, text) = s.admin_get("/metrics");
            assert_eq!(status, 200);
            if metric(&text, &series("GET", "2xx")) == Some(60.0) && metric(&text, &series("POST", "2xx")) == Some(25.0) && metric(&text, &series("GET", "4xx")) == Some(15.0) || Instant::now() > deadline {
                break text;
            }
            thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(metric(&text, &series("GET", "2xx")), Some(60.0), "{text}");
        assert_eq!(metric(&text, &series("POST", "2xx")), Some(25.0), "{text}");
        assert_eq!(metric(&text, &series("GET", "4xx")), Some(15.0), "{text}");
        assert_eq!(metric(&text, "ringwire_http_errors_total{status=\"400\"}"), Some(1.0), "{text}");
        assert_eq!(metric(&text, "ringwire_http_request_duration_seconds_count"), Some(100.0), "{text}");
        assert_eq!(
            metric(&text, "ringwire_http_request_duration_seconds_bucket{le=\"+Inf\"}"),
            metric(&text, "ringwire_http_request_duration_seconds_count"),
            "+Inf bucket equals _count"
        );
        assert!(metric(&text, "ringwire_connections_accepted_total").unwrap() >= 101.0);
        let backend = if io == "epoll" { "epoll" } else { "io_uring" };
        assert!(text.contains(&format!("ringwire_backend_info{{core=\"1\",backend=\"{backend}\"}} 1")), "{text}");
        assert!(metric(&text, "process_resident_memory_bytes").unwrap() > 0.0);
        promtool_check(&text);
    }
}

both_backends! {
    fn probes_report_startup_ready_and_live(io) {
        let s = Server::start(io, &["--workers", "2"]);
        // Startup completes when every worker listens; the log line comes first.
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.admin_get("/health/startup").0 != 200 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        for probe in ["/health/startup", "/health/ready", "/health/live"] {
            let (status, body) = s.admin_get(probe);
            assert_eq!(status, 200, "{probe}: {body}");
            let v: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
            assert_eq!(v["status"], "pass");
            assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
            assert!(v["uptime_seconds"].as_f64().unwrap() >= 0.0);
            assert!(v["checks"].as_array().unwrap().iter().all(|c| c["duration_ms"].is_number() && c["message"].is_string()));
        }
        assert_eq!(s.admin_get("/nope").0, 404);
    }
}

both_backends! {
    fn sigterm_turns_readiness_503_at_once_and_lets_work_finish(io) {
        let mut s = Server::start(io, &["--workers", "1", "--shutdown-timeout", "10s"]);
        while s.admin_get("/health/ready").0 != 200 {
            thread::sleep(Duration::from_millis(10));
        }
        let mut slow = s.connect();
        slow.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc").unwrap();
        thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        s.signal("TERM");
        let mut became = None;
        while start.elapsed() < Duration::from_secs(2) {
            if s.admin_get("/health/ready").0 == 503 {
                became = Some(start.elapsed());
                break;
            }
        }
        let became = became.expect("readiness never turned 503");
        assert!(became <= Duration::from_millis(100), "readiness turned 503 after {became:?}");
        let (live, body) = s.admin_get("/health/live");
        assert_eq!(live, 200, "liveness stays up during the drain: {body}");
        slow.write_all(b"def").unwrap();
        let resp = util::read_response(&mut std::io::BufReader::new(slow), false).expect("in-flight request answered");
        assert_eq!((resp.status, &resp.body[..]), (200, &b"abcdef"[..]));
        let status = s.wait(Duration::from_secs(9)).expect("exits before the deadline");
        assert_eq!(status.code(), Some(0));
    }
}

both_backends! {
    fn sd_notify_ready_watchdog_stopping_and_a_stuck_worker_stops_the_watchdog(io) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut s = Server::start_with_env(
            io,
            &["--workers", "1", "--heartbeat-interval", "50ms", "--heartbeat-timeout", "300ms"],
            &[("NOTIFY_SOCKET", path.to_str().unwrap()), ("WATCHDOG_USEC", "200000"), ("RINGWIRE_TEST_HOOKS", "1")],
        );
        // Every datagram, stamped on arrival by a reader thread.
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(Instant, String)>::new()));
        let reader = {
            let log = log.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 256];
                let quiet_until = Instant::now() + Duration::from_secs(30);
                while Instant::now() < quiet_until {
                    if let Ok(n) = sock.recv(&mut buf) {
                        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                        let done = msg == "STOPPING=1";
                        log.lock().unwrap().push((Instant::now(), msg));
                        if done {
                            return;
                        }
                    }
                }
            })
        };
        let pings_between = |from: Instant, to: Instant| {
            log.lock().unwrap().iter().filter(|(t, m)| m == "WATCHDOG=1" && *t >= from && *t <= to).count()
        };
        thread::sleep(Duration::from_millis(800));
        {
            let l = log.lock().unwrap();
            assert_eq!(l.first().map(|m| m.1.as_str()), Some("READY=1"), "{l:?}");
        }
        assert!(pings_between(Instant::now() - Duration::from_millis(600), Instant::now()) >= 3, "{:?}", log.lock().unwrap());
        // Stall the only worker for 1.5 s: its heartbeats stop, so must the watchdog pings
        // (after the 300 ms heartbeat timeout and one 100 ms watchdog period).
        let stall = {
            let addr = s.addr;
            thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                c.write_all(b"GET /debug/stall?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                let mut b = [0u8; 64];
                let _ = std::io::Read::read(&mut c, &mut b);
            })
        };
        let stalled_at = Instant::now();
        thread::sleep(Duration::from_millis(700));
        assert_eq!(s.admin_get("/health/live").0, 503, "a stuck worker fails liveness");
        stall.join().unwrap();
        let quiet = pings_between(stalled_at + Duration::from_millis(550), stalled_at + Duration::from_millis(1400));
        assert_eq!(quiet, 0, "watchdog kept pinging while the worker was stuck: {:?}", log.lock().unwrap());
        thread::sleep(Duration::from_millis(600));
        assert!(pings_between(stalled_at + Duration::from_millis(1500), Instant::now()) >= 1, "pings resume after the stall");
        assert_eq!(s.admin_get("/health/live").0, 200);
        s.signal("TERM");
        reader.join().unwrap();
        let l = log.lock().unwrap();
        assert_eq!(l.last().map(|m| m.1.as_str()), Some("STOPPING=1"), "READY, WATCHDOG..., STOPPING in order: {l:?}");
        let ready = l.iter().position(|m| m.1 == "READY=1").unwrap();
        let first_ping = l.iter().position(|m| m.1 == "WATCHDOG=1").unwrap();
        assert!(ready < first_ping);
        drop(l);
        assert_eq!(s.wait(Duration::from_secs(5)).and_then(|st| st.code()), Some(0));
    }
}

both_backends! {
    fn json_access_log_carries_request_and_trace_ids(io) {
        let s = Server::start(io, &["--log-format", "json", "--access-log-sample", "1"]);
        let req = b"GET /plaintext?x=1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: req-42\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n";
        assert_eq!(raw(&s, req).unwrap().status, 200);
        assert_eq!(raw(&s, b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().status, 200);
        let deadline = Instant::now() + Duration::from_secs(5);
        let lines: Vec<serde_json::Value> = loop {
            let log = s.log();
            let parsed: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect();
            if parsed.iter().filter(|v| v["target"] == "ringwire::access").count() >= 2 || Instant::now() > deadline {
                break parsed;
            }
            thread::sleep(Duration::from_millis(20));
        };
        let access: Vec<&serde_json::Value> = lines.iter().filter(|v| v["target"] == "ringwire::access").collect();
        let traced = access.iter().find(|v| v["path"] == "/plaintext?x=1").expect("access line for the traced request");
        assert_eq!(traced["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(traced["request_id"], "req-42");
        assert_eq!((traced["status"].as_u64(), traced["method"].as_str()), (Some(200), Some("GET")));
        assert!(traced["duration_us"].is_u64() && traced["bytes"] == 13);
        let plain = access.iter().find(|v| v["path"] == "/json").unwrap();
        assert_eq!(plain["request_id"].as_str().map(str::len), Some(32), "a generated id: {plain}");
        assert_eq!(plain["trace_id"], "");
    }
}

both_backends! {
    fn sighup_reloads_limits_from_the_config_file(io) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ringwire.toml");
        std::fs::write(&file, "[limits]\nmax_body = 1000\n").unwrap();
        let s = Server::start(io, &["--config", file.to_str().unwrap(), "--workers", "1"]);
        let big = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n{}", "z".repeat(2000));
        assert_eq!(raw(&s, big.as_bytes()).unwrap().status, 413);
        std::fs::write(&file, "[limits]\nmax_body = 5000\n[log]\nlevel = \"debug\"\n").unwrap();
        s.signal("HUP");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !s.log().contains("SIGHUP: reloaded") && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(s.log().contains("SIGHUP: reloaded"), "{}", s.log());
        thread::sleep(Duration::from_millis(100));
        assert_eq!(raw(&s, big.as_bytes()).unwrap().status, 200, "the new limit applies");
    }
}

#[test]
fn socket_activation_serves_on_the_inherited_listener() {
    // A listener at fd 3 with LISTEN_FDS/LISTEN_PID, as systemd would pass it.
    let script = format!(
        r#"
import os, socket, subprocess, sys, time, urllib.request
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
port = s.getsockname()[1]
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
    s.close()
else:
    s.detach()
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1")
p = subprocess.Popen(["sh", "-c", "LISTEN_PID=$$ exec {bin} serve --workers 2 --admin '' --stream-listen '' --listen 127.0.0.1:1"], pass_fds=(3,), env=env, stderr=subprocess.PIPE)
os.close(3)
for _ in range(100):
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{{port}}/plaintext", timeout=0.5).read()
        break
    except Exception:
        time.sleep(0.05)
p.terminate()
try:
    err = p.communicate(timeout=10)[1].decode()
except subprocess.TimeoutExpired:
    p.kill(); raise
print(body.decode()); print("ACTIVATION" if "socket activation" in err else err)
"#,
        bin = env!("CARGO_BIN_EXE_ringwire")
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Hello, World!") && stdout.contains("ACTIVATION"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/ops/deploy/ringwire.service"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/deploy/ringwire.toml");
    let local = unit
        .replace("/usr/local/bin/ringwire", env!("CARGO_BIN_EXE_ringwire"))
        .replace("/etc/ringwire/ringwire.toml", conf);
    let path = dir.path().join("ringwire.service");
    std::fs::write(&path, local).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze not found: scripts/test installs systemd");
    assert!(
        verify.status.success(),
        "systemd-analyze verify:\n{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("{text}"));
    let level: f64 = line
        .split(':')
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        line.contains("OK") || line.contains("SAFE") || line.contains("PERFECT"),
        "{line}"
    );
    assert!(level <= 2.0, "{line}");
    // The sample configuration is valid.
    let check = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(["check-config", "--config", conf])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
