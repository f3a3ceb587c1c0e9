//! A request's trace goes on to the calls made for it (docs/OPERATIONS.md, "Tracing"): to a
//! real PostgreSQL, whose statements for a sampled request run with the request's
//! `traceparent` as their session's application_name (seen in the server's own statement
//! log), and to a real NATS server, where a published message carries a `traceparent` header
//! (core NATS for an ephemeral channel, JetStream for a durable one). The parent id passed on
//! is this server's span, the one the response names. Both I/O backends.

mod util;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};
use util::{Server, nats::NatsCluster, pg::PgCluster, raw};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const T: Duration = Duration::from_secs(60);

/// Sends `method path` with `body` and, if given, a `traceparent`; returns the status and
/// the `traceparent` the server answered with.
fn call(s: &Server, method: &str, path: &str, body: &str, tp: Option<&str>) -> (u16, String) {
    let field = tp
        .map(|t| format!("traceparent: {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{field}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = raw(s, req.as_bytes()).expect("a response");
    let answered = r.header("traceparent").unwrap_or_default().to_string();
    (r.status, answered)
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + T;
    while !f() {
        assert!(Instant::now() < end, "not within {T:?}: {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// The application_name of every logged execution of a statement containing `sql`, in order
/// (`log_line_prefix` is `app=%a `).
fn executions(pg: &PgCluster, sql: &str) -> Vec<String> {
    pg.log()
        .lines()
        .filter(|l| l.contains("execute") && l.contains(sql))
        .filter_map(|l| {
            l.strip_prefix("app=")?
                .split(' ')
                .next()
                .map(str::to_string)
        })
        .collect()
}

both_backends! {
    fn a_sampled_trace_names_the_postgresql_session_of_its_statements(io) {
        let Some(pg) = PgCluster::start_with(&[
            ("log_statement", "all"),
            ("log_line_prefix", "app=%a "),
        ]) else { return };
        let url = pg.url();
        let s = Server::start(io, &[
            "--workers", "1", "--db-backend", "postgres", "--db-url", &url, "--durable", "orders",
        ]);
        let put = "INSERT INTO ringwire_kv AS kv";
        let sampled = format!("00-{TRACE}-{PARENT}-01");
        let (status, answered) = call(&s, "PUT", "/kv/traced", "v1", Some(&sampled));
        assert_eq!(status, 201);
        assert!(answered.starts_with(&format!("00-{TRACE}-")) && answered.ends_with("-01"), "{answered}");
        // The statement ran under this server's span as the parent, not the caller's.
        eventually("the traced write in the statement log", || executions(&pg, put).len() == 1);
        assert_eq!(executions(&pg, put), vec![answered.clone()]);

        // The next request without a trace runs under the connection's own name again, and so
        // does one whose trace is not sampled.
        assert_eq!(call(&s, "PUT", "/kv/plain", "v2", None).0, 201);
        let unsampled = format!("00-{TRACE}-{PARENT}-00");
        assert_eq!(call(&s, "PUT", "/kv/unsampled", "v3", Some(&unsampled)).0, 201);
        eventually("three writes logged", || executions(&pg, put).len() == 3);
        assert_eq!(executions(&pg, put)[1..], ["ringwire", "ringwire"]);

        // Reads, and a durable channel's append, carry it too.
        let (status, read_span) = call(&s, "GET", "/kv/traced", "", Some(&sampled));
        assert_eq!(status, 200);
        let get = "SELECT version, value FROM ringwire_kv WHERE key";
        eventually("the traced read logged", || executions(&pg, get).contains(&read_span));
        let (status, append_span) = call(&s, "POST", "/channels/orders", "m1", Some(&sampled));
        assert_eq!(status, 200);
        let append = "INSERT INTO ringwire_logs AS l";
        eventually("the traced append logged", || executions(&pg, append) == [append_span.clone()]);
        assert_ne!(read_span, append_span, "each request is its own span");
    }
}

/// A raw core-NATS subscriber: the messages on `subject` with their header blocks.
struct NatsSub {
    reader: BufReader<TcpStream>,
}

impl NatsSub {
    fn new(url: &str, subject: &str) -> NatsSub {
        let addr = url.trim_start_matches("nats://");
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
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
    fn next(&mut self) -> (Vec<(String, String)>, Vec<u8>) {
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

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

both_backends! {
    fn a_published_message_carries_its_traceparent_to_nats(io) {
        let Some(nats) = NatsCluster::start(3) else { return };
        let url = nats.urls()[0].clone();
        let s = Server::start(io, &[
            "--workers", "2", "--cluster-nats", &url, "--cluster-node-name", "a",
            "--cluster-replicas", "1", "--durable", "orders",
        ]);
        let mut ephemeral = NatsSub::new(&url, "ringwire.ch.news");
        let mut durable = NatsSub::new(&url, "ringwire.ds.orders");
        eventually("the bridge connected", || {
            let (_, m) = s.admin_get("/metrics");
            m.lines().any(|l| l == "ringwire_cluster_bridge_connected 1")
        });

        // Ephemeral, with a trace that is not sampled: W3C Trace Context passes it on anyway.
        let unsampled = format!("00-{TRACE}-{PARENT}-00");
        let (status, span) = call(&s, "POST", "/channels/news", "hello", Some(&unsampled));
        assert_eq!(status, 204);
        let (headers, payload) = ephemeral.next();
        assert_eq!(payload, b"hello");
        assert_eq!(header(&headers, "traceparent"), Some(span.as_str()), "{headers:?}");
        assert_eq!(header(&headers, "Ringwire-Node"), Some("a"));
        // Without one, none.
        assert_eq!(call(&s, "POST", "/channels/news", "plain", None).0, 204);
        let (headers, payload) = ephemeral.next();
        assert_eq!(payload, b"plain");
        assert_eq!(header(&headers, "traceparent"), None, "{headers:?}");

        // Durable: the JetStream publish carries it.
        let sampled = format!("00-{TRACE}-{PARENT}-01");
        let (status, span) = call(&s, "POST", "/channels/orders", "m1", Some(&sampled));
        assert_eq!(status, 200);
        let (headers, payload) = durable.next();
        assert_eq!(payload, b"m1");
        assert_eq!(header(&headers, "traceparent"), Some(span.as_str()), "{headers:?}");
        assert!(span.starts_with(&format!("00-{TRACE}-")) && !span.contains(PARENT), "{span}");
    }
}
