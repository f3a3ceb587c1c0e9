//! The built-in routes, with curl and Python's http.client, on both backends.

mod util;

use std::path::Path;
use util::{Server, curl, pattern, python, raw};

both_backends! {
    fn plaintext_and_json(io) {
        let s = Server::start(io, &[]);
        let (body, code) = curl(&["-i", &s.url("/plaintext")]);
        assert_eq!(code, 0);
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Type: text/plain"), "{text}");
        assert!(text.contains("Content-Length: 13\r\n") && text.ends_with("\r\n\r\nHello, World!"), "{text}");
        let (body, _) = curl(&[&s.url("/json")]);
        assert_eq!(body, br#"{"message":"Hello, World!"}"#);
        let out = python(&s, "c = http.client.HTTPConnection(HOST, PORT)\nc.request('GET', '/json')\nr = c.getresponse()\nprint(r.status, r.getheader('Content-Type'), r.read().decode())");
        assert_eq!(out.trim(), r#"200 application/json {"message":"Hello, World!"}"#);
    }
}

both_backends! {
    fn unknown_paths_and_wrong_methods(io) {
        let s = Server::start(io, &[]);
        assert_eq!(raw(&s, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().status, 404);
        let r = raw(&s, b"POST /plaintext HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
        let r = raw(&s, b"HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!((r.status, r.header("content-length")), (200, Some("13")));
        assert!(r.body.is_empty(), "HEAD has no body");
        assert_eq!(raw(&s, b"GET /static/x HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().status, 404, "no --root: no static files");
    }
}

both_backends! {
    fn echo_fixed_and_chunked_bodies(io) {
        let s = Server::start(io, &["--max-body", "64m"]);
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, pattern(1, 1000)).unwrap();
        let (body, code) = curl(&["--data-binary", &format!("@{}", small.display()), &s.url("/echo")]);
        assert_eq!((code, body), (0, pattern(1, 1000)));
        // Chunked request: the response comes back chunked too.
        let (body, code) = curl(&["-H", "Transfer-Encoding: chunked", "--data-binary", &format!("@{}", small.display()), &s.url("/echo")]);
        assert_eq!((code, body), (0, pattern(1, 1000)));
        // 20 MiB streamed through (never held whole: the server forwards each receive buffer).
        let big = dir.path().join("big");
        std::fs::write(&big, pattern(2, 20 << 20)).unwrap();
        let out = dir.path().join("out");
        let (_, code) = curl(&["-H", "Transfer-Encoding: chunked", "--data-binary", &format!("@{}", big.display()), "-o", out.to_str().unwrap(), &s.url("/echo")]);
        assert_eq!(code, 0);
        assert!(std::fs::read(&out).unwrap() == pattern(2, 20 << 20), "20 MiB echo differs");
        let out = python(&s, "c = http.client.HTTPConnection(HOST, PORT)\nc.request('POST', '/echo', body=b'x' * 70000)\nr = c.getresponse()\nb = r.read()\nprint(r.status, len(b), set(b) == {ord('x')})");
        assert_eq!(out.trim(), "200 70000 True");
    }
}

fn static_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), b"<h1>hi</h1>\n").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/data.bin"), pattern(3, 100_000)).unwrap();
    std::fs::write(dir.path().join("sub/style.css"), b"p{}").unwrap();
    std::fs::write(dir.path().join(".secret"), b"hidden").unwrap();
    dir
}

both_backends! {
    fn static_files_with_types_and_validators(io) {
        let root = static_root();
        let s = Server::start(io, &["--root", root.path().to_str().unwrap()]);
        let r = raw(&s, b"GET /static/index.html HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"<h1>hi</h1>\n");
        assert_eq!(r.header("content-type"), Some("text/html"));
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        let etag = r.header("etag").expect("ETag").to_string();
        assert!(etag.starts_with('"') && !etag.starts_with("W/"), "strong ETag: {etag}");
        let lm = r.header("last-modified").expect("Last-Modified").to_string();
        assert_eq!(raw(&s, b"GET /static/sub/style.css HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().header("content-type"), Some("text/css"));
        let (body, code) = curl(&[&s.url("/static/sub/data.bin")]);
        assert!(code == 0 && body == pattern(3, 100_000), "100 KB file over sendfile/splice");

        // 304 by ETag and by date; a non-matching tag gets the file.
        let req = format!("GET /static/index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"nope\", {etag}\r\n\r\n");
        let r = raw(&s, req.as_bytes()).unwrap();
        assert_eq!((r.status, r.body.len()), (304, 0));
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        let req = format!("GET /static/index.html HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: {lm}\r\n\r\n");
        assert_eq!(raw(&s, req.as_bytes()).unwrap().status, 304);
        let req = "GET /static/index.html HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n";
        assert_eq!(raw(&s, req.as_bytes()).unwrap().status, 200);
        let req = "GET /static/index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\n\r\n";
        assert_eq!(raw(&s, req.as_bytes()).unwrap().status, 200);

        // HEAD: the same fields, no body.
        let r = raw(&s, b"HEAD /static/sub/data.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!((r.status, r.header("content-length"), r.body.len()), (200, Some("100000"), 0));
    }
}

both_backends! {
    fn static_ranges_206_and_416(io) {
        let root = static_root();
        let s = Server::start(io, &["--root", root.path().to_str().unwrap()]);
        let data = pattern(3, 100_000);
        let r = raw(&s, b"GET /static/sub/data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-1999\r\n\r\n").unwrap();
        assert_eq!(r.status, 206);
        assert_eq!(r.header("content-range"), Some("bytes 1000-1999/100000"));
        assert_eq!(r.body, &data[1000..2000]);
        let r = raw(&s, b"GET /static/sub/data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=-10\r\n\r\n").unwrap();
        assert_eq!((r.status, &r.body[..]), (206, &data[99_990..]));
        let r = raw(&s, b"GET /static/sub/data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=200000-\r\n\r\n").unwrap();
        assert_eq!((r.status, r.header("content-range")), (416, Some("bytes */100000")));
        // Several ranges are ignored: the whole file, 200.
        let r = raw(&s, b"GET /static/sub/data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,5-6\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.len()), (200, 100_000));
        // If-Range with a stale validator: the whole file.
        let r = raw(&s, b"GET /static/sub/data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\nIf-Range: \"stale\"\r\n\r\n").unwrap();
        assert_eq!(r.status, 200);
        let (body, code) = curl(&["-r", "10-19", &s.url("/static/sub/data.bin")]);
        assert_eq!((code, &body[..]), (0, &data[10..20]));
    }
}

both_backends! {
    fn nothing_outside_the_root_is_ever_served(io) {
        let root = static_root();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), b"TOP SECRET").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("escape.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape-dir")).unwrap();
        let s = Server::start(io, &["--root", root.path().to_str().unwrap()]);
        let attempts: Vec<String> = vec![
            "/static/../".into(),
            format!("/static/../{}/secret.txt", outside.path().file_name().unwrap().to_str().unwrap()),
            "/static/%2e%2e/%2e%2e/etc/passwd".into(),
            "/static/sub/..%2f..%2fetc/passwd".into(),
            "/static/sub%2f..%2f..%2fetc%2fpasswd".into(),
            "/static/..%5c..%5cetc%5cpasswd".into(),
            "/static/sub\\..\\..\\etc\\passwd".into(),
            "/static/index.html%00.txt".into(),
            "/static/escape.txt".into(),
            "/static/escape-dir/secret.txt".into(),
            "/static/.secret".into(),
            "/static//etc/passwd".into(),
            "/static/sub/./data.bin".into(),
        ];
        for path in &attempts {
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
            // No response at all means the request was refused at the protocol level.
            if let Some(r) = raw(&s, req.as_bytes()) {
                assert!(r.status == 400 || r.status == 404, "{path}: status {}", r.status);
                assert!(!r.body.windows(10).any(|w| w == b"TOP SECRET"), "{path} leaked the secret");
                assert!(!String::from_utf8_lossy(&r.body).contains("root:"), "{path} leaked /etc/passwd");
            }
        }
        assert!(!Path::new(&root.path().join("escape.txt")).starts_with(outside.path()));
    }
}

both_backends! {
    fn edited_small_files_are_served_fresh_within_a_second(io) {
        let root = static_root();
        let s = Server::start(io, &["--root", root.path().to_str().unwrap(), "--workers", "1"]);
        let get = || raw(&s, b"GET /static/index.html HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let first = get();
        assert_eq!(first.body, b"<h1>hi</h1>\n");
        assert_eq!(get().body, first.body, "served from the core's cache");
        std::fs::write(root.path().join("index.html"), b"<h1>changed, and longer</h1>\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let after = get();
        assert_eq!(after.body, b"<h1>changed, and longer</h1>\n");
        assert_ne!(after.header("etag"), first.header("etag"));
        std::fs::remove_file(root.path().join("index.html")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(get().status, 404, "a deleted file is gone within a second");
    }
}
