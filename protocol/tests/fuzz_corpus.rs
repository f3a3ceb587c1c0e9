//! Runs every checked-in fuzz seed through the same entry points cargo-fuzz uses, so the
//! invariants the fuzzers check are also checked on stable Rust in every CI run.

use ringwire_protocol::fuzzing;

fn run(target: &str, check: fn(&[u8])) {
    let n = fuzzing::run_corpus(target, check).len();
    println!("{target}: {n} seeds ok");
}

#[test]
fn corpus_http1_head() {
    run("http1_head", fuzzing::http1_head);
}

#[test]
fn corpus_kv_request() {
    run("kv_request", fuzzing::kv_request);
}

#[test]
fn corpus_channels_request() {
    run("channels_request", fuzzing::channels_request);
}

/// The channels seeds reach each verdict of both decoders, so a codec change that makes them
/// all alike is noticed.
#[test]
fn corpus_channels_seeds_reach_varied_verdicts() {
    use ringwire_protocol::channels::{Error, parse_request, parse_server_message, split};
    let mut seen = std::collections::BTreeSet::new();
    for data in seeds("channels_request") {
        let body = match split(&data) {
            Ok(Some((body, _))) => body,
            Ok(None) => {
                seen.insert("partial".to_string());
                continue;
            }
            Err(_) => {
                seen.insert("too long".to_string());
                continue;
            }
        };
        seen.insert(match parse_request(body) {
            Ok(r) => format!("request {:?}", r.op()),
            Err(Error::BadName { .. }) => "bad name".into(),
            Err(Error::Unknown { what, .. }) => format!("unknown {what}"),
            Err(e) => format!("{e:?}").split('(').next().unwrap().to_string(),
        });
        if let Ok(m) = parse_server_message(body) {
            seen.insert(format!("{m:?}").split(' ').next().unwrap().to_string());
        }
    }
    for want in [
        "partial",
        "too long",
        "bad name",
        "unknown op",
        "unknown start",
        "Truncated",
        "Trailing",
        "request Pub",
        "request Sub",
        "request Consume",
        "request Ack",
        "request Nak",
        "request Info",
        "request DeleteConsumer",
        "Answer",
        "Message",
    ] {
        assert!(seen.contains(want), "no seed reaches {want}: {seen:?}");
    }
}

#[test]
fn corpus_http1_chunked() {
    run("http1_chunked", fuzzing::http1_chunked);
}

#[test]
fn corpus_http1_pipeline() {
    run("http1_pipeline", fuzzing::http1_pipeline);
}

/// The seeds are meant to reach the interesting verdicts; if a parser change makes them all
/// succeed or all fail, the corpus has lost its point.
#[test]
fn corpus_head_seeds_reach_varied_verdicts() {
    use fuzzing::HeadOutcome;
    use ringwire_protocol::http1::{Limits, Parser};
    let mut statuses = std::collections::BTreeSet::new();
    for data in seeds("http1_head") {
        let mut parser = Parser::new(Limits::default());
        statuses.insert(match fuzzing::parse_once(&mut parser, &data) {
            HeadOutcome::Partial => 0,
            HeadOutcome::Complete(..) => 200,
            HeadOutcome::Error(e) => e.status(),
        });
    }
    for want in [0, 200, 400, 414, 431, 501, 505] {
        assert!(
            statuses.contains(&want),
            "no seed reaches {want}: {statuses:?}"
        );
    }
}

#[test]
fn corpus_stream_frame() {
    run("stream_frame", fuzzing::stream_frame);
}

#[test]
fn corpus_stream_conn() {
    run("stream_conn", fuzzing::stream_conn);
}

/// The stream seeds must reach a clean run and each class of connection error, and the
/// stream-level outcomes (refusal, stream reset) that leave the connection alive.
#[test]
fn corpus_stream_seeds_reach_varied_verdicts() {
    use fuzzing::stream::{App, run_server};
    use ringwire_protocol::stream::ErrorCode;
    let mut seen = std::collections::BTreeSet::new();
    for data in seeds("stream_conn") {
        let app = App::from_byte(data[0]);
        let mut input = app.prefix();
        input.extend_from_slice(&data[1..]);
        let t = run_server(app, &input, &[]);
        seen.insert(match t.error.and_then(|e| e.code()) {
            None => "clean".to_string(),
            Some(code) => code.to_string(),
        });
        for e in &t.events {
            for kind in [
                "Refused",
                "StreamError",
                "WindowOpened",
                "GoAway",
                "Ping",
                "Auth",
            ] {
                if e.starts_with(kind) {
                    seen.insert(kind.to_string());
                }
            }
        }
    }
    for want in [
        "clean".to_string(),
        ErrorCode::PROTOCOL_ERROR.to_string(),
        ErrorCode::FLOW_CONTROL_ERROR.to_string(),
        ErrorCode::UNSUPPORTED_VERSION.to_string(),
        ErrorCode::UNAUTHENTICATED.to_string(),
        "Refused".into(),
        "StreamError".into(),
        "WindowOpened".into(),
        "GoAway".into(),
        "Ping".into(),
        "Auth".into(),
    ] {
        assert!(seen.contains(&want), "no seed reaches {want}: {seen:?}");
    }
}

#[test]
fn corpus_http1_range() {
    run("http1_range", fuzzing::http1_range);
}

#[test]
fn corpus_http1_static_path() {
    run("http1_static_path", fuzzing::http1_static_path);
}

#[test]
fn corpus_http1_traceparent() {
    run("http1_traceparent", fuzzing::http1_traceparent);
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    fuzzing::seeds(target).into_iter().map(|(_, d)| d).collect()
}

/// The field seeds reach every verdict of their parser, so a parser change that makes them all
/// alike is noticed. (The chunked framing-overhead limit needs more than 16 KiB of input; a
/// seed that large would slow every `http1_chunked` run, so `chunked_overhead.rs` covers it.)
#[test]
fn corpus_field_seeds_reach_varied_verdicts() {
    use ringwire_protocol::http1::{path, range, range::Ranged, trace_id};
    let mut seen = std::collections::BTreeSet::new();
    for data in seeds("http1_range") {
        let len = u64::from(data[1]) * u64::from(data[0] == 0);
        if data[0] == 0 {
            seen.insert(match range::parse(Some(&data[2..]), len) {
                Ranged::Full => "range full",
                Ranged::Part(_) => "range part",
                Ranged::Unsatisfiable => "range unsatisfiable",
            });
        }
    }
    for data in seeds("http1_static_path") {
        seen.insert(match path::resolve(&String::from_utf8_lossy(&data)) {
            Ok(_) => "path ok",
            Err(path::Refused::Hidden) => "path hidden",
            Err(path::Refused::Malformed(_)) => "path malformed",
        });
    }
    for data in seeds("http1_traceparent") {
        seen.insert(match trace_id(&data) {
            Some(_) => "trace id",
            None => "no trace id",
        });
    }
    for want in [
        "range full",
        "range part",
        "range unsatisfiable",
        "path ok",
        "path hidden",
        "path malformed",
        "trace id",
        "no trace id",
    ] {
        assert!(seen.contains(want), "no seed reaches {want}: {seen:?}");
    }
}
