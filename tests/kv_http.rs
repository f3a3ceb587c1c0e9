//! The key-value store over HTTP, against the real server on both backends.

mod util;

use util::{Response, Server, raw};

fn req(s: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    if method == "PUT" || !body.is_empty() {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    raw(s, &bytes).unwrap_or_else(|| panic!("{method} {path}: no response\n{}", s.log()))
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&r.body)))
}

both_backends! {
    fn put_get_head_delete_with_versions(io) {
        let s = Server::start(io, &["--workers", "2"]);
        let created = req(&s, "PUT", "/kv/greeting", &[], b"hello");
        assert_eq!(created.status, 201, "{}", s.log());
        let tag = created.header("etag").expect("ETag").to_string();
        let got = req(&s, "GET", "/kv/greeting", &[], b"");
        assert_eq!((got.status, &got.body[..]), (200, &b"hello"[..]));
        assert_eq!(got.header("etag"), Some(tag.as_str()));
        let head = req(&s, "HEAD", "/kv/greeting", &[], b"");
        assert_eq!((head.status, head.header("content-length")), (200, Some("5")));
        assert_eq!(req(&s, "GET", "/kv/greeting", &[("If-None-Match", &tag)], b"").status, 304);
        let updated = req(&s, "PUT", "/kv/greeting", &[], b"hi again");
        assert_eq!(updated.status, 204);
        let tag2 = updated.header("etag").unwrap().to_string();
        assert_ne!(tag, tag2);
        assert_eq!(req(&s, "GET", "/kv/greeting", &[("If-None-Match", &tag)], b"").status, 200);
        assert_eq!(req(&s, "DELETE", "/kv/greeting", &[], b"").status, 204);
        assert_eq!(req(&s, "GET", "/kv/greeting", &[], b"").status, 404);
        assert_eq!(req(&s, "DELETE", "/kv/greeting", &[], b"").status, 404);
    }
}

both_backends! {
    fn if_match_is_compare_and_set(io) {
        let s = Server::start(io, &["--workers", "2"]);
        let v1 = req(&s, "PUT", "/kv/counter", &[], b"1").header("etag").unwrap().to_string();
        let v2 = req(&s, "PUT", "/kv/counter", &[("If-Match", &v1)], b"2");
        assert_eq!(v2.status, 204);
        // The old version no longer matches: 412, and the value is untouched.
        assert_eq!(req(&s, "PUT", "/kv/counter", &[("If-Match", &v1)], b"3").status, 412);
        assert_eq!(req(&s, "DELETE", "/kv/counter", &[("If-Match", &v1)], b"").status, 412);
        assert_eq!(req(&s, "GET", "/kv/counter", &[], b"").body, b"2");
        // Create-only, and "only if it exists".
        assert_eq!(req(&s, "PUT", "/kv/counter", &[("If-None-Match", "*")], b"x").status, 412);
        assert_eq!(req(&s, "PUT", "/kv/fresh", &[("If-None-Match", "*")], b"x").status, 201);
        assert_eq!(req(&s, "PUT", "/kv/absent", &[("If-Match", "*")], b"x").status, 412);
        assert_eq!(req(&s, "PUT", "/kv/counter", &[("If-Match", "nonsense")], b"x").status, 400);
        let tag = v2.header("etag").unwrap();
        assert_eq!(req(&s, "DELETE", "/kv/counter", &[("If-Match", tag)], b"").status, 204);
    }
}

both_backends! {
    fn a_cas_race_has_exactly_one_winner(io) {
        let s = Server::start(io, &["--workers", "2"]);
        for round in 0..10 {
            let tag = req(&s, "PUT", "/kv/race", &[], b"start").header("etag").unwrap().to_string();
            let statuses: Vec<u16> = std::thread::scope(|sc| {
                let racers: Vec<_> = (0..4)
                    .map(|i| {
                        let (s, tag) = (&s, tag.clone());
                        sc.spawn(move || req(s, "PUT", "/kv/race", &[("If-Match", &tag)], format!("{round}-{i}").as_bytes()).status)
                    })
                    .collect();
                racers.into_iter().map(|t| t.join().unwrap()).collect()
            });
            let mut sorted = statuses.clone();
            sorted.sort();
            assert_eq!(sorted, vec![204, 412, 412, 412], "round {round}");
        }
    }
}

both_backends! {
    fn listings_page_by_prefix_with_a_cursor(io) {
        let s = Server::start(io, &["--workers", "1"]);
        for k in ["a/1", "a/2", "a/3", "b/1", "a%2Fslash"] {
            assert_eq!(req(&s, "PUT", &format!("/kv/{k}"), &[], b"v").status, 201);
        }
        let page = json(&req(&s, "GET", "/kv/?prefix=a%2F&limit=2", &[], b""));
        assert_eq!(page["keys"], serde_json::json!(["a/1", "a/2"]));
        assert_eq!(page["next"], "a/2");
        let page = json(&req(&s, "GET", "/kv/?prefix=a%2F&limit=2&after=a%2F2", &[], b""));
        assert_eq!(page["keys"], serde_json::json!(["a/3", "a/slash"]));
        assert_eq!(page["next"], serde_json::Value::Null);
        // {key} is percent-decoded: "a%2Fslash" is the key "a/slash".
        assert_eq!(req(&s, "GET", "/kv/a%2Fslash", &[], b"").status, 200);
        assert_eq!(req(&s, "GET", "/kv/?limit=0", &[], b"").status, 400);
        assert_eq!(req(&s, "POST", "/kv/", &[], b"").status, 405);
    }
}

both_backends! {
    fn limits_have_their_status_codes(io) {
        let s = Server::start(io, &["--workers", "1", "--kv-max-value", "1k"]);
        assert_eq!(req(&s, "PUT", "/kv/big", &[], &[b'x'; 1025]).status, 413);
        assert_eq!(req(&s, "PUT", "/kv/ok", &[], &[b'x'; 1024]).status, 201);
        let long = "k".repeat(512);
        assert_eq!(req(&s, "PUT", &format!("/kv/{long}"), &[], b"v").status, 400);
        assert_eq!(req(&s, "GET", &format!("/kv/{long}"), &[], b"").status, 400);
        assert_eq!(req(&s, "PUT", &format!("/kv/{}", &long[1..]), &[], b"v").status, 201);
        assert_eq!(req(&s, "PATCH", "/kv/ok", &[], b"").status, 405);
    }
}

both_backends! {
    fn a_full_store_answers_507_and_fails_readiness(io) {
        let s = Server::start(io, &["--workers", "1", "--db-map-size", "1MiB"]);
        let value = vec![b'v'; 64 * 1024];
        let mut last = 0;
        for i in 0..64 {
            last = req(&s, "PUT", &format!("/kv/k{i}"), &[], &value).status;
            if last != 201 {
                break;
            }
        }
        assert_eq!(last, 507, "a 1 MiB store took 64 values of 64 KiB");
        let (status, body) = s.admin_get("/health/ready");
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("db.map_size"), "{body}");
        // Reads still work.
        assert_eq!(req(&s, "GET", "/kv/k0", &[], b"").status, 200);
    }
}

both_backends! {
    fn writes_survive_a_restart_and_show_in_metrics(io) {
        let mut s = Server::start(io, &["--workers", "2"]);
        for i in 0..20 {
            assert_eq!(req(&s, "PUT", &format!("/kv/k{i}"), &[], format!("v{i}").as_bytes()).status, 201);
        }
        let (_, metrics) = s.admin_get("/metrics");
        assert!(metrics.contains("ringwire_db_operations_total{op=\"put\",result=\"ok\"} 20"), "{metrics}");
        assert!(metrics.contains("ringwire_db_entries 20"), "{metrics}");
        assert!(metrics.contains("ringwire_db_writer_up 1"), "{metrics}");
        let data = s.data.take().unwrap();
        s.signal("TERM");
        assert_eq!(s.wait(std::time::Duration::from_secs(20)).unwrap().code(), Some(0));
        let dir = data.path().to_str().unwrap().to_string();
        let s = Server::start(io, &["--workers", "1", "--data-dir", &dir]);
        for i in 0..20 {
            assert_eq!(req(&s, "GET", &format!("/kv/k{i}"), &[], b"").body, format!("v{i}").as_bytes());
        }
    }
}

both_backends! {
    fn preconditions_follow_rfc_9110(io) {
        let s = Server::start(io, &["--workers", "1"]);
        let tag = req(&s, "PUT", "/kv/k", &[], b"1").header("etag").unwrap().to_string();
        let weak = format!("W/{tag}");
        // If-Match compares strongly: the weak form of the current tag does not match.
        assert_eq!(req(&s, "PUT", "/kv/k", &[("If-Match", &weak)], b"x").status, 412);
        // A list matches if any tag does.
        let list = format!("\"999999\", {tag}");
        let r = req(&s, "PUT", "/kv/k", &[("If-Match", &list)], b"2");
        assert_eq!(r.status, 204);
        let tag2 = r.header("etag").unwrap().to_string();
        assert_eq!(req(&s, "PUT", "/kv/k", &[("If-Match", "\"999999\", \"888888\"")], b"x").status, 412);
        // If-None-Match with tags on PUT: false when the current one is listed (weakly).
        assert_eq!(req(&s, "PUT", "/kv/k", &[("If-None-Match", &format!("W/{tag2}"))], b"x").status, 412);
        assert_eq!(req(&s, "PUT", "/kv/k", &[("If-None-Match", &tag)], b"3").status, 204);
        // Both fields: If-Match first, then If-None-Match.
        let tag3 = req(&s, "GET", "/kv/k", &[], b"").header("etag").unwrap().to_string();
        assert_eq!(req(&s, "PUT", "/kv/k", &[("If-Match", &tag3), ("If-None-Match", &tag3)], b"x").status, 412);
        assert_eq!(req(&s, "PUT", "/kv/k", &[("If-Match", &tag3), ("If-None-Match", "\"1\"")], b"4").status, 204);
        // Tags that only look like ours match nothing.
        let padded = format!("\"0{}\"", tag3.trim_matches('"'));
        assert_eq!(req(&s, "DELETE", "/kv/k", &[("If-Match", &padded)], b"").status, 412);
        assert_eq!(req(&s, "GET", "/kv/k", &[], b"").body, b"4");
    }
}

both_backends! {
    fn reserved_keys_are_refused_and_not_listed(io) {
        // Keys starting with NUL hold the channels' consumer state: no kv client may read,
        // write or list them.
        let s = Server::start(io, &["--workers", "1", "--durable", "jobs"]);
        let publish = req(&s, "POST", "/channels/jobs", &[], b"work");
        assert_eq!(publish.status, 200, "{}", s.log());
        // A consumer's state is written under \0ch/jobs\0c1 (on attach, over the stream port).
        let stream = s.stream.expect("stream listener");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringwire"))
            .args(["client", "--addr", &stream.to_string(), "--io", io])
            .args(["sub", "jobs", "--from", "1", "--consumer", "c1", "-n", "1"])
            .output()
            .expect("ringwire client");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for (method, path) in [
            ("GET", "/kv/%00ch%2Fjobs%00c1"),
            ("PUT", "/kv/%00x"),
            ("DELETE", "/kv/%00ch%2Fjobs%00c1"),
            ("GET", "/kv/?prefix=%00"),
        ] {
            let r = req(&s, method, path, &[], b"");
            assert_eq!(r.status, 400, "{method} {path}");
            assert!(String::from_utf8_lossy(&r.body).contains("reserved"));
        }
        assert_eq!(req(&s, "PUT", "/kv/visible", &[], b"1").status, 201);
        let all = json(&req(&s, "GET", "/kv/", &[], b""));
        assert_eq!(all["keys"], serde_json::json!(["visible"]), "{all}");
        // Starting after a reserved key still skips the others.
        let after = json(&req(&s, "GET", "/kv/?after=%00", &[], b""));
        assert_eq!(after["keys"], serde_json::json!(["visible"]), "{after}");
    }
}
