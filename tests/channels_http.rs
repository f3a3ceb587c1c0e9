//! Channels over HTTP (`docs/HTTP.md`, "Channels"): publishing, JSON replay and Server-Sent
//! Events, against the real server over real sockets on both backends. `d.*` channels are
//! durable, everything else ephemeral.

mod util;

use std::{
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use util::{
    Server,
    sse::{Publisher, Sse, json, metric_sum, problem, publish, publish_durable, req},
};

/// Two workers, so a subscriber and a publisher usually sit on different cores.
fn start(io: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--workers", "2", "--durable", "d.*"];
    args.extend_from_slice(extra);
    Server::start(io, &args)
}

fn get_json(s: &Server, path: &str) -> serde_json::Value {
    let r = req(s, "GET", path, &[], b"");
    assert_eq!(r.status, 200, "GET {path}: {r:?}\n{}", s.log());
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
    json(&r)
}

/// The seqs of a `/messages` answer.
fn seqs(page: &serde_json::Value) -> Vec<u64> {
    let messages = page["messages"].as_array().expect("messages");
    messages
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

fn msg(id: u64, data: &str) -> (Option<String>, String) {
    (Some(id.to_string()), data.to_string())
}

/// Waits (generously) until `check` holds.
fn eventually(what: &str, s: &Server, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < end, "{what}: not within 30 s\n{}", s.log());
        thread::sleep(Duration::from_millis(50));
    }
}

both_backends! {
    fn post_returns_seq_for_durable_and_204_for_ephemeral(io) {
        let s = start(io, &[]);
        let r = publish(&s, "d.x", b"one");
        assert_eq!(r.status, 200, "{r:?}\n{}", s.log());
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(json(&r), serde_json::json!({"channel": "d.x", "seq": 1}));
        assert_eq!(publish_durable(&s, "d.x", b"two"), 2);
        // Sequences are per channel.
        assert_eq!(publish_durable(&s, "d.other", b""), 1);
        let r = publish(&s, "e.x", b"gone");
        assert_eq!((r.status, r.body.len()), (204, 0), "{r:?}");
        // What the 200s promised is there.
        let page = get_json(&s, "/channels/d.x/messages");
        assert_eq!(seqs(&page), [1, 2]);
        assert_eq!((page["messages"][0]["data"].as_str(), page["messages"][1]["data"].as_str()), (Some("one"), Some("two")));
        // Only POST publishes.
        assert_eq!(req(&s, "PUT", "/channels/d.x", &[], b"x").status, 405);
    }
}

both_backends! {
    fn bad_names_and_large_bodies_are_refused(io) {
        let s = start(io, &["--kv-max-value", "1KiB"]);
        let long = "x".repeat(65);
        for name in ["a..b", ".a", "a.", "a*b", "a%20b", long.as_str()] {
            let v = problem(&publish(&s, name, b"x"), 400);
            assert_eq!(v["code"], "channels.bad_name", "{v}");
            problem(&req(&s, "GET", &format!("/channels/{name}/messages"), &[], b""), 400);
            problem(&req(&s, "GET", &format!("/channels/{name}/events"), &[], b""), 400);
        }
        // 64 bytes is still a name.
        assert_eq!(publish(&s, &"y".repeat(64), b"x").status, 204);
        // The body limit is kv.max_value, durable or not; exactly the limit is fine.
        for channel in ["d.x", "e.x"] {
            problem(&publish(&s, channel, &[b'z'; 1025]), 413);
            assert!(publish(&s, channel, &[b'z'; 1024]).status / 100 == 2);
        }
        assert_eq!(publish_durable(&s, "d.x", b"after"), 2, "refused bodies took no seq");
        // Replay and start parameters are whole numbers.
        for query in ["limit=x", "from=-1", "from=1.5"] {
            problem(&req(&s, "GET", &format!("/channels/d.x/messages?{query}"), &[], b""), 400);
        }
        for query in ["from=x", "last=-1", "since=soon"] {
            problem(&req(&s, "GET", &format!("/channels/d.x/events?{query}"), &[], b""), 400);
        }
        // A limit past the page size is capped, not refused.
        assert_eq!(req(&s, "GET", "/channels/d.x/messages?limit=5000", &[], b"").status, 200);
    }
}

both_backends! {
    fn messages_json_replay_pages(io) {
        let s = start(io, &[]);
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let payloads: [&[u8]; 5] = [b"m1", b"m2", &[0xff, 0x00, 0x80], b"line\nbreak", b""];
        for (i, p) in payloads.iter().enumerate() {
            assert_eq!(publish_durable(&s, "d.x", p), i as u64 + 1);
        }
        let all = get_json(&s, "/channels/d.x/messages");
        assert_eq!((all["channel"].as_str(), all["first"].as_u64(), all["next"].as_u64()), (Some("d.x"), Some(1), Some(6)), "{all}");
        assert_eq!(seqs(&all), [1, 2, 3, 4, 5]);
        let m = &all["messages"];
        assert_eq!(m[0]["data"], "m1");
        assert_eq!(m[3]["data"], "line\nbreak");
        assert_eq!(m[4]["data"], "");
        // Not UTF-8: base64 instead of data.
        assert_eq!(m[2]["data_base64"], "/wCA", "{}", m[2]);
        assert!(m[2].get("data").is_none(), "{}", m[2]);
        for message in m.as_array().unwrap() {
            let t = message["time_ms"].as_u64().expect("time_ms");
            assert!(t + 5_000 >= before && t <= before + 600_000, "{message}");
        }
        // Pages of two, each starting after the last seq seen, give back the whole log.
        let (mut from, mut got) = (1, Vec::new());
        loop {
            let page = get_json(&s, &format!("/channels/d.x/messages?from={from}&limit=2"));
            let page_seqs = seqs(&page);
            assert!(page_seqs.len() <= 2, "{page}");
            let Some(&last) = page_seqs.last() else { break };
            got.extend(page_seqs);
            from = last + 1;
        }
        assert_eq!(got, [1, 2, 3, 4, 5]);
        assert_eq!(seqs(&get_json(&s, "/channels/d.x/messages?limit=1")), [1]);
        assert_eq!(seqs(&get_json(&s, "/channels/d.x/messages?from=4")), [4, 5]);
        assert_eq!(seqs(&get_json(&s, "/channels/d.x/messages?from=99")), Vec::<u64>::new());
        // A durable channel never written to: empty, next is 1.
        let empty = get_json(&s, "/channels/d.none/messages");
        assert_eq!((empty["first"].as_u64(), empty["next"].as_u64(), seqs(&empty)), (Some(1), Some(1), vec![]));
        // An ephemeral channel has nothing to replay.
        publish(&s, "e.x", b"x");
        let v = problem(&req(&s, "GET", "/channels/e.x/messages", &[], b""), 409);
        assert_eq!(v["code"], "channels.not_durable", "{v}");
        assert!(v["message"].as_str().unwrap().contains("durable"), "{v}");
    }
}

both_backends! {
    fn sse_streams_events_with_ids(io) {
        let s = start(io, &[]);
        // `subscribe` checks the head and that `retry: 2000` comes first.
        let mut sse = Sse::subscribe(&s, "/channels/d.x/events", &[]);
        assert_eq!(publish_durable(&s, "d.x", b"hello"), 1);
        assert_eq!(sse.messages(1), [msg(1, "hello")]);
        publish_durable(&s, "d.x", b"two\nlines");
        publish_durable(&s, "d.x", &[0xfe, 0xff]);
        assert_eq!(sse.messages(1), [msg(2, "two\nlines")]);
        let binary = sse.event();
        assert_eq!((binary.id.as_deref(), binary.event.as_deref(), binary.data.as_deref()), (Some("3"), Some("binary"), Some("/v8=")));
        // A second subscriber sees the same stream.
        let mut other = Sse::subscribe(&s, "/channels/d.x/events", &[]);
        publish_durable(&s, "d.x", b"both");
        assert_eq!(sse.messages(1), [msg(4, "both")]);
        assert_eq!(other.messages(1), [msg(4, "both")]);
    }
}

both_backends! {
    fn sse_last_event_id_resumes_without_gap(io) {
        let s = start(io, &[]);
        for i in 1..=5 {
            assert_eq!(publish_durable(&s, "d.x", format!("m{i}").as_bytes()), i);
        }
        let mut sse = Sse::subscribe(&s, "/channels/d.x/events", &[("Last-Event-ID", "2")]);
        assert_eq!(sse.messages(3), [msg(3, "m3"), msg(4, "m4"), msg(5, "m5")]);
        assert_eq!(publish_durable(&s, "d.x", b"m6"), 6);
        assert_eq!(sse.messages(1), [msg(6, "m6")]);
        // Last-Event-ID beats the query; resuming from the last id seen gives only what follows.
        let mut resumed = Sse::subscribe(&s, "/channels/d.x/events?from=1&last=5", &[("Last-Event-ID", "4")]);
        assert_eq!(resumed.messages(2), [msg(5, "m5"), msg(6, "m6")]);
        publish_durable(&s, "d.x", b"m7");
        assert_eq!(resumed.messages(1), [msg(7, "m7")]);
        assert_eq!(sse.messages(1), [msg(7, "m7")]);
    }
}

both_backends! {
    fn sse_from_query_and_last(io) {
        let s = start(io, &[]);
        for i in 1..=3 {
            publish_durable(&s, "d.x", format!("m{i}").as_bytes());
        }
        // Let the clock move on, so `since` can tell 4 from 3.
        thread::sleep(Duration::from_millis(50));
        publish_durable(&s, "d.x", b"m4");
        publish_durable(&s, "d.x", b"m5");
        let since = get_json(&s, "/channels/d.x/messages?from=4&limit=1")["messages"][0]["time_ms"].as_u64().unwrap();
        let tail = [msg(4, "m4"), msg(5, "m5")];
        for query in ["from=4".to_string(), "last=2".to_string(), format!("since={since}")] {
            let mut sse = Sse::subscribe(&s, &format!("/channels/d.x/events?{query}"), &[]);
            assert_eq!(sse.messages(2), tail, "{query}");
        }
        // from=0 (before the first kept seq) starts at the first.
        let mut all = Sse::subscribe(&s, "/channels/d.x/events?from=0", &[]);
        assert_eq!(all.messages(1), [msg(1, "m1")]);
        // No start: new messages only.
        let mut fresh = Sse::subscribe(&s, "/channels/d.x/events", &[]);
        publish_durable(&s, "d.x", b"m6");
        assert_eq!(fresh.messages(1), [msg(6, "m6")]);
    }
}

both_backends! {
    fn sse_heartbeat_is_a_comment(io) {
        let s = start(io, &["--sse-heartbeat", "200ms"]);
        let mut sse = Sse::subscribe(&s, "/channels/e.x/events", &[]);
        // Count heartbeats, not time: two of them, and nothing an EventSource would fire.
        let end = Instant::now() + Duration::from_secs(30);
        let mut beats = 0;
        while beats < 2 {
            assert!(Instant::now() < end, "{beats} heartbeats in 30 s");
            let block = sse.block().expect("the stream stays open");
            assert!(block.is_heartbeat(), "{block:?}");
            beats += 1;
        }
    }
}

both_backends! {
    fn sse_ephemeral_channel_has_no_ids(io) {
        let s = start(io, &[]);
        let mut sse = Sse::subscribe(&s, "/channels/e.x/events", &[]);
        // One connection: separate ones may sit on different cores, and an ephemeral channel
        // keeps each publisher's order only.
        let mut publisher = Publisher::new(&s);
        assert_eq!(publisher.publish("e.x", b"hi\nthere").status, 204);
        assert_eq!(publisher.publish("e.x", &[0x80]).status, 204);
        assert_eq!(sse.messages(1), [(None, "hi\nthere".to_string())]);
        let binary = sse.event();
        assert_eq!((binary.id, binary.event.as_deref(), binary.data.as_deref()), (None, Some("binary"), Some("gA==")));
    }
}

both_backends! {
    fn sse_ends_on_drain(io) {
        let mut s = start(io, &["--shutdown-timeout", "30s"]);
        let mut durable = Sse::subscribe(&s, "/channels/d.x/events", &[]);
        let mut ephemeral = Sse::subscribe(&s, "/channels/e.x/events", &[]);
        publish_durable(&s, "d.x", b"before");
        assert_eq!(durable.messages(1), [msg(1, "before")]);
        s.signal("TERM");
        assert!(durable.ended(), "the durable stream ends with the last chunk\n{}", s.log());
        assert!(ephemeral.ended(), "the ephemeral stream ends with the last chunk\n{}", s.log());
        assert!(durable.closed() && ephemeral.closed(), "and the connections close");
        // Ending the streams is what lets the drain finish well before its deadline.
        let status = s.wait(Duration::from_secs(25)).expect("exits after the drain");
        assert_eq!(status.code(), Some(0), "{}", s.log());
    }
}

both_backends! {
    fn sse_subscription_released_on_client_close(io) {
        // The heartbeat makes the server write, so it learns of the close either way.
        let s = start(io, &["--sse-heartbeat", "200ms"]);
        // Hub subscriptions and open event streams, both back to 0 once the clients are gone.
        let open = || {
            let subs = metric_sum(&s, "ringwire_stream_pubsub_subscriptions");
            (subs, metric_sum(&s, "ringwire_channels_sse_streams"))
        };
        assert_eq!(open(), (0.0, 0.0));
        let durable = Sse::subscribe(&s, "/channels/d.x/events", &[]);
        let ephemeral = Sse::subscribe(&s, "/channels/e.x/events", &[]);
        eventually("two subscriptions counted", &s, || open() == (2.0, 2.0));
        drop(durable);
        eventually("the durable subscription released", &s, || open() == (1.0, 1.0));
        drop(ephemeral);
        eventually("the ephemeral subscription released", &s, || open() == (0.0, 0.0));
        // Publishing to the channels still works and finds no one.
        assert_eq!(publish(&s, "e.x", b"x").status, 204);
        publish_durable(&s, "d.x", b"x");
    }
}

both_backends! {
    fn sse_gap_after_retention_trim(io) {
        let s = Server::start(io, &["--workers", "2", "--durable", "d.*;max_count=2"]);
        // Trimming runs every 64 appends (channels::core::TRIM_EVERY), in the writer.
        for i in 1..=64 {
            publish_durable(&s, "d.x", format!("m{i}").as_bytes());
        }
        eventually("the log trimmed to its last 2", &s, || {
            get_json(&s, "/channels/d.x/messages")["first"].as_u64() == Some(63)
        });
        // A reader that asks for what was trimmed is told what it cannot have, then gets the
        // rest: asking from the start, or resuming after a disconnect.
        for (query, header, from) in [("?from=1", None, 1), ("", Some("10"), 11)] {
            let headers: Vec<_> = header.map(|id| ("Last-Event-ID", id)).into_iter().collect();
            let mut sse = Sse::subscribe(&s, &format!("/channels/d.x/events{query}"), &headers);
            let gap = sse.event();
            let what = format!("{query} {header:?}: {gap:?}");
            assert_eq!((gap.event.as_deref(), gap.id.as_deref()), (Some("gap"), None), "{what}");
            let range: serde_json::Value = serde_json::from_str(gap.data.as_deref().unwrap()).unwrap();
            assert_eq!(range, serde_json::json!({"from": from, "to": 63}), "{what}");
            assert_eq!(sse.messages(2), [msg(63, "m63"), msg(64, "m64")], "{what}");
        }
        // Resuming inside what is kept has no gap.
        let mut resumed = Sse::subscribe(&s, "/channels/d.x/events", &[("Last-Event-ID", "63")]);
        assert_eq!(resumed.messages(1), [msg(64, "m64")]);
    }
}

/// Messages big enough that a few hundred fill every socket buffer between server and client.
fn big(i: usize) -> Vec<u8> {
    let mut m = format!("m{i}:").into_bytes();
    m.resize(64 * 1024, b'x');
    m
}

/// The `i` of a [`big`] message.
fn index_of(data: &str) -> usize {
    data[1..data.find(':').unwrap()].parse().unwrap()
}

const FLOOD: usize = 400;

both_backends! {
    fn sse_slow_ephemeral_reader_is_told_and_cut(io) {
        let s = start(io, &["--subscriber-queue", "8"]);
        let mut sse = Sse::subscribe(&s, "/channels/e.x/events", &[]);
        // The reader reads nothing while 25 MiB are published, in order (one connection).
        let mut publisher = Publisher::new(&s);
        for i in 0..FLOOD {
            assert_eq!(publisher.publish("e.x", &big(i)).status, 204);
        }
        let mut last = None;
        let slow = loop {
            let block = sse.event();
            if block.event.is_some() {
                break block;
            }
            let i = index_of(block.data.as_deref().unwrap());
            assert!(last.is_none_or(|l| i > l), "in order: {i} after {last:?}");
            last = Some(i);
        };
        assert_eq!(slow.event.as_deref(), Some("slow"), "{slow:?}");
        assert!(last.is_none_or(|l| l < FLOOD - 1), "a slow reader missed some");
        assert!(sse.ended(), "then the stream ends cleanly\n{}", s.log());
        assert_eq!(metric_sum(&s, "ringwire_channels_sse_slow_total"), 1.0);
    }
}

both_backends! {
    fn sse_slow_durable_reader_catches_up_from_the_store(io) {
        let s = start(io, &["--subscriber-queue", "8"]);
        let mut sse = Sse::subscribe(&s, "/channels/d.x/events", &[]);
        for i in 0..FLOOD {
            publish_durable(&s, "d.x", &big(i));
        }
        // Every message, in order, with its id: nothing lost, nothing twice.
        for i in 0..FLOOD {
            let block = sse.event();
            assert_eq!((block.event.as_deref(), block.id.clone()), (None, Some((i + 1).to_string())));
            assert_eq!(index_of(block.data.as_deref().unwrap()), i);
        }
        publish_durable(&s, "d.x", b"after");
        assert_eq!(sse.messages(1), [msg(FLOOD as u64 + 1, "after")]);
        // It fell behind (its mailbox holds 8) and caught up from the store, not cut.
        assert!(metric_sum(&s, "ringwire_channels_catch_up_reads_total") > 0.0);
        assert_eq!(metric_sum(&s, "ringwire_channels_sse_slow_total"), 0.0);
    }
}

both_backends! {
    fn sse_resume_after_restart(io) {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_str().unwrap();
        let mut s = start(io, &["--data-dir", dir]);
        for i in 1..=3 {
            publish_durable(&s, "d.x", format!("m{i}").as_bytes());
        }
        s.signal("TERM");
        assert_eq!(s.wait(Duration::from_secs(25)).and_then(|e| e.code()), Some(0), "{}", s.log());
        let s = start(io, &["--data-dir", dir]);
        // What an EventSource that saw 1 sends when it reconnects to the restarted server.
        let mut sse = Sse::subscribe(&s, "/channels/d.x/events", &[("Last-Event-ID", "1")]);
        assert_eq!(sse.messages(2), [msg(2, "m2"), msg(3, "m3")]);
        assert_eq!(publish_durable(&s, "d.x", b"m4"), 4, "numbering goes on");
        assert_eq!(sse.messages(1), [msg(4, "m4")]);
    }
}

both_backends! {
    fn sse_open_stream_gets_what_is_published_right_after(io) {
        // Once the head arrived (EventSource's `open`), a publish from any core reaches the
        // subscriber. Fresh channels, so every try is a core's first subscriber to its channel.
        let s = start(io, &[]);
        for kind in ["e", "d"] {
            for i in 0..100 {
                let channel = format!("{kind}.open{i}");
                let mut sse = Sse::subscribe(&s, &format!("/channels/{channel}/events"), &[]);
                // A fresh connection each time: either core may take it.
                assert_eq!(publish(&s, &channel, b"first").status / 100, 2);
                let got = sse.event_within(Duration::from_secs(10));
                let data = got.as_ref().and_then(|b| b.data.as_deref());
                assert_eq!(data, Some("first"), "{channel}: published right after open, not delivered");
            }
        }
    }
}
