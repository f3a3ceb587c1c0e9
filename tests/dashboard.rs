//! The live dashboard on the admin listener: `/stats.json` against `/metrics`, and the page in
//! a real headless Chromium (Debian's `chromium`, installed by `scripts/test`) while load
//! runs. Both on both backends.
//!
//! Where Chromium is missing the browser test prints `SKIPPED: <why>` and passes, unless
//! `RINGWIRE_REQUIRE_CHROMIUM=1` (set by `.ci/run`) makes that a failure. The screenshot is
//! kept at `target/artifacts/dashboard-<backend>.png`.

#[path = "dashboard/cdp.rs"]
mod cdp;
mod util;

use serde_json::Value;
use std::{
    collections::BTreeMap,
    io::{BufReader, Write},
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};
use util::{
    Response, Server, read_response,
    sse::req,
    tokens::{Key, KeyDir, admin_call},
    wire::Wire,
};

fn backend(io: &str) -> &'static str {
    if io == "uring" { "io_uring" } else { "epoll" }
}

fn stats(s: &Server) -> Value {
    let r = admin_call(s, "GET", "/stats.json", None);
    assert_eq!(r.status, 200, "{r:?}");
    serde_json::from_slice(&r.body).expect("stats.json is JSON")
}

/// The sum of every sample of `family` (all label sets) in a `/metrics` text.
fn metric_sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn metrics(s: &Server) -> String {
    let (status, text) = s.admin_get("/metrics");
    assert_eq!(status, 200, "{text}");
    text
}

fn requests_in_metrics(s: &Server) -> u64 {
    metric_sum(&metrics(s), "ringwire_http_requests_total") as u64
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} in {r:?}"))
}

/// Polls `/stats.json` until `done` holds for it (a response reaches the client a moment
/// before its worker records it), at most 10 s.
fn stats_when(s: &Server, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let v = stats(s);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < end, "{what}: not within 10 s: {v:#}");
        thread::sleep(Duration::from_millis(20));
    }
}

both_backends! {
    fn stats_json_is_metrics_as_json(io) {
        let s = Server::start(io, &["--workers", "2"]);
        let r = admin_call(&s, "GET", "/stats.json", None);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(header(&r, "Content-Type"), "application/json");
        assert_eq!(header(&r, "Cache-Control"), "no-store");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let cores = v["cores"].as_array().unwrap();
        assert_eq!(cores.len(), 2, "one entry per worker core: {v:#}");
        for (i, c) in cores.iter().enumerate() {
            assert_eq!(c["core"], i);
            assert_eq!(c["backend"], backend(io), "{v:#}");
        }
        assert_eq!(v["drain_state"], "serving");
        assert_eq!(v["workers"], 2);
        assert!(v["time"].as_f64().unwrap() > 1.6e9 && v["uptime_seconds"].as_f64().unwrap() >= 0.0);

        for _ in 0..30 {
            assert_eq!(req(&s, "GET", "/plaintext", &[], b"").status, 200);
        }
        for i in 0..10 {
            assert_eq!(req(&s, "PUT", &format!("/kv/dash{i}"), &[], b"v").status, 201);
        }
        let v = stats_when(&s, "40 requests", |v| v["totals"]["requests"] == 40);
        // The scrapes of /stats.json and /metrics are on the admin listener: not counted.
        let text = metrics(&s);
        let per_core: u64 = v["cores"].as_array().unwrap().iter().map(|c| c["requests"].as_u64().unwrap()).sum();
        assert_eq!(per_core, 40, "{v:#}");
        assert_eq!(metric_sum(&text, "ringwire_http_requests_total"), 40.0, "{text}");
        assert_eq!(v["totals"]["requests_by_status"]["2xx"], 40);
        assert_eq!(v["totals"]["latency_us"]["count"], 40);
        assert_eq!(metric_sum(&text, "ringwire_http_request_duration_seconds_count"), 40.0);
        assert_eq!(v["totals"]["connections"]["accepted"].as_f64().unwrap(), metric_sum(&text, "ringwire_connections_accepted_total"));
        let l = &v["totals"]["latency_us"];
        let q = |k: &str| l[k].as_u64().unwrap_or_else(|| panic!("{k} in {l}"));
        assert!(q("p50") >= 1 && q("p50") <= q("p90") && q("p90") <= q("p99") && q("p99") <= q("p999"), "{l}");
        // The store's commits, from the same collector /metrics uses.
        let db = &v["db"];
        assert_eq!(db["source"], "ringwire_db_commit_duration_seconds", "{v:#}");
        let commits = metric_sum(&text, "ringwire_db_commit_duration_seconds_count");
        assert!(commits >= 1.0, "{text}");
        assert_eq!(db["count"].as_f64().unwrap(), commits, "{db}");
        assert!(db["p50_us"].as_f64().unwrap() > 0.0 && db["p50_us"].as_f64() <= db["p999_us"].as_f64(), "{db}");

        // Counters only grow, per core too.
        for _ in 0..20 {
            assert_eq!(req(&s, "GET", "/plaintext", &[], b"").status, 200);
        }
        let later = stats_when(&s, "60 requests", |v| v["totals"]["requests"] == 60);
        for (a, b) in v["cores"].as_array().unwrap().iter().zip(later["cores"].as_array().unwrap()) {
            assert!(b["requests"].as_u64() >= a["requests"].as_u64(), "{a} then {b}");
        }
        assert_eq!(requests_in_metrics(&s), 60);
    }
}

/// A subscriber to `dash` and a publisher that sends it `n` messages of 8 bytes, all read: two
/// stream connections, two streams opened, `n` deliveries. The connections stay open.
fn pubsub(s: &Server, n: usize) -> (Wire, Wire) {
    let mut sub = Wire::connect(s.stream.unwrap());
    let id = sub.open("pubsub");
    sub.send(id, b"SUB dash\n", false);
    stats_when(s, "a subscription", |v| {
        v["totals"]["pubsub"]["subscriptions"] == 1
    });
    let mut publisher = Wire::connect(s.stream.unwrap());
    let p = publisher.open("pubsub");
    publisher.send(p, b"PUB dash\n", false);
    for i in 0..n {
        assert!(publisher.send(p, format!("msg-{i:04}").as_bytes(), false) > 0);
    }
    let (got, _) = sub.read_stream(id, n * 8, Duration::from_secs(10));
    assert_eq!(got.len(), n * 8, "every message delivered");
    (sub, publisher)
}

both_backends! {
    fn stats_json_counts_streams_and_pubsub(io) {
        let s = Server::start(io, &["--workers", "1"]);
        let _conns = pubsub(&s, 10);
        let v = stats_when(&s, "10 deliveries", |v| v["totals"]["pubsub"]["delivered"] == 10);
        let text = metrics(&s);
        let (t, c) = (&v["totals"], &v["cores"][0]);
        assert_eq!(t["pubsub"], c["pubsub"], "one core: {v:#}");
        assert_eq!(t["pubsub"]["delivered"].as_f64().unwrap(), metric_sum(&text, "ringwire_stream_pubsub_delivered_total"));
        assert_eq!(t["pubsub"]["published"].as_f64().unwrap(), metric_sum(&text, "ringwire_stream_pubsub_published_total"));
        assert_eq!(t["pubsub"]["subscriptions"], 1);
        assert_eq!(t["stream"]["streams_opened"], 2, "{v:#}");
        assert_eq!(metric_sum(&text, "ringwire_stream_streams_opened_total"), 2.0);
        // Both streams are still open (tests/stream_gauge.rs follows the gauge down).
        assert_eq!(t["stream"]["streams_open"], 2, "{v:#}");
        assert_eq!(c["stream"]["streams_open"], 2, "{v:#}");
        assert_eq!(metric_sum(&text, "ringwire_stream_streams_open"), 2.0, "{text}");
        assert_eq!(t["stream"]["connections"].as_f64().unwrap(), metric_sum(&text, "ringwire_stream_connections_total"));
    }
}

both_backends! {
    fn dashboard_page_is_self_contained_with_a_strict_policy(io) {
        let s = Server::start(io, &["--workers", "1"]);
        let page = admin_call(&s, "GET", "/dashboard", None);
        assert_eq!(page.status, 200, "{page:?}");
        assert!(header(&page, "Content-Type").starts_with("text/html"));
        let csp = header(&page, "Content-Security-Policy");
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        let html = String::from_utf8(page.body).unwrap();
        assert!(html.contains("src=\"dashboard.js\"") && !html.contains("<script>"), "no inline script");
        assert!(!html.contains("http://") && !html.contains("https://"), "no other origin");
        for (path, kind) in [("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css")] {
            let r = admin_call(&s, "GET", path, None);
            assert_eq!(r.status, 200, "{path}");
            assert!(header(&r, "Content-Type").starts_with(kind), "{r:?}");
            assert!(header(&r, "Content-Security-Policy").contains("script-src 'self'"));
        }
        assert_eq!(admin_call(&s, "HEAD", "/stats.json", None).status, 200);
        assert_eq!(admin_call(&s, "POST", "/stats.json", None).status, 405);
    }
}

both_backends! {
    fn stats_json_follows_the_metrics_rule(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let (admin, kv) = (a.token(&["admin"]), a.token(&["kv:read:"]));
        let s = Server::start(io, &["--workers", "1", "--auth-keys", keys.path(), "--public-metrics", "false"]);
        assert_eq!(admin_call(&s, "GET", "/stats.json", None).status, 401);
        assert_eq!(admin_call(&s, "GET", "/stats.json", Some(&kv)).status, 403);
        assert_eq!(admin_call(&s, "GET", "/stats.json", Some(&admin)).status, 200);
        // The page itself is static; it explains a 401/403 from stats.json and takes a token.
        assert_eq!(admin_call(&s, "GET", "/dashboard", None).status, 200);
        let js = String::from_utf8(admin_call(&s, "GET", "/dashboard.js", None).body).unwrap();
        assert!(js.contains("res.status === 401 || res.status === 403") && js.contains("Bearer"));
    }
}

/// Keep-alive `GET /plaintext` on `connections` connections, about 1000/s each, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Load {
    fn start(s: &Server, connections: usize) -> Load {
        let (stop, done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let threads = (0..connections)
            .map(|_| {
                let (stop, done, mut conn) = (stop.clone(), done.clone(), s.connect());
                thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    while !stop.load(Ordering::Relaxed) {
                        conn.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
                            .unwrap();
                        // The server goes first when a test fails: stop quietly then.
                        let Some(r) = read_response(&mut reader, false) else {
                            return;
                        };
                        assert_eq!(r.status, 200);
                        done.fetch_add(1, Ordering::Relaxed);
                        // Steady load, not a flood: Chromium and the server share 2 cores.
                        thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        Load {
            stop,
            done,
            threads,
        }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("load thread");
        }
        self.done.load(Ordering::Relaxed)
    }
}

/// Every `[data-value]` element's id and value, as the page shows them now.
const READ: &str = "Object.fromEntries([...document.querySelectorAll('[data-value]')].map(e => [e.id, e.dataset.value]))";

fn shown(page: &mut cdp::Page) -> BTreeMap<String, String> {
    serde_json::from_value(page.eval(READ)).expect("id → value")
}

fn number(values: &BTreeMap<String, String>, id: &str) -> f64 {
    values
        .get(id)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number in #{id}: {values:?}"))
}

/// Waits until the page has rendered `n` more documents than it had (counting from its load).
fn updates_after(page: &mut cdp::Page, n: f64, s: &Server) -> BTreeMap<String, String> {
    let updates = |v: &BTreeMap<String, String>| v.get("updates").and_then(|u| u.parse().ok());
    let start: f64 = updates(&shown(page)).unwrap_or(0.0);
    let end = Instant::now() + cdp::BOUND;
    loop {
        let values = shown(page);
        if updates(&values).is_some_and(|u| u >= start + n) {
            return values;
        }
        assert!(
            Instant::now() < end,
            "the page stopped updating: {values:?}\nchromium:\n{}\nserver:\n{}",
            page.log(),
            s.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// One reading: `/metrics` before, the page after two more updates (so its numbers come from
/// a document fetched after that scrape), `/metrics` again: the page lies in between.
fn reading(page: &mut cdp::Page, s: &Server) -> BTreeMap<String, String> {
    let before = requests_in_metrics(s) as f64;
    let values = updates_after(page, 2.0, s);
    let after = requests_in_metrics(s) as f64;
    let total = number(&values, "total-requests");
    assert!(
        before <= total && total <= after,
        "/metrics {before} ≤ page {total} ≤ /metrics {after}"
    );
    let per_core = number(&values, "core-0-requests") + number(&values, "core-1-requests");
    assert_eq!(per_core, total, "{values:?}");
    values
}

/// The Chromium to run; `None` (after printing `SKIPPED: why`) where there is none, unless
/// `RINGWIRE_REQUIRE_CHROMIUM=1`.
fn chromium_or_skip() -> Option<String> {
    match cdp::chromium() {
        Ok(program) => Some(program),
        Err(why) if std::env::var_os("RINGWIRE_REQUIRE_CHROMIUM").is_some_and(|v| v == "1") => {
            panic!("RINGWIRE_REQUIRE_CHROMIUM=1 but {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

/// Polls the page until the JavaScript expression `js` is true.
fn page_until(page: &mut cdp::Page, js: &str, s: &Server) {
    let end = Instant::now() + cdp::BOUND;
    while page.eval(js) != Value::Bool(true) {
        let status = page.eval("document.getElementById('status')?.textContent");
        assert!(
            Instant::now() < end,
            "{js}: not within {:?}; status {status}\nchromium:\n{}\nserver:\n{}",
            cdp::BOUND,
            page.log(),
            s.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

both_backends! {
    fn dashboard_asks_for_a_token_in_headless_chromium(io) {
        let Some(program) = chromium_or_skip() else {
            return;
        };
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &["--workers", "1", "--auth-keys", keys.path(), "--public-metrics", "false"]);
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://{}/dashboard", s.admin.unwrap());
        let mut page = cdp::Page::open(&program, dir.path(), &url, (1280, 900));
        // stats.json answers 401: the page says why and shows the token field.
        page_until(&mut page, "document.getElementById('status')?.dataset.state === 'auth'", &s);
        let text = page.eval("document.getElementById('status').textContent");
        assert!(text.as_str().unwrap().contains("401") && text.as_str().unwrap().contains("admin scope"), "{text}");
        assert_eq!(page.eval("document.getElementById('auth').hidden"), false);
        assert_eq!(page.eval("document.getElementById('updates').dataset.value"), "0");
        // With an admin token the numbers come.
        let set = format!(
            "document.getElementById('token').value = '{}'; document.getElementById('auth').requestSubmit(); true",
            a.token(&["admin"])
        );
        page.eval(&set);
        page_until(&mut page, "Number(document.getElementById('updates').dataset.value) >= 2", &s);
        assert_eq!(page.eval("document.getElementById('status').dataset.state"), "ok");
        assert_eq!(page.eval("document.getElementById('auth').hidden"), true);
        assert_eq!(page.eval("document.getElementById('core-0-backend').dataset.value"), backend(io));
    }
}

both_backends! {
    fn dashboard_in_headless_chromium(io) {
        let Some(program) = chromium_or_skip() else {
            return;
        };
        let s = Server::start(io, &["--workers", "2"]);
        for i in 0..5 {
            assert_eq!(req(&s, "PUT", &format!("/kv/dash{i}"), &[], b"v").status, 201);
        }
        let _conns = pubsub(&s, 10);
        let load = Load::start(&s, 2);
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://{}/dashboard", s.admin.unwrap());
        let mut page = cdp::Page::open(&program, dir.path(), &url, (1280, 900));

        let first = reading(&mut page, &s);
        let second = reading(&mut page, &s);
        for values in [&first, &second] {
            assert_eq!(values["drain-state"], "serving");
            assert_eq!(values["workers"], "2");
            for core in ["core-0", "core-1"] {
                assert_eq!(values[&format!("{core}-backend")], backend(io), "{values:?}");
            }
            // Under load: requests per second over the last poll, and the open keep-alive
            // connections (2, on whichever cores accepted them).
            assert!(number(values, "total-rps") > 0.0, "{values:?}");
            assert!(number(values, "total-connections") >= 2.0, "{values:?}");
            assert!(number(values, "total-p50") >= 1.0 && number(values, "total-p50") <= number(values, "total-p999"));
            assert!(number(values, "db-count") >= 1.0 && number(values, "db-p50") > 0.0, "{values:?}");
            assert_eq!(number(values, "total-pubsub-delivered"), 10.0, "{values:?}");
            assert_eq!(number(values, "total-streams-opened"), 2.0, "{values:?}");
            assert_eq!(number(values, "total-streams-open"), 2.0, "{values:?}");
            let per_core = number(values, "core-0-streams-open") + number(values, "core-1-streams-open");
            assert_eq!(per_core, 2.0, "{values:?}");
            assert_eq!(number(values, "total-subscriptions"), 1.0, "{values:?}");
        }
        let (a, b) = (number(&first, "total-requests"), number(&second, "total-requests"));
        assert!(b > a, "the numbers move: {a} then {b}");
        let status = page.eval("document.getElementById('status').dataset.state");
        assert_eq!(status, "ok");

        let png = page.screenshot();
        let artifacts = PathBuf::from(env!("CARGO_BIN_EXE_ringwire")).parent().unwrap().parent().unwrap().join("artifacts");
        std::fs::create_dir_all(&artifacts).unwrap();
        let path = artifacts.join(format!("dashboard-{io}.png"));
        std::fs::write(&path, &png).unwrap();
        println!("dashboard screenshot: {}", path.display());
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "{} bytes", png.len());
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert_eq!(width, 1280);
        drop(page);
        assert!(load.stop() > 0);
    }
}
