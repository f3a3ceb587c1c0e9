//! OTLP/HTTP export of sampled request spans (cargo feature `otlp`; docs/OPERATIONS.md,
//! "Tracing"). Workers put finished span records in a bounded queue
//! (`ringwire_net::trace::start_export`) and never wait; this thread batches them into
//! `ExportTraceServiceRequest` protobuf messages and posts each batch with a plain blocking
//! HTTP/1.1 client. No async runtime, no tonic: only the OTLP message types and prost.

use crate::config::keys::{OtlpEndpoint, TraceSettings};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value},
    resource::v1::Resource,
    trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span::SpanKind, status::StatusCode},
};
use prost::Message;
use ringwire_net::trace::{SpanRecord, dropped_spans, start_export};
use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    sync::mpsc::{Receiver, RecvTimeoutError},
    time::{Duration, Instant},
};

/// Span records the workers may queue ahead of the exporter; beyond that they are dropped
/// (and counted: the exporter logs the count).
const QUEUE: usize = 8192;
/// Spans in one post at most.
const MAX_BATCH: usize = 512;
/// How long a span may wait for its batch to fill.
const LINGER: Duration = Duration::from_millis(500);
/// Connect, write and read limit of one post.
const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// OTLP span flags: bit 8 says whether bit 9 (the parent is remote) is known.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// Starts the exporter thread when `trace.otlp_endpoint` is set.
pub fn start(settings: &TraceSettings) {
    let Some(endpoint) = settings.otlp_endpoint.clone() else {
        return;
    };
    let Some(rx) = start_export(QUEUE) else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("ringwire-otlp".into())
        .spawn(move || run(&endpoint, &rx));
    match spawned {
        Ok(_) => tracing::info!(
            "otlp: exporting sampled request spans to {}",
            settings
                .otlp_endpoint
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default()
        ),
        Err(e) => tracing::error!("otlp: exporter thread not started ({e}); spans are dropped"),
    }
}

fn run(endpoint: &OtlpEndpoint, rx: &Receiver<SpanRecord>) {
    let mut dropped_seen = 0;
    let mut last_warning: Option<Instant> = None;
    let mut failed = 0u64;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let deadline = Instant::now() + LINGER;
        while batch.len() < MAX_BATCH {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(r) => batch.push(r),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let sent = batch.len();
        if let Err(e) = post(endpoint, &encode(batch)) {
            failed += sent as u64;
            // One warning per 10 s at most: a collector that is down must not flood the log.
            if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                tracing::warn!("otlp: post to {endpoint} failed: {e} ({failed} spans lost so far)");
                last_warning = Some(Instant::now());
            }
        }
        let dropped = dropped_spans();
        if dropped > dropped_seen {
            tracing::warn!(
                "otlp: {} spans dropped: the export queue ({QUEUE}) was full",
                dropped - dropped_seen
            );
            dropped_seen = dropped;
        }
    }
}

fn text(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// One `ExportTraceServiceRequest` holding `batch` (HTTP server spans, semantic conventions
/// `http.request.method`, `url.path`, `http.response.status_code`).
pub fn encode(batch: Vec<SpanRecord>) -> Vec<u8> {
    let spans = batch
        .into_iter()
        .map(|r| {
            let remote = if r.parent_id.is_some() { IS_REMOTE } else { 0 };
            let status = if r.status >= 500 || r.status == 0 {
                StatusCode::Error
            } else {
                StatusCode::Unset
            };
            Span {
                trace_id: r.trace_id.to_vec(),
                span_id: r.span_id.to_vec(),
                parent_span_id: r.parent_id.map(|p| p.to_vec()).unwrap_or_default(),
                flags: u32::from(r.flags) | HAS_IS_REMOTE | remote,
                name: r.method.clone(),
                kind: SpanKind::Server as i32,
                start_time_unix_nano: r.start_unix_nanos,
                end_time_unix_nano: r.end_unix_nanos,
                attributes: vec![
                    text("http.request.method", r.method),
                    text("url.path", r.path),
                    int("http.response.status_code", i64::from(r.status)),
                    int("ringwire.core", r.core as i64),
                ],
                status: Some(Status {
                    code: status as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "ringwire")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "ringwire".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Posts one protobuf body; `Ok` on a 2xx answer.
fn post(endpoint: &OtlpEndpoint, body: &[u8]) -> Result<(), String> {
    let authority = format!("{}:{}", endpoint.host, endpoint.port);
    let host = endpoint.host.trim_start_matches('[').trim_end_matches(']');
    let addr = (host, endpoint.port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {}: {e}", endpoint.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", endpoint.host))?;
    let mut s = TcpStream::connect_timeout(&addr, POST_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(POST_TIMEOUT))
        .and_then(|()| s.set_read_timeout(Some(POST_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        endpoint.path,
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body))
        .map_err(|e| e.to_string())?;
    // The status line is all that matters; the rest (a partial-success message) is read and
    // dropped so the collector is not reset mid-answer.
    let mut answer = Vec::new();
    let _ = s.take(64 * 1024).read_to_end(&mut answer);
    let line = answer.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    match line.split(' ').nth(1) {
        Some(code) if code.starts_with('2') => Ok(()),
        Some(_) => Err(format!("the collector answered {:?}", line.trim())),
        None => Err("no HTTP answer".into()),
    }
}
