//! A request's trace goes on to the calls made for it (docs/OPERATIONS.md, "Tracing"): to a
//! real PostgreSQL, whose statements for a sampled request run with the request's
//! `traceparent` as their session's application_name (seen in the server's own statement
//! log), and to a real NATS server, where a published message carries a `traceparent` header
//! (core NATS for an ephemeral channel, JetStream for a durable one). The parent id passed on
//! is this server's span, the one the response names. Both I/O backends.

mod util;

use std::{
    thread,
    time::{Duration, Instant},
};
use util::{
    Server,
    nats::{NatsCluster, NatsSub, header},
    pg::PgCluster,
    raw,
};

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

/// The application_name of every logged statement containing `sql`, in order
/// (`log_line_prefix` is `app=%a `).
fn executions(pg: &PgCluster, sql: &str) -> Vec<String> {
    logged(pg, sql).into_iter().map(|(_, app)| app).collect()
}

/// As [`executions`], with each one's line number in the log. A `sql` ending in `$` must end
/// the line (`SELECT 1$`: the health check, not a statement with a subquery).
fn logged(pg: &PgCluster, sql: &str) -> Vec<(usize, String)> {
    let (sql, whole) = match sql.strip_suffix('$') {
        Some(s) => (s, true),
        None => (sql, false),
    };
    pg.log()
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(" execute ") || l.contains(" statement: "))
        .filter(|(_, l)| {
            if whole {
                l.trim_end().ends_with(sql)
            } else {
                l.contains(sql)
            }
        })
        .filter_map(|(i, l)| Some((i, l.strip_prefix("app=")?.split(' ').next()?.to_string())))
        .collect()
}

both_backends! {
    fn a_sampled_trace_names_the_postgresql_session_of_its_statements(io) {
        let Some(pg) = PgCluster::start_with(&[
            ("log_statement", "all"),
            ("log_line_prefix", "app=%a "),
        ]) else { return };
        let url = pg.url();
        // A pooled connection idle for over a second is checked (`SELECT 1`) before use.
        let s = Server::start(io, &[
            "--workers", "1", "--db-backend", "postgres", "--db-url", &url, "--durable", "orders",
            "--db-pool-check-after", "1s",
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
        // ... because the session got its name back in between (not because another pooled
        // connection happened to run it).
        let (writes, resets) = (logged(&pg, put), logged(&pg, "RESET application_name"));
        assert!(
            resets.iter().any(|(i, _)| writes[0].0 < *i && *i < writes[1].0),
            "no RESET between the traced write and the next: {writes:?} {resets:?}"
        );

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

        // The pool's health check of the connection, once idle, does not run under the last
        // request's trace either.
        let pings = logged(&pg, "SELECT 1$").len();
        thread::sleep(Duration::from_millis(1500));
        assert_eq!(call(&s, "GET", "/kv/plain", "", None).0, 200);
        eventually("the health check logged", || logged(&pg, "SELECT 1$").len() > pings);
        let checks = executions(&pg, "SELECT 1$");
        assert_eq!(checks[pings..], ["ringwire"], "the check ran under the connection's own name");
        assert_eq!(executions(&pg, get).last().map(String::as_str), Some("ringwire"));
    }
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
