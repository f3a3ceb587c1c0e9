//! The shape of every HTTP answer (docs/ERRORS.md, docs/SECURITY.md "Security headers"):
//! X-Request-Id, structured errors as JSON or text, no internals in error bodies, security
//! headers and their configuration, and /echo's content type. Both backends, real sockets.

mod util;

use util::{Response, Server, raw};

fn get(s: &Server, path: &str, extra: &str) -> Response {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
    raw(s, req.as_bytes()).expect("a response")
}

fn is_own_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit())
}

fn json(r: &Response) -> serde_json::Value {
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

fn text(r: &Response) -> String {
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "{r:?}"
    );
    String::from_utf8(r.body.clone()).unwrap()
}

both_backends! {
    fn request_ids_on_every_answer(io) {
        let s = Server::start_with_env(io, &[], &[("RINGWIRE_TEST_HOOKS", "1")]);
        // Generated ids: 32 hex digits, a new one per request.
        let a = get(&s, "/plaintext", "");
        let b = get(&s, "/nope", "");
        assert_eq!((a.status, b.status), (200, 404));
        let (ia, ib) = (a.header("x-request-id").unwrap(), b.header("x-request-id").unwrap());
        assert!(is_own_id(ia) && is_own_id(ib) && ia != ib, "{ia} {ib}");
        // A valid client id comes back, on a success and on an error.
        let r = get(&s, "/plaintext", "X-Request-Id: client-42\r\n");
        assert_eq!(r.header("x-request-id"), Some("client-42"));
        let r = get(&s, "/nope", "X-Request-Id: client-43\r\n");
        assert_eq!(r.header("x-request-id"), Some("client-43"));
        assert_eq!(text(&r), "route.not_found: no such route (request client-43)\n");
        // An unusable one (a space, or over 128 bytes) is replaced.
        let r = get(&s, "/plaintext", "X-Request-Id: two words\r\n");
        assert!(is_own_id(r.header("x-request-id").unwrap()), "{r:?}");
        let long = format!("X-Request-Id: {}\r\n", "a".repeat(129));
        let r = get(&s, "/plaintext", &long);
        assert!(is_own_id(r.header("x-request-id").unwrap()), "{r:?}");
        // A head the parser refuses (400) and one too large (431): text, a code, an id.
        let r = raw(&s, b"GET /plaintext HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n").unwrap();
        assert_eq!(r.status, 400);
        let id = r.header("x-request-id").unwrap().to_string();
        assert!(is_own_id(&id), "{r:?}");
        let body = text(&r);
        assert!(body.starts_with("http.bad_request: ") && body.ends_with(&format!(" (request {id})\n")), "{body}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(70_000));
        let r = raw(&s, big.as_bytes()).unwrap();
        assert_eq!(r.status, 431);
        assert!(text(&r).starts_with("http.header_too_large: "), "{r:?}");
        assert!(is_own_id(r.header("x-request-id").unwrap()));
        // A failing service: 500 server.internal, its text only in the log, with the id.
        let r = get(&s, "/debug/fail", "X-Request-Id: fail-1\r\nAccept: application/json\r\n");
        assert_eq!(r.status, 500);
        let v = json(&r);
        assert_eq!(v["error"]["code"], "server.internal");
        assert_eq!(v["error"]["request_id"], "fail-1");
        assert!(!String::from_utf8_lossy(&r.body).contains("secret"), "{r:?}");
        // A service that returns without answering.
        let r = get(&s, "/debug/silent", "");
        assert_eq!(r.status, 500);
        assert!(text(&r).starts_with("server.internal: "), "{r:?}");
        assert!(is_own_id(r.header("x-request-id").unwrap()));
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !(s.log().contains("fail-1") && s.log().contains("secret detail")) {
            assert!(std::time::Instant::now() < end, "the failure is not logged with its id:\n{}", s.log());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

both_backends! {
    fn errors_are_json_or_text_by_accept(io) {
        let s = Server::start(io, &[]);
        for accept in ["application/json", "text/html, application/problem+json;q=0.9"] {
            let r = get(&s, "/nope", &format!("Accept: {accept}\r\nX-Request-Id: j1\r\n"));
            assert_eq!(r.status, 404);
            let v = json(&r);
            assert_eq!(v["error"]["code"], "route.not_found", "{accept}");
            assert_eq!(v["error"]["request_id"], "j1");
            assert!(v["error"]["message"].is_string());
        }
        for accept in ["", "Accept: */*\r\n", "Accept: text/html\r\n", "Accept: application/json;q=0\r\n"] {
            let r = get(&s, "/nope", accept);
            assert!(text(&r).starts_with("route.not_found: "), "{accept}");
        }
        // 405 keeps its Allow field.
        let r = raw(&s, b"DELETE /plaintext HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n").unwrap();
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
        assert_eq!(json(&r)["error"]["code"], "http.method_not_allowed");
    }
}

both_backends! {
    fn kv_errors_have_codes_and_no_internals(io) {
        let s = Server::start(io, &["--kv-max-value", "16"]);
        let put = format!(
            "PUT /kv/big HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nContent-Length: 17\r\n\r\n{}",
            "v".repeat(17)
        );
        let r = raw(&s, put.as_bytes()).unwrap();
        assert_eq!(r.status, 413);
        let v = json(&r);
        assert_eq!(v["error"]["code"], "kv.value_too_large");
        assert_eq!(v["error"]["request_id"].as_str(), r.header("x-request-id"));
        let r = get(&s, "/kv/missing", "");
        assert_eq!(r.status, 404);
        assert!(text(&r).starts_with("kv.not_found: "), "{r:?}");
        let r = get(&s, "/kv/%00x", "Accept: application/json\r\n");
        assert_eq!((r.status, json(&r)["error"]["code"].as_str()), (400, Some("kv.reserved_key")));
        let r = raw(&s, b"PUT /kv/k HTTP/1.1\r\nHost: x\r\nIf-Match: \"7\"\r\nContent-Length: 1\r\n\r\nv").unwrap();
        assert_eq!(r.status, 412);
        assert!(text(&r).starts_with("kv.precondition_failed: "), "{r:?}");
        // A full store: the client gets a code, the operator's details (the map size) only
        // reach the log, under the request id.
        let full = Server::start(io, &["--workers", "1", "--db-map-size", "1MiB"]);
        let value = "v".repeat(64 * 1024);
        let mut last = None;
        for i in 0..64 {
            let put = format!("PUT /kv/k{i} HTTP/1.1\r\nHost: x\r\nX-Request-Id: full-{i}\r\nContent-Length: {}\r\n\r\n{value}", value.len());
            let r = raw(&full, put.as_bytes()).unwrap();
            if r.status != 201 {
                last = Some((i, r));
                break;
            }
        }
        let (i, r) = last.expect("a 1 MiB store took 64 values of 64 KiB");
        assert_eq!(r.status, 507);
        let body = text(&r);
        assert!(body.starts_with("kv.store_full: ") && !body.contains("map_size"), "{body}");
        let id = format!("full-{i}");
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !full.log().lines().any(|l| l.contains(&id) && l.contains("map_size")) {
            assert!(std::time::Instant::now() < end, "no log line with {id}:\n{}", full.log());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

both_backends! {
    fn security_headers_default_and_off(io) {
        let s = Server::start(io, &[]);
        for path in ["/plaintext", "/nope"] {
            let r = get(&s, path, "");
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
            assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
            assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
            assert_eq!(r.header("strict-transport-security"), None, "opt-in only");
            assert_eq!(r.header("content-security-policy"), None, "opt-in only");
        }
        // The admin listener: the default fields, and structured errors.
        let mut admin = std::net::TcpStream::connect(s.admin.unwrap()).unwrap();
        std::io::Write::write_all(&mut admin, b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let r = util::read_response(&mut std::io::BufReader::new(admin), false).unwrap();
        assert_eq!(r.status, 404);
        assert!(text(&r).starts_with("route.not_found: "), "{r:?}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert!(is_own_id(r.header("x-request-id").unwrap()));
        let off = Server::start(io, &[
            "--headers-nosniff", "false",
            "--headers-referrer-policy", "",
            "--headers-frame-options", "",
        ]);
        let r = get(&off, "/plaintext", "");
        for name in ["x-content-type-options", "referrer-policy", "x-frame-options"] {
            assert_eq!(r.header(name), None, "{name}: {r:?}");
        }
        assert!(r.header("x-request-id").is_some());
    }
}

both_backends! {
    fn security_headers_opt_in_and_per_route(io) {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("a.html"), "<p>hi</p>").unwrap();
        let s = Server::start(io, &[
            "--root", root.path().to_str().unwrap(),
            "--headers-csp-static", "default-src 'self'",
            "--headers-hsts", "max-age=31536000",
            "--headers-routes", "/kv/;X-Frame-Options=;Cache-Control=no-store,/json;Referrer-Policy=same-origin",
        ]);
        let r = get(&s, "/static/a.html", "");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-security-policy"), Some("default-src 'self'"));
        assert_eq!(r.header("strict-transport-security"), Some("max-age=31536000"));
        let r = get(&s, "/static/none.html", "");
        assert_eq!(r.status, 404);
        assert!(text(&r).starts_with("files.not_found: "), "{r:?}");
        let r = get(&s, "/plaintext", "");
        assert_eq!(r.header("content-security-policy"), None, "CSP is for static files");
        assert_eq!(r.header("strict-transport-security"), Some("max-age=31536000"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        let r = get(&s, "/kv/missing", "");
        assert_eq!(r.header("x-frame-options"), None, "removed for /kv/: {r:?}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        let r = get(&s, "/json", "");
        assert_eq!(r.header("referrer-policy"), Some("same-origin"));
    }
}

both_backends! {
    fn echo_never_reflects_a_renderable_type(io) {
        // nosniff off in the configuration: /echo sends it anyway.
        let s = Server::start(io, &["--headers-nosniff", "false"]);
        let post = |ct: &str| {
            let body = "<script>x</script>";
            let req = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            let r = raw(&s, req.as_bytes()).unwrap();
            assert_eq!(r.body, body.as_bytes());
            r
        };
        for ct in ["text/html", "text/html; charset=utf-8", "image/svg+xml", "application/xhtml+xml"] {
            let r = post(ct);
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-type"), Some("application/octet-stream"), "{ct}");
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{ct}");
            let n = r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("x-content-type-options")).count();
            assert_eq!(n, 1, "{r:?}");
        }
        let r = post("application/json");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}

both_backends! {
    fn the_access_log_has_the_answered_id(io) {
        let s = Server::start(io, &["--access-log-sample", "1"]);
        let r = get(&s, "/json", "");
        let id = r.header("x-request-id").unwrap().to_string();
        assert!(is_own_id(&id));
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !s.log().lines().any(|l| l.contains("ringwire::access") && l.contains(&id)) {
            assert!(std::time::Instant::now() < end, "no access line with {id}:\n{}", s.log());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

both_backends! {
    fn the_stream_upgrade_carries_the_request_id(io) {
        use std::io::{BufRead, Write};
        let s = Server::start(io, &["--stream-listen", ""]);
        let mut sock = s.connect();
        sock.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: ringwire-stream/1\r\nX-Request-Id: up-1\r\n\r\n").unwrap();
        let mut reader = std::io::BufReader::new(sock);
        let mut head = String::new();
        let mut line = String::new();
        while { line.clear(); reader.read_line(&mut line).unwrap() > 2 } {
            head.push_str(&line);
        }
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.contains("\r\nX-Request-Id: up-1\r\n"), "{head}");
    }
}
