//! The shipped unit (`ops/deploy/ringwire.service`), unmodified, under real systemd.
//!
//! systemd boots as PID 1 in a container (`systemd-nspawn --directory=/ --volatile=yes`: the
//! host's `/usr` on a fresh tmpfs root, the host's network), with the unit, the shipped sample
//! configuration (its addresses moved to free ports) and the test's binary bound in. Then, as
//! an operator would: `systemctl start`, requests, `systemctl reload`, `ringwire upgrade` (the
//! successor becomes the main process and keeps the watchdog fed), the watchdog, `systemctl
//! stop`; and, through runtime drop-ins, what happens where pinning is denied.
//!
//! Needs root and `systemd-nspawn` (package `systemd-container`). Elsewhere it prints SKIPPED,
//! unless `RINGWIRE_REQUIRE_SYSTEMD=1` (set by `.ci/run`) makes that a failure.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/deploy/ringwire.service");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/deploy/ringwire.toml");

/// Why systemd cannot be booted here, if it cannot.
fn unavailable() -> Option<String> {
    let root = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&root.stdout).trim() != "0" {
        return Some("not root (systemd-nspawn needs it)".into());
    }
    let nspawn = Command::new("systemd-nspawn").arg("--version").output();
    if nspawn.map(|o| !o.status.success()).unwrap_or(true) {
        return Some("systemd-nspawn missing (apt-get install systemd-container)".into());
    }
    if !Path::new("/usr/lib/systemd/systemd").exists() {
        return Some("/usr/lib/systemd/systemd missing".into());
    }
    None
}

fn skip_or_fail(why: &str) {
    if std::env::var_os("RINGWIRE_REQUIRE_SYSTEMD").is_some_and(|v| v == "1") {
        panic!("RINGWIRE_REQUIRE_SYSTEMD=1 but systemd cannot be booted here: {why}");
    }
    eprintln!("SKIPPED the_shipped_unit_runs_under_real_systemd: {why}");
}

/// A booted container; shut down (then killed) on drop.
struct Container {
    nspawn: Child,
    /// The container's PID 1 (systemd), as the host sees it.
    leader: u32,
    _dir: tempfile::TempDir,
}

impl Container {
    fn boot(config: &str) -> Container {
        // Under the target dir, so the binary can be hard-linked rather than copied.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let exe = bin.join("ringwire");
        if std::fs::hard_link(env!("CARGO_BIN_EXE_ringwire"), &exe).is_err() {
            std::fs::copy(env!("CARGO_BIN_EXE_ringwire"), &exe).unwrap();
        }
        // The unit's DynamicUser must be able to reach /usr/local/bin/ringwire.
        chmod(&bin, 0o755);
        let conf = dir.path().join("ringwire.toml");
        std::fs::write(&conf, config).unwrap();
        chmod(&conf, 0o644);
        let log = std::fs::File::create(dir.path().join("console.log")).unwrap();
        let machine = format!("ringwire-test-{}", std::process::id());
        let nspawn = Command::new("systemd-nspawn")
            .args(["--register=no", "--keep-unit", "--quiet", "--directory=/"])
            .args(["--volatile=yes", "--boot", "--machine", &machine])
            .arg(format!("--bind-ro={}:/usr/local/bin", bin.display()))
            .arg(format!(
                "--bind-ro={UNIT}:/etc/systemd/system/ringwire.service"
            ))
            .arg(format!(
                "--bind-ro={}:/etc/ringwire/ringwire.toml",
                conf.display()
            ))
            // Boot only to basic.target: the test starts the unit itself, and services the host
            // has installed (databases, say) must not start on the shared network.
            .args(["systemd.firstboot=off", "systemd.unit=basic.target"])
            .arg("systemd.mask=systemd-networkd-wait-online.service")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start systemd-nspawn");
        let mut c = Container {
            leader: 0,
            nspawn,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while c.leader == 0 {
            if let Some(status) = c.nspawn.try_wait().unwrap() {
                panic!("systemd-nspawn exited ({status}):\n{}", c.console());
            }
            assert!(
                Instant::now() < deadline,
                "no systemd in the container:\n{}",
                c.console()
            );
            c.leader = find_systemd(c.nspawn.id()).unwrap_or(0);
            thread::sleep(Duration::from_millis(50));
        }
        // `--wait` returns once the boot's jobs are done (running, or degraded); before PID 1
        // opens its control socket it cannot be asked at all.
        let mut state = String::new();
        wait_until("systemd's control socket", 30, || {
            state = c
                .run_for(&["systemctl", "is-system-running", "--wait"], 60)
                .1;
            !state.contains("Failed to connect")
        });
        assert!(
            state.contains("running") || state.contains("degraded"),
            "boot did not finish: {state}\n{}",
            c.console()
        );
        c
    }

    fn console(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("console.log")).unwrap_or_default()
    }

    /// Runs a command inside the container (every namespace of its PID 1): exit code, output.
    fn run(&self, cmd: &[&str]) -> (i32, String) {
        self.run_for(cmd, 60)
    }

    fn run_for(&self, cmd: &[&str], secs: u32) -> (i32, String) {
        let out = Command::new("timeout")
            .arg(secs.to_string())
            .args(["nsenter", "-t", &self.leader.to_string(), "-a"])
            .args(cmd)
            .output()
            .unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    fn show(&self, property: &str) -> String {
        let (_, v) = self.run(&["systemctl", "show", "ringwire", "-P", property]);
        v.trim().to_string()
    }

    fn journal(&self) -> String {
        self.run(&["journalctl", "-u", "ringwire", "--no-pager", "-o", "cat"])
            .1
    }

    /// Writes a runtime drop-in for the unit (or removes them all with `None`) and reloads.
    fn drop_in(&self, text: Option<&str>) {
        let dir = "/run/systemd/system/ringwire.service.d";
        let script = match text {
            Some(t) => format!("mkdir -p {dir} && printf '%s' '{t}' > {dir}/test.conf"),
            None => format!("rm -rf {dir}"),
        };
        let (code, out) = self.run(&["sh", "-c", &script]);
        assert_eq!(code, 0, "{out}");
        let (code, out) = self.run(&["systemctl", "daemon-reload"]);
        assert_eq!(code, 0, "{out}");
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // SIGTERM makes systemd-nspawn shut the container down cleanly.
        let _ = Command::new("kill")
            .arg(self.nspawn.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The first descendant of `pid` that runs systemd.
fn find_systemd(pid: u32) -> Option<u32> {
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let exe = std::fs::read_link(format!("/proc/{p}/exe")).unwrap_or_default();
        if p != pid && exe == Path::new("/usr/lib/systemd/systemd") {
            return Some(p);
        }
        let tasks = std::fs::read_dir(format!("/proc/{p}/task")).ok()?;
        for t in tasks.flatten() {
            let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            todo.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over a fresh connection: status and body, `None` if nothing answered.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// `"METHOD path"` with `body`: the status.
fn request(addr: SocketAddr, line: &str, body: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let head = format!(
        "{line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
}

/// The shipped configuration with its three addresses moved to free ports.
fn config() -> (String, SocketAddr, SocketAddr) {
    let text = std::fs::read_to_string(CONFIG).unwrap();
    let (http, admin, stream) = (free_port(), free_port(), free_port());
    let mut out = String::new();
    let mut moved = 0;
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or_default().trim();
        let port = match key {
            "listen" => Some(http),
            "admin" => Some(admin),
            "stream_listen" => Some(stream),
            _ => None,
        };
        match port {
            Some(p) => {
                out.push_str(&format!("{key} = \"127.0.0.1:{p}\"\n"));
                moved += 1;
            }
            None => out.push_str(&format!("{line}\n")),
        }
    }
    assert_eq!(
        moved, 3,
        "the sample configuration lost an address key:\n{text}"
    );
    let at = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    (out, at(http), at(admin))
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_shipped_unit_runs_under_real_systemd() {
    if let Some(why) = unavailable() {
        return skip_or_fail(&why);
    }
    let (config, http, admin) = config();
    let c = Container::boot(&config);

    // Start: Type=notify, so `systemctl start` returns once READY=1 was sent.
    let (code, out) = c.run(&["systemctl", "start", "ringwire"]);
    assert_eq!(code, 0, "systemctl start: {out}\n{}", c.journal());
    assert_eq!(c.show("ActiveState"), "active", "{}", c.journal());
    let pid = c.show("MainPID");
    let (status, body) = get(http, "/plaintext").expect("served /plaintext");
    assert_eq!(
        (status, body.as_str()),
        (200, "Hello, World!"),
        "{}",
        c.journal()
    );
    assert_eq!(get(admin, "/health/ready").map(|r| r.0), Some(200));
    let metrics = get(admin, "/metrics").expect("metrics").1;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = metric(&metrics, "process_start_time_seconds");
    assert!(
        started > now - 300.0 && started <= now + 1.0,
        "process_start_time_seconds {started}, now {now} (ProcSubset=pid hides /proc/stat)"
    );
    assert_eq!(metric(&metrics, "ringwire_worker_pinned{core=\"0\"}"), 1.0);
    assert!(!c.journal().contains("unpinned"), "{}", c.journal());
    // The store lives in StateDirectory= (the one writable place under ProtectSystem=strict).
    let put = request(http, "PUT /kv/under-systemd", b"kept");
    assert_eq!(put, Some(201), "{}", c.journal());

    // Reload: ExecReload sends SIGHUP; the same process goes on serving.
    let (code, out) = c.run(&["systemctl", "reload", "ringwire"]);
    assert_eq!(code, 0, "systemctl reload: {out}");
    wait_until("the reload in the journal", 10, || {
        c.journal().contains("SIGHUP: reloaded")
    });
    assert_eq!(c.show("MainPID"), pid);
    assert_eq!(get(http, "/plaintext").map(|r| r.0), Some(200));

    // Upgrade: `ringwire upgrade` (the same binary here) makes the server start a successor
    // in the service's cgroup that inherits the listeners; the old process names it the main
    // process (MAINPID=) and drains. The service stays active, never restarted.
    let (code, out) = c.run(&[
        "/usr/local/bin/ringwire",
        "upgrade",
        "--config",
        "/etc/ringwire/ringwire.toml",
    ]);
    assert_eq!(code, 0, "ringwire upgrade: {out}\n{}", c.journal());
    wait_until("the successor as the main process", 10, || {
        c.show("MainPID") != pid
    });
    let old_pid = pid;
    let pid = c.show("MainPID");
    assert!(out.contains(&format!("\"pid\":{pid}")), "{out}");
    assert_eq!(get(http, "/plaintext").map(|r| r.0), Some(200));
    assert_eq!(
        get(http, "/kv/under-systemd"),
        Some((200, "kept".to_string()))
    );
    wait_until("the old process gone", 30, || {
        c.run(&["kill", "-0", &old_pid]).0 != 0
    });

    // Watchdog: WatchdogSec=10 kills a service that stops pinging. Past it, still the same
    // (upgraded) process, never restarted, and the last ping is recent.
    assert_eq!(c.show("WatchdogUSec"), "10s");
    thread::sleep(Duration::from_secs(12));
    assert_eq!(c.show("ActiveState"), "active", "{}", c.journal());
    assert_eq!((c.show("MainPID"), c.show("NRestarts")), (pid, "0".into()));
    let ping = c.show("WatchdogTimestampMonotonic");
    assert!(
        ping.parse::<u64>().unwrap_or(0) > 0,
        "no watchdog ping: {ping:?}"
    );

    // Stop: SIGTERM drains and exits 0, which systemd records as success.
    let (code, out) = c.run(&["systemctl", "stop", "ringwire"]);
    assert_eq!(code, 0, "systemctl stop: {out}");
    assert_eq!(c.show("Result"), "success", "{}", c.journal());
    assert_eq!(c.show("ExecMainStatus"), "0", "{}", c.journal());
    assert!(c.journal().contains("draining"), "{}", c.journal());
    assert!(
        get(http, "/plaintext").is_none(),
        "still serving after stop"
    );

    // Where the environment denies pinning and nobody asked for it: start unpinned, say so.
    c.drop_in(Some(
        "[Service]\nSystemCallFilter=~sched_setaffinity\nSystemCallErrorNumber=EPERM\n",
    ));
    let (code, out) = c.run(&["systemctl", "start", "ringwire"]);
    assert_eq!(code, 0, "start with pinning denied: {out}\n{}", c.journal());
    assert_eq!(get(http, "/plaintext").map(|r| r.0), Some(200));
    // What was stored before the stop is still there.
    assert_eq!(
        get(http, "/kv/under-systemd"),
        Some((200, "kept".to_string()))
    );
    let metrics = get(admin, "/metrics").expect("metrics").1;
    assert_eq!(metric(&metrics, "ringwire_worker_pinned{core=\"0\"}"), 0.0);
    let journal = c.journal();
    assert!(
        journal.contains("running unpinned") && journal.contains("sched_setaffinity"),
        "{journal}"
    );
    let (code, out) = c.run(&["systemctl", "stop", "ringwire"]);
    assert_eq!(code, 0, "{out}");

    // An explicit --cpus makes pinning a requirement: the start fails, naming the cause.
    c.drop_in(Some(
        "[Service]\nSystemCallFilter=~sched_setaffinity\nSystemCallErrorNumber=EPERM\n\
         Restart=no\nExecStart=\nExecStart=/usr/local/bin/ringwire serve --config \
         /etc/ringwire/ringwire.toml --cpus 0\n",
    ));
    let (code, _) = c.run(&["systemctl", "start", "ringwire"]);
    assert_ne!(code, 0, "started although --cpus 0 could not be honoured");
    let journal = c.journal();
    assert!(
        journal.contains("cannot pin to cpu 0: Operation not permitted"),
        "{journal}"
    );
    c.drop_in(None);
}
