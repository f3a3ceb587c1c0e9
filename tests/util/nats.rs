//! Throwaway NATS clusters for tests: Debian's real `nats-server`, never a mock.
//!
//! [`NatsCluster::start`]`(n)` runs `n` servers on free 127.0.0.1 ports, each a child of the
//! test process with its own config and JetStream directory in a temporary directory, routed to
//! each other as the cluster `rwtest`. It returns once every node answers `/healthz` on its
//! monitoring port and has a route to every other node. Nodes can be killed (`SIGKILL`) and
//! restarted on the same ports and directories; everything is killed on drop.
//!
//! Where `nats-server` is not installed, [`NatsCluster::start`] prints `SKIPPED: <reason>` and
//! returns `None`, unless `RINGWIRE_REQUIRE_NATS=1` (set by `.ci/run`) makes that a failure.
#![allow(dead_code)] // each test file uses a different subset

use std::{
    env, fs,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// How long a node may take to start and join its cluster on a loaded 2-core machine.
const START_LIMIT: Duration = Duration::from_secs(60);

struct Node {
    client: u16,
    cluster: u16,
    http: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// A running throwaway NATS cluster; every node is killed on drop.
pub struct NatsCluster {
    binary: PathBuf,
    nodes: Vec<Node>,
    /// Configs, logs and JetStream directories; removed on drop.
    dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Starts an `n`-node cluster with JetStream, or returns `None` after printing
    /// `SKIPPED: <reason>` when `nats-server` is missing (a panic under
    /// `RINGWIRE_REQUIRE_NATS=1`).
    pub fn start(n: usize) -> Option<NatsCluster> {
        let Some(binary) = find_binary() else {
            let why = "nats-server is not installed (apt-get install nats-server)";
            if env::var_os("RINGWIRE_REQUIRE_NATS").is_some_and(|v| v == "1") {
                panic!("RINGWIRE_REQUIRE_NATS=1 but {why}");
            }
            eprintln!("SKIPPED: {why}");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("ringwire-nats-")
            .tempdir()
            .unwrap();
        // Held until every port is picked, so that no two are the same.
        let held: Vec<TcpListener> = (0..3 * n)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let port = |i: usize| held[i].local_addr().unwrap().port();
        let ports: Vec<[u16; 3]> = (0..n)
            .map(|i| [port(3 * i), port(3 * i + 1), port(3 * i + 2)])
            .collect();
        drop(held);
        let routes = ports
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{}", p[1]))
            .collect::<Vec<_>>()
            .join(", ");
        let mut nodes = Vec::new();
        for (i, [client, cluster, http]) in ports.into_iter().enumerate() {
            let name = format!("n{}", i + 1);
            let store = dir.path().join(&name);
            fs::create_dir_all(&store).unwrap();
            let config = dir.path().join(format!("{name}.conf"));
            fs::write(
                &config,
                format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{http}\n\
                     jetstream {{ store_dir: \"{}\", max_file_store: 1GB, max_memory_store: 64MB }}\n\
                     cluster {{ name: rwtest, listen: 127.0.0.1:{cluster}, routes: [{routes}] }}\n",
                    store.display()
                ),
            )
            .unwrap();
            let log = dir.path().join(format!("{name}.log"));
            nodes.push(Node {
                client,
                cluster,
                http,
                config,
                log,
                child: None,
            });
        }
        let mut c = NatsCluster { binary, nodes, dir };
        for i in 0..n {
            c.spawn(i);
        }
        for i in 0..n {
            c.wait_ready(i, n - 1);
        }
        Some(c)
    }

    /// The client URLs of every node, running or not.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.client))
            .collect()
    }

    /// [`urls`](Self::urls) joined with commas, as `--cluster-nats` takes them.
    pub fn urls_arg(&self) -> String {
        self.urls().join(",")
    }

    /// Kills node `i` with `SIGKILL` and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again (same ports, same directory) and waits until it is healthy and
    /// routed to every other running node.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        let others = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(j, n)| *j != i && n.child.is_some())
            .count();
        self.wait_ready(i, others);
    }

    /// Starts every node that is not running and waits until the cluster is whole again.
    pub fn restart_all(&mut self) {
        let down: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].child.is_none())
            .collect();
        for &i in &down {
            self.spawn(i);
        }
        for i in 0..self.nodes.len() {
            self.wait_ready(i, self.nodes.len() - 1);
        }
    }

    /// Kills every node.
    pub fn stop_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }

    /// Node `i`'s log so far (for failure messages).
    pub fn log(&self, i: usize) -> String {
        fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .unwrap();
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        node.child = Some(child);
    }

    /// Waits until node `i` answers `/healthz` and has at least `routes` routes.
    fn wait_ready(&mut self, i: usize, routes: usize) {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let http = self.nodes[i].http;
            let healthy = http_get(http, "/healthz").is_some_and(|(s, _)| s == 200);
            let routed = http_get(http, "/routez")
                .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
                .and_then(|v| v["num_routes"].as_u64())
                .is_some_and(|r| r as usize >= routes);
            if healthy && routed {
                return;
            }
            if let Some(status) = self.nodes[i].child.as_mut().unwrap().try_wait().unwrap() {
                panic!("nats-server n{} exited ({status}):\n{}", i + 1, self.log(i));
            }
            assert!(
                Instant::now() < deadline,
                "nats-server n{} not ready (healthy {healthy}, {routes} routes wanted):\n{}",
                i + 1,
                self.log(i)
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn find_binary() -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|d| d.join("nats-server"))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A GET on a monitoring port: (status, body), `None` if it does not answer.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: nats\r\n\r\n").as_bytes())
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// A raw core-NATS subscriber: the messages on `subject` with their header blocks.
pub struct NatsSub {
    reader: BufReader<TcpStream>,
}

impl NatsSub {
    /// Subscribes to `subject` on the server at `url` (`nats://host:port`), headers on.
    pub fn new(url: &str, subject: &str) -> NatsSub {
        let addr = url.trim_start_matches("nats://");
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(START_LIMIT)).unwrap();
        let mut reader = BufReader::new(stream);
        let mut info = String::new();
        reader.read_line(&mut info).unwrap();
        assert!(info.starts_with("INFO "), "{info}");
        let hello = format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"headers\":true}}\r\n\
             SUB {subject} 1\r\nPING\r\n"
        );
        reader.get_mut().write_all(hello.as_bytes()).unwrap();
        let mut sub = NatsSub { reader };
        assert_eq!(sub.line(), "PONG");
        sub
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).unwrap();
        l.trim_end().to_string()
    }

    /// The next message's headers (name, value) and payload, answering PINGs on the way.
    pub fn next(&mut self) -> (Vec<(String, String)>, Vec<u8>) {
        loop {
            let l = self.line();
            if l == "PING" {
                self.reader.get_mut().write_all(b"PONG\r\n").unwrap();
                continue;
            }
            let parts: Vec<&str> = l.split(' ').collect();
            if parts[0] == "MSG" {
                let total: usize = parts.last().unwrap().parse().unwrap();
                return (Vec::new(), self.take(total));
            }
            assert_eq!(parts[0], "HMSG", "{l}");
            let n = parts.len();
            let (head, total): (usize, usize) =
                (parts[n - 2].parse().unwrap(), parts[n - 1].parse().unwrap());
            let all = self.take(total);
            let text = String::from_utf8(all[..head].to_vec()).unwrap();
            let headers = text
                .lines()
                .skip(1) // NATS/1.0
                .filter_map(|h| h.split_once(": "))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            return (headers, all[head..].to_vec());
        }
    }

    fn take(&mut self, total: usize) -> Vec<u8> {
        let mut buf = vec![0u8; total + 2];
        self.reader.read_exact(&mut buf).unwrap();
        buf.truncate(total);
        buf
    }
}

/// The value of header `name`, if the message had it.
pub fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
