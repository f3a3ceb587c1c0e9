//! OTLP/HTTP export of sampled request spans (cargo feature `otlp`), against a small OTLP
//! receiver in the test that decodes the protobuf with opentelemetry-proto's types. Run with
//! `cargo test --features otlp --test otlp`. Each test runs on both backends.
#![cfg(feature = "otlp")]

mod util;

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::any_value::Value,
    trace::v1::{Span, span::SpanKind},
};
use prost::Message;
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};
use util::{Server, raw};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const UNSAMPLED_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// An OTLP/HTTP receiver: every span posted to /v1/traces, decoded.
struct Receiver {
    endpoint: String,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let spans = Arc::new(Mutex::new(Vec::new()));
        let sink = spans.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                assert!(line.starts_with("POST /v1/traces HTTP/1.1"), "{line:?}");
                let (mut length, mut protobuf) = (0, false);
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    let h = h.trim_end().to_ascii_lowercase();
                    if h.is_empty() {
                        break;
                    }
                    if let Some(v) = h.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    protobuf |= h == "content-type: application/x-protobuf";
                }
                assert!(protobuf, "OTLP/HTTP protobuf content type");
                let mut body = vec![0; length];
                r.read_exact(&mut body).unwrap();
                let req = ExportTraceServiceRequest::decode(body.as_slice())
                    .expect("a valid ExportTraceServiceRequest");
                for rs in req.resource_spans {
                    let service = rs
                        .resource
                        .unwrap()
                        .attributes
                        .into_iter()
                        .find(|a| a.key == "service.name");
                    assert!(
                        matches!(service.and_then(|a| a.value?.value), Some(Value::StringValue(s)) if s == "ringwire")
                    );
                    for ss in rs.scope_spans {
                        sink.lock().unwrap().extend(ss.spans);
                    }
                }
                let mut conn = r.into_inner();
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        Receiver { endpoint, spans }
    }

    /// Waits (generously) until a span of `trace_id` (hex) with span id `span_id` arrived.
    fn wait_for(&self, trace_id: &str, span_id: &str) -> Span {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .find(|s| hex(&s.trace_id) == trace_id && hex(&s.span_id) == span_id)
                .cloned();
            if let Some(s) = found {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "no span {trace_id}/{span_id}; got {:?}",
                self.spans.lock().unwrap()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends GET `path` with `traceparent`; the response's (trace id, span id).
fn traced_get(s: &Server, path: &str, traceparent: Option<&str>) -> Option<(String, String)> {
    let field = traceparent
        .map(|t| format!("traceparent: {t}\r\n"))
        .unwrap_or_default();
    let r = raw(
        s,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{field}\r\n").as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let v = r.header("traceparent")?;
    let parts: Vec<&str> = v.split('-').collect();
    Some((parts[1].to_string(), parts[2].to_string()))
}

fn attr(span: &Span, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|a| a.key == key)?
        .value
        .clone()?
        .value
}

both_backends! {
    fn sampled_received_traces_arrive_with_their_ids_and_parents(io) {
        let rx = Receiver::start();
        // One worker: its spans reach the queue in request order, so the marker sent last
        // arriving means the unsampled request before it was really left out.
        let s = Server::start(io, &["--workers", "1", "--trace-otlp-endpoint", &rx.endpoint]);
        let parents = ["00f067aa0ba902b7", "1111111111111111", "2222222222222222"];
        let mut sent = Vec::new();
        for (i, parent) in parents.iter().enumerate() {
            let (trace, span) = traced_get(&s, &format!("/plaintext?n={i}"), Some(&format!("00-{TRACE}-{parent}-01"))).unwrap();
            assert_eq!(trace, TRACE);
            sent.push((parent, span));
        }
        traced_get(&s, "/plaintext", Some(&format!("00-{UNSAMPLED_TRACE}-{}-00", parents[0]))).unwrap();
        assert_eq!(traced_get(&s, "/plaintext", None), None, "trace.sample is 0");
        let (_, marker) = traced_get(&s, "/json", Some(&format!("00-{TRACE}-{}-01", parents[1]))).unwrap();
        for (parent, span_id) in &sent {
            let span = rx.wait_for(TRACE, span_id);
            assert_eq!(hex(&span.parent_span_id), **parent, "the caller's span is the parent");
            assert_eq!(span.kind, SpanKind::Server as i32);
            assert_eq!(span.name, "GET");
            assert_eq!(span.flags & 0xff, 1, "sampled");
            assert_eq!(span.flags & 0x300, 0x300, "a remote parent");
            assert!(span.start_time_unix_nano > 0 && span.start_time_unix_nano <= span.end_time_unix_nano);
            assert_eq!(attr(&span, "http.response.status_code"), Some(Value::IntValue(200)));
            assert!(matches!(attr(&span, "url.path"), Some(Value::StringValue(p)) if p == "/plaintext"));
        }
        rx.wait_for(TRACE, &marker);
        let spans = rx.spans.lock().unwrap();
        assert!(spans.iter().all(|s| hex(&s.trace_id) == TRACE), "only sampled traces are exported: {spans:?}");
        assert_eq!(spans.len(), 4, "{spans:?}");
    }
}

both_backends! {
    fn traces_started_here_arrive_without_a_parent(io) {
        let rx = Receiver::start();
        let s = Server::start(io, &["--trace-sample", "1", "--trace-otlp-endpoint", &rx.endpoint]);
        for _ in 0..3 {
            let (trace, span) = traced_get(&s, "/plaintext", None).expect("trace.sample = 1 traces every request");
            let got = rx.wait_for(&trace, &span);
            assert!(got.parent_span_id.is_empty(), "a root span");
            assert_eq!(got.flags & 0x3ff, 0x101, "sampled, parent not remote");
        }
    }
}
