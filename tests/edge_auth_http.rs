//! Tokens over HTTP against the real server with `--auth-keys`, on both backends: missing and
//! invalid tokens (401, all alike), the clock-skew leeway, scopes on kv and channels (403),
//! public routes, and the denial counters on `/metrics`.

mod util;

use ringwire_net::auth::{Claims, new_jti};
use util::{
    Response, Server,
    tokens::{Key, KeyDir, call, denied, error_code, error_text, jti_of, now, write_revoked},
};

/// A 401 for a missing token: the bare challenge, no `error=`.
fn assert_missing(r: &Response) {
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"ringwire\"")
    );
    assert_eq!(error_code(r), "auth.missing_token", "{r:?}");
}

/// A 401 for a token that did not pass: `error="invalid_token"` and the generic code.
fn assert_invalid(r: &Response, what: &str) {
    assert_eq!(r.status, 401, "{what}: {r:?}");
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer "), "{what}: {challenge}");
    assert!(
        challenge.contains("error=\"invalid_token\""),
        "{what}: {challenge}"
    );
    assert_eq!(error_code(r), "auth.invalid_token", "{what}: {r:?}");
}

/// A 403 for a valid token lacking the scope.
fn assert_forbidden(r: &Response, what: &str) {
    assert_eq!(r.status, 403, "{what}: {r:?}");
    assert_eq!(error_code(r), "auth.forbidden", "{what}: {r:?}");
}

both_backends! {
    fn missing_and_invalid_tokens_are_refused_alike(io) {
        let (a, stranger) = (Key::new(), Key::new());
        let keys = KeyDir::with(&[&a]);
        let revoked_file = keys.dir.path().join("revoked.txt");
        let revoked = a.token(&["kv:read:"]);
        write_revoked(&revoked_file, &[&jti_of(&revoked)]);
        let s = Server::start(io, &[
            "--workers", "2",
            "--auth-keys", keys.path(),
            "--auth-revoked", revoked_file.to_str().unwrap(),
            "--auth-leeway", "30s",
        ]);
        let (missing0, invalid0) = (denied(&s, "missing_token"), denied(&s, "invalid_token"));

        assert_missing(&call(&s, "GET", "/kv/a/x", None, b""));
        assert_missing(&call(&s, "PUT", "/kv/a/x", None, b"v"));
        assert_missing(&call(&s, "POST", "/channels/orders.eu", None, b"m"));

        let t = now();
        let claims = |iat: u64, exp: u64| Claims {
            sub: "edge-test".into(),
            iat,
            exp,
            jti: new_jti(),
            scopes: vec!["kv:read:".into()],
        };
        let bad: Vec<(&str, String)> = vec![
            ("malformed", "not-a-token".into()),
            ("three garbage parts", "aaaa.bbbb.cccc".into()),
            ("signed by a key the server lacks", stranger.token(&["kv:read:"])),
            ("wrong key under a known kid", stranger.sign_as(claims(t, t + 3600), &a.kid)),
            ("expired beyond the leeway", a.sign(claims(t - 3600, t - 120))),
            ("issued in the future beyond the leeway", a.sign(claims(t + 120, t + 3600))),
            ("revoked", revoked.clone()),
        ];
        let mut texts = Vec::new();
        for (what, token) in &bad {
            let r = call(&s, "GET", "/kv/a/x", Some(token), b"");
            assert_invalid(&r, what);
            texts.push(error_text(&r));
        }
        // Nothing in the answer tells which check failed.
        assert!(texts.iter().all(|t| *t == texts[0]), "{texts:#?}");
        for word in ["expired", "revoked", "signature", "kid", "future", "key"] {
            assert!(!texts[0].to_lowercase().contains(word), "{word} in {:?}", texts[0]);
        }

        // An expiry within the leeway (30 s) still passes: the key is merely absent.
        let skewed = a.sign(claims(t - 3600, t - 10));
        assert_eq!(call(&s, "GET", "/kv/a/x", Some(&skewed), b"").status, 404, "{}", s.log());
        let fresh = a.token(&["kv:read:"]);
        assert_eq!(call(&s, "GET", "/kv/a/x", Some(&fresh), b"").status, 404);

        // Tokens are credentials: the log says why one was refused, never what it was.
        let log = s.log();
        for (what, token) in bad.iter().skip(2) {
            assert!(!log.contains(token.as_str()), "{what}: the token is in the log\n{log}");
        }
        assert!(!log.contains(&fresh) && !log.contains(&skewed), "{log}");
        assert!(denied(&s, "missing_token") >= missing0 + 3.0);
        assert!(denied(&s, "invalid_token") >= invalid0 + bad.len() as f64);
    }
}

both_backends! {
    fn kv_scopes_decide_reads_writes_and_listings(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &["--workers", "2", "--auth-keys", keys.path()]);
        let forbidden0 = denied(&s, "forbidden");
        let reader = a.token(&["kv:read:a/"]);
        let writer = a.token(&["kv:write:a/"]);
        let everything = a.token(&["kv:read:", "kv:write:"]);
        let admin = a.token(&["admin"]);

        assert_eq!(call(&s, "PUT", "/kv/a/x", Some(&writer), b"one").status, 201, "{}", s.log());
        assert_eq!(call(&s, "PUT", "/kv/b/x", Some(&everything), b"two").status, 201);
        assert_forbidden(&call(&s, "PUT", "/kv/b/y", Some(&writer), b"no"), "write outside a/");

        let got = call(&s, "GET", "/kv/a/x", Some(&reader), b"");
        assert_eq!((got.status, &got.body[..]), (200, &b"one"[..]));
        assert_eq!(call(&s, "HEAD", "/kv/a/x", Some(&reader), b"").status, 200);
        let refused = call(&s, "GET", "/kv/b/x", Some(&reader), b"");
        assert_forbidden(&refused, "read outside a/");
        assert!(
            refused.header("www-authenticate").unwrap_or_default().contains("insufficient_scope"),
            "{refused:?}"
        );
        assert!(!String::from_utf8_lossy(&refused.body).contains("two"));
        assert_forbidden(&call(&s, "PUT", "/kv/a/x", Some(&reader), b"w"), "read scope writes");
        assert_forbidden(&call(&s, "DELETE", "/kv/a/x", Some(&reader), b""), "read scope deletes");
        assert_eq!(call(&s, "GET", "/kv/a/x", Some(&reader), b"").body, b"one", "unchanged");

        // Listings: a kv:read prefix must be a prefix of the listed one.
        let list = call(&s, "GET", "/kv/?prefix=a/", Some(&reader), b"");
        assert_eq!(list.status, 200, "{list:?}");
        let keys_listed = String::from_utf8_lossy(&list.body).into_owned();
        assert!(keys_listed.contains("a/x") && !keys_listed.contains("b/x"), "{keys_listed}");
        assert_eq!(call(&s, "GET", "/kv/?prefix=a/x", Some(&reader), b"").status, 200);
        assert_forbidden(&call(&s, "GET", "/kv/?prefix=b", Some(&reader), b""), "list b");
        assert_forbidden(&call(&s, "GET", "/kv/?prefix=", Some(&reader), b""), "list all");
        assert_eq!(call(&s, "GET", "/kv/?prefix=", Some(&everything), b"").status, 200);

        // admin is not a kv scope.
        assert_forbidden(&call(&s, "GET", "/kv/a/x", Some(&admin), b""), "admin reads kv");
        assert_forbidden(&call(&s, "PUT", "/kv/a/z", Some(&admin), b"z"), "admin writes kv");

        // Public routes need no token.
        let plain = call(&s, "GET", "/plaintext", None, b"");
        assert_eq!(plain.status, 200, "{plain:?}");
        let echo = call(&s, "POST", "/echo", None, b"hello");
        assert_eq!((echo.status, &echo.body[..]), (200, &b"hello"[..]));
        // ... and a bad one does not shut them.
        assert_eq!(call(&s, "GET", "/plaintext", Some("junk"), b"").status, 200);

        let forbidden = denied(&s, "forbidden") - forbidden0;
        assert!(forbidden >= 8.0, "8 refusals counted as forbidden, not {forbidden}");
    }
}

both_backends! {
    fn channel_scopes_match_globs(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(
            io,
            &["--workers", "2", "--durable", "d.*", "--auth-keys", keys.path()],
        );
        let publisher = a.token(&["pub:orders.*", "pub:d.*"]);
        let subscriber = a.token(&["sub:>"]);
        let kv_only = a.token(&["kv:read:", "kv:write:"]);

        let r = call(&s, "POST", "/channels/orders.eu", Some(&publisher), b"m1");
        assert!(r.status == 200 || r.status == 204, "{r:?}\n{}", s.log());
        assert_forbidden(&call(&s, "POST", "/channels/orders.eu.x", Some(&publisher), b"m"), "* is one token");
        assert_forbidden(&call(&s, "POST", "/channels/audit", Some(&publisher), b"m"), "audit");
        assert_forbidden(&call(&s, "POST", "/channels/orders.eu", Some(&subscriber), b"m"), "sub publishes");
        assert_forbidden(&call(&s, "POST", "/channels/orders.eu", Some(&kv_only), b"m"), "kv publishes");
        assert_eq!(call(&s, "POST", "/channels/d.x", Some(&publisher), b"kept").status, 200);

        let page = call(&s, "GET", "/channels/d.x/messages", Some(&subscriber), b"");
        assert_eq!(page.status, 200, "{page:?}");
        assert!(String::from_utf8_lossy(&page.body).contains("kept"), "{page:?}");
        assert_forbidden(&call(&s, "GET", "/channels/d.x/messages", Some(&publisher), b""), "pub reads");
        assert_missing(&call(&s, "GET", "/channels/d.x/messages", None, b""));
    }
}

/// A raw request with this `Authorization` header value: the answer's status and code.
fn with_authorization(s: &Server, value: &str) -> (u16, String) {
    let req = format!(
        "GET /kv/a/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {value}\r\n\r\n"
    );
    let r = util::raw(s, req.as_bytes()).expect("an answer");
    (r.status, error_code(&r))
}

both_backends! {
    fn odd_presentations_and_short_lived_tokens(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &["--workers", "2", "--auth-keys", keys.path(), "--auth-leeway", "0s"]);
        let good = a.token(&["kv:read:"]);
        // The scheme is case-insensitive (RFC 9110 §11.1).
        assert_eq!(with_authorization(&s, &format!("bearer {good}")).0, 404);
        assert_eq!(with_authorization(&s, &format!("BEARER {good}")).0, 404);
        let invalid = (401, "auth.invalid_token".to_string());
        // Signed, but with a scope this server cannot parse.
        assert_eq!(with_authorization(&s, &format!("Bearer {}", a.token(&["kv:frobnicate:x"]))), invalid);
        // Longer than any token may be.
        assert_eq!(with_authorization(&s, &format!("Bearer {}", "a".repeat(5000))), invalid);
        // Another scheme is no bearer token.
        let (status, _) = with_authorization(&s, "Basic dXNlcjpwYXNz");
        assert_eq!(status, 401);
        let (status, _) = with_authorization(&s, "Bearer");
        assert_eq!(status, 401);
        // Two Authorization fields, in either order: neither counts (RFC 9110 allows one).
        for pair in [["junk", good.as_str()], [good.as_str(), "junk"]] {
            let req = format!(
                "GET /kv/a/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 Authorization: Bearer {}\r\nConnection: close\r\n\r\n",
                pair[0], pair[1]
            );
            let mut conn = s.connect();
            std::io::Write::write_all(&mut conn, req.as_bytes()).unwrap();
            let mut r = std::io::BufReader::new(conn);
            let got = util::read_response(&mut r, false).expect("an answer");
            assert_eq!(got.status, 401, "two Authorization fields {pair:?}");
        }

        // Each request on a kept-alive connection is judged by its own field, in either order.
        for (first, second, want) in [
            (Some(good.as_str()), None, [404, 401]),
            (None, Some(good.as_str()), [401, 404]),
            (Some("junk"), Some(good.as_str()), [401, 404]),
        ] {
            let head = |t: Option<&str>| {
                t.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default()
            };
            let pipelined = format!(
                "GET /kv/a/x HTTP/1.1\r\nHost: x\r\n{}\r\n\
                 GET /kv/a/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{}\r\n",
                head(first),
                head(second)
            );
            let mut conn = s.connect();
            std::io::Write::write_all(&mut conn, pipelined.as_bytes()).unwrap();
            let mut r = std::io::BufReader::new(conn);
            let got = [0, 1].map(|_| util::read_response(&mut r, false).expect("two answers").status);
            assert_eq!(got, want, "{first:?} then {second:?}");
        }

        // A token accepted (and cached) stops working when it expires.
        let t = now();
        let brief = a.token_at(&["kv:read:"], t, t + 4);
        assert_eq!(call(&s, "GET", "/kv/a/x", Some(&brief), b"").status, 404);
        util::tokens::eventually("the brief token expires", &s, || {
            call(&s, "GET", "/kv/a/x", Some(&brief), b"").status == 401
        });
        assert_eq!(call(&s, "GET", "/kv/a/x", Some(&good), b"").status, 404);
    }
}

both_backends! {
    fn public_routes_can_be_protected(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &[
            "--auth-keys", keys.path(),
            "--auth-protect", "/plaintext,/static/*",
        ]);
        let any = a.token(&["sub:nothing"]);
        // Protected: a valid token, whatever its scopes, and only a valid one.
        assert_missing(&call(&s, "GET", "/plaintext", None, b""));
        assert_invalid(&call(&s, "GET", "/plaintext", Some("junk"), b""), "junk");
        assert_eq!(call(&s, "GET", "/plaintext", Some(&any), b"").status, 200);
        assert_missing(&call(&s, "GET", "/static/x", None, b""));
        // Not listed: still public.
        assert_eq!(call(&s, "GET", "/json", None, b"").status, 200);
        assert_eq!(call(&s, "POST", "/echo", None, b"e").status, 200);
    }
}
