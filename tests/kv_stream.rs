//! The key-value store over the stream protocol (service `kv`), against the real server on
//! both backends: the CLI, pipelined requests answered out of order, values larger than a
//! stream window, and bad input.

mod util;

use ringwire_protocol::kv::{self, Cond, Op, Request, Response, Status};
use std::{collections::HashMap, process::Command};
use util::{
    Server,
    kvstream::{exchange, with_stream},
};

fn client(io: &str, s: &Server, args: &[&str]) -> (i32, String, String) {
    let addr = s.stream.unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(["client", "--io", io, "--addr", &addr, "kv"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

both_backends! {
    fn the_cli_puts_gets_lists_and_deletes(io) {
        let s = Server::start(io, &["--workers", "2"]);
        let (code, out, err) = client(io, &s, &["put", "fruit/apple", "red"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("created"), "{out}");
        assert_eq!(client(io, &s, &["put", "fruit/pear", "green"]).0, 0);
        let (code, out, err) = client(io, &s, &["get", "fruit/apple"]);
        assert_eq!((code, out.as_str()), (0, "red\n"), "{err}");
        let (_, out, _) = client(io, &s, &["ls", "fruit/"]);
        assert_eq!(out, "fruit/apple\nfruit/pear\n");
        assert_eq!(client(io, &s, &["del", "fruit/apple"]).0, 0);
        let (code, _, err) = client(io, &s, &["get", "fruit/apple"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("not found"), "{err}");
        // What the stream side wrote, HTTP reads.
        let r = util::raw(&s, b"GET /kv/fruit/pear HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"green"[..]));
    }
}

both_backends! {
    fn many_requests_in_flight_are_each_answered_once(io) {
        let s = Server::start(io, &["--workers", "1"]);
        let keys: Vec<String> = (0..600).map(|i| format!("k{i}")).collect();
        let answers = with_stream(io, &s, async |c| {
            let mut reqs = Vec::new();
            for (i, k) in keys.iter().enumerate() {
                reqs.push(Request::Put { id: i as u32, cond: Cond::Absent, key: k.as_bytes(), value: k.as_bytes() });
            }
            // And a read of a key no write has touched, which is answered before the writes.
            reqs.push(Request::Get { id: 10_000, key: b"nothing" });
            exchange(&c, &reqs).await
        });
        assert_eq!(answers.len(), keys.len() + 1);
        let mut seen = HashMap::new();
        for body in &answers {
            let id = kv::response_id(body).unwrap();
            let op = if id == 10_000 { Op::Get } else { Op::Put };
            let r = kv::decode_response(body, op).unwrap();
            match r {
                Response::Written { created: true, .. } => {}
                Response::NotFound { id: 10_000 } => {}
                other => panic!("{other:?}"),
            }
            assert!(seen.insert(id, ()).is_none(), "id {id} answered twice");
        }
        // Then every value reads back, on one stream, in order.
        let answers = with_stream(io, &s, async |c| {
            let reqs: Vec<Request> = keys.iter().enumerate().map(|(i, k)| Request::Get { id: i as u32, key: k.as_bytes() }).collect();
            exchange(&c, &reqs).await
        });
        for (i, body) in answers.iter().enumerate() {
            match kv::decode_response(body, Op::Get).unwrap() {
                Response::Value { id, value, .. } => assert_eq!((id as usize, value), (i, keys[i].as_bytes())),
                other => panic!("{other:?}"),
            }
        }
    }
}

both_backends! {
    fn a_value_larger_than_the_stream_window_goes_both_ways(io) {
        let s = Server::start(io, &["--workers", "1", "--kv-max-value", "2MiB"]);
        let big = util::pattern(7, 1_500_000);
        let answers = with_stream(io, &s, async |c| {
            exchange(&c, &[
                Request::Put { id: 1, cond: Cond::Any, key: b"big", value: &big },
                Request::Put { id: 2, cond: Cond::Any, key: b"small", value: b"x" },
            ]).await
        });
        assert_eq!(answers.len(), 2);
        let answers = with_stream(io, &s, async |c| exchange(&c, &[Request::Get { id: 3, key: b"big" }]).await);
        match kv::decode_response(&answers[0], Op::Get).unwrap() {
            Response::Value { value, .. } => assert!(value == &big[..], "{} bytes back", value.len()),
            other => panic!("{other:?}"),
        }
    }
}

both_backends! {
    fn bad_requests_get_a_reason_and_limits_their_status(io) {
        let s = Server::start(io, &["--workers", "1", "--kv-max-value", "1k"]);
        let big = vec![0u8; 1025];
        let answers = with_stream(io, &s, async |c| {
            exchange(&c, &[
                Request::Put { id: 1, cond: Cond::Any, key: b"k", value: &big },
                Request::Put { id: 2, cond: Cond::Version(12345), key: b"k", value: b"v" },
            ]).await
        });
        let r: Vec<Response> = answers.iter().map(|b| kv::decode_response(b, Op::Put).unwrap()).collect();
        assert!(r.iter().any(|r| matches!(r, Response::Failed { id: 1, status: Status::TooLarge, .. })), "{r:?}");
        assert!(r.iter().any(|r| matches!(r, Response::Conflict { id: 2, current: 0 })), "{r:?}");
        // A malformed message: an answer that says why, and the stream ends.
        let answers = with_stream(io, &s, async |c| {
            let stream = c.open("kv").await.unwrap();
            stream.send(&[0, 0, 0, 5, 0, 0, 0, 9, 42]).await.unwrap();
            let mut buf = Vec::new();
            while let Some(b) = stream.recv().await.unwrap() {
                buf.extend_from_slice(&b);
            }
            buf
        });
        let (body, _) = kv::split(&answers).unwrap().unwrap();
        match kv::decode_response(body, Op::Get).unwrap() {
            Response::Failed { id: 9, status: Status::BadRequest, message } => assert!(message.contains("unknown op"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}

both_backends! {
    fn bench_stream_loads_kv_reads_and_writes(io) {
        let s = Server::start(io, &["--workers", "1", "--db-sync", "none"]);
        let addr = s.stream.unwrap().to_string();
        for op in ["get", "put"] {
            let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
                .args(["bench-stream", "--io", io, "--addr", &addr, "--service", "kv", "--kv-op", op])
                .args(["--keys", "500", "--depth", "4", "--connections", "2", "--streams", "2"])
                .args(["--duration", "1s", "--warmup", "200ms", "--json"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{op}: {text}{}", String::from_utf8_lossy(&out.stderr));
            let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
            assert_eq!(v["service"], "kv");
            assert!(v["messages"].as_u64().unwrap() > 100, "{op}: {v}");
            assert_eq!(v["errors"].as_u64().unwrap_or(0), 0, "{op}: {v}");
        }
    }
}

/// The raw bytes the server sends back on one `kv` stream for `wire` (the client then ends
/// its side).
fn raw_exchange(io: &str, s: &Server, wire: Vec<u8>) -> Vec<u8> {
    with_stream(io, s, async |c| {
        let stream = c.open("kv").await.unwrap();
        stream.send(&wire).await.unwrap();
        stream.finish().unwrap();
        let mut buf = Vec::new();
        while let Some(b) = stream.recv().await.unwrap() {
            buf.extend_from_slice(&b);
        }
        buf
    })
}

both_backends! {
    fn an_oversized_or_truncated_message_is_answered_and_ends_the_stream(io) {
        let s = Server::start(io, &["--workers", "1", "--kv-max-value", "1k"]);
        // A PUT announcing 2 MiB: refused from its length, before the server waits for it.
        let mut wire = (2u32 << 20).to_be_bytes().to_vec();
        wire.extend_from_slice(&[0, 0, 0, 4, 2]);
        wire.extend_from_slice(&vec![0u8; 300_000]);
        let answer = raw_exchange(io, &s, wire);
        let (body, used) = kv::split(&answer).unwrap().expect("an answer");
        assert_eq!(used, answer.len(), "one answer, then the end");
        match kv::decode_response(body, Op::Put).unwrap() {
            Response::Failed { id: 4, status: Status::TooLarge, message } => assert!(message.contains("limit"), "{message}"),
            other => panic!("{other:?}"),
        }
        // Half a message, then END: the server says so and ends its side too.
        let mut full = Vec::new();
        kv::encode_request(&Request::Get { id: 5, key: b"some-key" }, &mut full);
        let answer = raw_exchange(io, &s, full[..full.len() - 3].to_vec());
        let (body, _) = kv::split(&answer).unwrap().expect("an answer");
        match kv::decode_response(body, Op::Get).unwrap() {
            Response::Failed { status: Status::BadRequest, message, .. } => assert!(message.contains("ended inside"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
