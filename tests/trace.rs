//! W3C Trace Context against the real binary (docs/OPERATIONS.md, "Tracing"): a received
//! `traceparent` is continued into the response with a new span id and its flags as sent, an
//! invalid one is ignored, `trace.sample` starts traces, and the access log carries the trace.
//! Each test runs on both backends.

mod util;

use std::{
    thread,
    time::{Duration, Instant},
};
use util::{Server, raw};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The response's `traceparent` split into (trace id, span id, flags), checked for shape.
fn traceparent(r: &util::Response) -> Option<(String, String, String)> {
    let v = r.header("traceparent")?;
    let parts: Vec<&str> = v.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {v:?}");
    assert_eq!(parts[0], "00", "version in {v:?}");
    assert!(
        is_hex(parts[1], 32) && parts[1].bytes().any(|b| b != b'0'),
        "{v:?}"
    );
    assert!(
        is_hex(parts[2], 16) && parts[2].bytes().any(|b| b != b'0'),
        "{v:?}"
    );
    assert!(is_hex(parts[3], 2), "{v:?}");
    Some((parts[1].into(), parts[2].into(), parts[3].into()))
}

fn get(s: &Server, path: &str, traceparent: Option<&str>) -> util::Response {
    let field = traceparent
        .map(|t| format!("traceparent: {t}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{field}\r\n");
    let r = raw(s, req.as_bytes()).expect("a response");
    assert!(
        r.header("x-request-id").is_some(),
        "X-Request-Id on every response"
    );
    r
}

both_backends! {
    fn received_traceparent_is_continued_with_a_new_span_and_its_flags(io) {
        let s = Server::start(io, &[]);
        let mut spans = Vec::new();
        for (path, flags, status) in [("/plaintext", "01", 200), ("/plaintext", "00", 200), ("/nope", "01", 404), ("/json", "03", 200)] {
            let sent = format!("00-{TRACE}-{PARENT}-{flags}");
            let r = get(&s, path, Some(&sent));
            assert_eq!(r.status, status);
            let (trace, span, got_flags) = traceparent(&r).unwrap_or_else(|| panic!("no traceparent on {path} {flags}"));
            assert_eq!(trace, TRACE);
            assert_ne!(span, PARENT, "this server's own span id");
            assert_eq!(got_flags, flags, "the flags as sent (sampled honoured)");
            spans.push(span);
        }
        // A later version is continued too, answered as version 00.
        let r = get(&s, "/plaintext", Some(&format!("cc-{TRACE}-{PARENT}-01-what-comes-next")));
        let (trace, span, flags) = traceparent(&r).expect("continued from a later version");
        assert_eq!((trace.as_str(), flags.as_str()), (TRACE, "01"));
        spans.push(span);
        spans.sort();
        spans.dedup();
        assert_eq!(spans.len(), 5, "a new span id for every request");
    }
}

both_backends! {
    fn invalid_or_absent_traceparent_gets_none_back_when_not_sampling(io) {
        let s = Server::start(io, &[]);
        for bad in [
            format!("00-{}-{PARENT}-01", TRACE.to_uppercase()),
            format!("00-{}-{PARENT}-01", "0".repeat(32)),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            format!("ff-{TRACE}-{PARENT}-01"),
            format!("00-{TRACE}-{PARENT}-01-extra"),
            "not a traceparent".to_string(),
        ] {
            let r = get(&s, "/plaintext", Some(&bad));
            assert_eq!(r.status, 200, "an invalid traceparent is ignored, not refused: {bad}");
            assert_eq!(r.header("traceparent"), None, "{bad}");
        }
        assert_eq!(get(&s, "/plaintext", None).header("traceparent"), None);
    }
}

both_backends! {
    fn trace_sample_one_starts_a_trace_on_every_response(io) {
        let s = Server::start(io, &["--workers", "2", "--trace-sample", "1"]);
        let mut traces = Vec::new();
        for i in 0..20 {
            let path = if i % 4 == 3 { "/nope" } else { "/plaintext" };
            // An invalid field is as good as none: a new trace, not the invalid id.
            let sent = (i % 5 == 0).then(|| format!("00-{}-{PARENT}-01", "0".repeat(32)));
            let r = get(&s, path, sent.as_deref());
            let (trace, _span, flags) = traceparent(&r).unwrap_or_else(|| panic!("request {i}: no traceparent"));
            assert_eq!(flags, "01", "a started trace is sampled");
            traces.push(trace);
        }
        traces.sort();
        traces.dedup();
        assert_eq!(traces.len(), 20, "a new random trace id each time");
        // A received one is still continued, its flags as sent.
        let r = get(&s, "/plaintext", Some(&format!("00-{TRACE}-{PARENT}-00")));
        let (trace, _, flags) = traceparent(&r).unwrap();
        assert_eq!((trace.as_str(), flags.as_str()), (TRACE, "00"));
    }
}

both_backends! {
    fn access_log_carries_trace_id_span_id_and_sampled(io) {
        let s = Server::start(io, &["--log-format", "json", "--access-log-sample", "1"]);
        let sampled = get(&s, "/plaintext?t=1", Some(&format!("00-{TRACE}-{PARENT}-01")));
        let (_, span1, _) = traceparent(&sampled).unwrap();
        let unsampled = get(&s, "/plaintext?t=2", Some(&format!("00-{TRACE}-{PARENT}-00")));
        let (_, span2, _) = traceparent(&unsampled).unwrap();
        get(&s, "/plaintext?t=3", None);
        let deadline = Instant::now() + Duration::from_secs(10);
        let access: Vec<serde_json::Value> = loop {
            let lines: Vec<serde_json::Value> = s
                .log()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v["target"] == "ringwire::access")
                .collect();
            if lines.len() >= 3 || Instant::now() > deadline {
                break lines;
            }
            thread::sleep(Duration::from_millis(20));
        };
        let line = |p: &str| access.iter().find(|v| v["path"] == p).unwrap_or_else(|| panic!("no access line for {p}: {access:?}"));
        let one = line("/plaintext?t=1");
        assert_eq!((one["trace_id"].as_str(), one["span_id"].as_str(), one["sampled"].as_bool()), (Some(TRACE), Some(span1.as_str()), Some(true)));
        let two = line("/plaintext?t=2");
        assert_eq!((two["trace_id"].as_str(), two["span_id"].as_str(), two["sampled"].as_bool()), (Some(TRACE), Some(span2.as_str()), Some(false)));
        let three = line("/plaintext?t=3");
        assert_eq!((three["trace_id"].as_str(), three["span_id"].as_str(), three["sampled"].as_bool()), (Some(""), Some(""), Some(false)));
    }
}

/// Without the `otlp` feature an export endpoint is refused at start, with how to get one.
#[cfg(not(feature = "otlp"))]
#[test]
fn otlp_endpoint_needs_the_feature() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args([
            "check-config",
            "--trace-otlp-endpoint",
            "http://127.0.0.1:4318/v1/traces",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("--features otlp"), "{err}");
}

#[test]
fn trace_sample_out_of_range_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(["check-config", "--trace-sample", "1.5"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("trace.sample"),
        "{err}"
    );
}
