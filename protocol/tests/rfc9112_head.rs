//! Request head rules from RFC 9110 and RFC 9112, one test per rule, each a table of cases.

mod util;

use ringwire_protocol::http1::{Error, Framing, Limits, Method, Parser, Status, Version};
use util::{err, parse, parse_with, req};

#[test]
fn rfc9112_2_2_bare_lf_line_ending_is_400() {
    for input in [
        "GET / HTTP/1.1\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\n\r\n",
        "GET / HTTP/1.1\r\nHost: a  \n\r\n",
        "GET / HTTP/1.1\r\nHost:\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\n",
        "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.2\nHost: a\r\n\r\n",
    ] {
        assert_eq!(err(input), Error::InvalidLineEnding, "{input:?}");
    }
}

#[test]
fn rfc9112_2_2_bare_cr_is_400() {
    assert_eq!(
        err("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"),
        Error::InvalidHeaderValue
    );
    assert_eq!(
        err("GET / HTTP/1.1\rX\nHost: a\r\n\r\n"),
        Error::InvalidLineEnding
    );
    assert_eq!(
        err("GET / HTTP/1.1\r\nHost: a\r\n\rX"),
        Error::InvalidLineEnding
    );
}

#[test]
fn rfc9112_2_2_empty_lines_before_request_line_are_ignored() {
    let input = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let h = parse(input).unwrap();
    assert_eq!((h.len, h.method.as_str()), (input.len(), "GET"));
}

#[test]
fn rfc9112_2_3_http_1_0_and_1_1() {
    assert_eq!(parse(&req("")).unwrap().version, Version::Http11);
    assert_eq!(
        parse("GET / HTTP/1.0\r\n\r\n").unwrap().version,
        Version::Http10
    );
}

#[test]
fn rfc9110_2_5_higher_minor_version_is_read_as_1_1() {
    for minor in 2..=9 {
        let h = parse(&format!("GET /x HTTP/1.{minor}\r\nHost: a\r\nX: y\r\n\r\n")).unwrap();
        assert_eq!(h.version, Version::Http11);
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.path, "/x");
    }
    assert_eq!(err("GET / HTTP/1.5\r\n\r\n"), Error::MissingHost);
}

#[test]
fn rfc9112_2_3_other_major_version_is_505() {
    for v in ["HTTP/2.0", "HTTP/0.9", "HTTP/3.1", "HTTP/9.9"] {
        let e = err(&format!("GET / {v}\r\nHost: a\r\n\r\n"));
        assert_eq!(
            (e, e.status(), e.must_close()),
            (Error::UnsupportedVersion, 505, true)
        );
    }
}

#[test]
fn rfc9112_2_3_malformed_version_is_400() {
    for v in [
        "HTTP/1.1x",
        "HTTP/11",
        "http/1.1",
        "HTTP/1.",
        "HTTP/1.1 ",
        "HTTP/A.1",
        "HTTP/2.x",
    ] {
        let e = err(&format!("GET / {v}\r\nHost: a\r\n\r\n"));
        assert_eq!(e.status(), 400, "{v}: {e:?}");
    }
}

#[test]
fn rfc9110_9_1_method_is_a_case_sensitive_token() {
    let m = |input: &str| parse(input).unwrap().method;
    assert_eq!(m(&req("")), "GET");
    let mut parser = Parser::new(Limits::default());
    let Ok(Status::Complete(h)) = parser.parse(b"get / HTTP/1.1\r\nHost: a\r\n\r\n") else {
        panic!()
    };
    assert_eq!(h.method(), Method::Extension("get"));
    let Ok(Status::Complete(h)) = parser.parse(b"PATCH / HTTP/1.1\r\nHost: a\r\n\r\n") else {
        panic!()
    };
    assert_eq!(h.method(), Method::Patch);
    for bad in [
        "G@T / HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        " GET / HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(err(bad), Error::InvalidMethod, "{bad:?}");
    }
}

#[test]
fn rfc9112_3_request_line_has_single_spaces() {
    for bad in [
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /  HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /\tHTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        assert_eq!(err(bad).status(), 400, "{bad:?}");
    }
}

#[test]
fn rfc9112_3_2_1_origin_form_gives_path_and_query() {
    let h = parse("GET /a/b%20c?x=1&y=2 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(
        (h.path.as_str(), h.query.as_deref()),
        ("/a/b%20c", Some("x=1&y=2"))
    );
    let h = parse("GET /? HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(h.query.as_deref(), Some(""));
}

#[test]
fn rfc9112_3_2_invalid_target_is_400() {
    for t in [
        "/a#f",
        "/caf\u{e9}",
        "/a%zz",
        "/a%4",
        "/a<b",
        "/a\\b",
        "/a`b",
        "a/b",
        "http:/x",
    ] {
        let e = err(&format!("GET {t} HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert_eq!(e, Error::InvalidTarget, "{t}");
    }
}

#[test]
fn rfc9112_3_2_2_absolute_form_authority_overrides_host() {
    let h = parse("GET http://example.org:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
    assert_eq!(h.host.as_deref(), Some("example.org:8080"));
    assert_eq!((h.path.as_str(), h.query.as_deref()), ("/p", Some("q")));
    let h = parse("GET https://example.org HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(h.path, "/");
    assert_eq!(
        err("GET http://example.org/ HTTP/1.1\r\n\r\n"),
        Error::MissingHost
    );
    assert_eq!(
        err("GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n"),
        Error::InvalidHost
    );
    assert_eq!(
        err("GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n"),
        Error::InvalidHost
    );
    assert_eq!(
        err("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n"),
        Error::InvalidTarget
    );
}

#[test]
fn rfc9112_3_2_3_authority_form_only_for_connect() {
    let h = parse("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n").unwrap();
    assert!(h.authority_form);
    assert_eq!(h.path, "");
    assert_eq!(
        err("CONNECT example.org HTTP/1.1\r\nHost: a\r\n\r\n"),
        Error::InvalidHost
    );
    assert_eq!(
        err("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Error::TargetFormNotAllowed
    );
    assert_eq!(
        err("CONNECT http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        Error::TargetFormNotAllowed
    );
    assert_eq!(
        err("GET example.org:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
        Error::InvalidTarget
    );
}

#[test]
fn rfc9112_3_2_4_asterisk_form_only_for_options() {
    let h = parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(h.asterisk);
    assert_eq!(h.path, "*");
    assert_eq!(
        err("GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
        Error::TargetFormNotAllowed
    );
}

#[test]
fn rfc9112_3_2_http11_without_host_is_400() {
    assert_eq!(err("GET / HTTP/1.1\r\nX: y\r\n\r\n"), Error::MissingHost);
    let h = parse("GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(h.host, None);
}

#[test]
fn rfc9112_3_2_more_than_one_host_is_400() {
    assert_eq!(err(&req("Host: example.com\r\n")), Error::DuplicateHost);
    assert_eq!(
        err("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"),
        Error::DuplicateHost
    );
}

#[test]
fn rfc9112_3_2_invalid_host_value_is_400() {
    for host in [
        "a b", "a@b", "a:99999", "a:8x", "[::1", "a/b", "a:1:2", "\"a\"",
    ] {
        let e = err(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        assert_eq!(e, Error::InvalidHost, "{host}");
    }
}

#[test]
fn rfc9112_3_2_host_forms_accepted() {
    for host in [
        "",
        "example.com",
        "example.com:8080",
        "[::1]:80",
        "127.0.0.1",
        "a:",
    ] {
        let h = parse(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")).unwrap();
        assert_eq!(h.host.as_deref(), Some(host));
    }
}

#[test]
fn rfc9112_5_1_whitespace_before_colon_is_400() {
    assert_eq!(err(&req("X-A : b\r\n")), Error::InvalidHeaderName);
    assert_eq!(err(&req("X-A\t: b\r\n")), Error::InvalidHeaderName);
    assert_eq!(
        err("GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
        Error::InvalidHeaderName
    );
}

#[test]
fn rfc9112_5_2_obs_fold_is_400() {
    assert_eq!(err(&req("X-A: b\r\n c\r\n")), Error::InvalidHeaderName);
    assert_eq!(err(&req("X-A: b\r\n\tc\r\n")), Error::InvalidHeaderName);
    assert_eq!(
        err("GET / HTTP/1.1\r\n Host: a\r\n\r\n"),
        Error::InvalidHeaderName
    );
}

#[test]
fn rfc9110_5_1_invalid_header_name_is_400() {
    for line in [
        ": v",
        "X(a): v",
        "X\u{e9}: v",
        "X\0: v",
        "X\"Y: v",
        "X/Y: v",
        "X{: v",
    ] {
        assert_eq!(
            err(&req(&format!("{line}\r\n"))),
            Error::InvalidHeaderName,
            "{line:?}"
        );
    }
}

#[test]
fn rfc9110_5_5_control_bytes_in_value_are_400() {
    for value in ["a\0b", "\0", "a\x01", "a\x7fb", "a\x1bb"] {
        let e = err(&req(&format!("X: {value}\r\n")));
        assert_eq!(e, Error::InvalidHeaderValue, "{value:?}");
    }
}

#[test]
fn rfc9110_5_5_value_keeps_htab_and_obs_text_and_trims_ows() {
    let mut input = b"GET / HTTP/1.1\r\nO: \xff\x80\r\n".to_vec();
    input.extend_from_slice(&req("X: \t a\tb  \r\nE:\r\nW:   \r\n").as_bytes()[16..]);
    let h = parse_with(Limits::default(), &input).unwrap().unwrap();
    let v = |n: &str| {
        h.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(v("X").unwrap(), b"a\tb");
    assert_eq!(v("E").unwrap(), b"");
    assert_eq!(v("W").unwrap(), b"");
    assert_eq!(v("O").unwrap(), b"\xff\x80");
}

#[test]
fn header_lookup_is_case_insensitive_and_ordered() {
    let input =
        req("If-None-Match: \"a\"\r\nX-Request-Id: 1\r\nx-request-id: 2\r\nRange: bytes=0-1\r\n");
    let mut parser = Parser::new(Limits::default());
    let Ok(Status::Complete(h)) = parser.parse(input.as_bytes()) else {
        panic!()
    };
    assert_eq!(h.header("if-none-match"), Some(&b"\"a\""[..]));
    assert_eq!(h.header("RANGE"), Some(&b"bytes=0-1"[..]));
    assert_eq!(h.header("traceparent"), None);
    let ids: Vec<&[u8]> = h.headers_named("X-REQUEST-ID").collect();
    assert_eq!(ids, [b"1", b"2"]);
    let names: Vec<&str> = h.headers().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "Host",
            "If-None-Match",
            "X-Request-Id",
            "x-request-id",
            "Range"
        ]
    );
    assert_eq!(h.header_count(), 5);
}

#[test]
fn head_length_is_exact_for_pipelining() {
    let first = req("");
    let both = format!("{first}POST /x HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\n\r\nz");
    let h = parse(&both).unwrap();
    assert_eq!(h.len, first.len());
    let h2 = parse(&both[first.len()..]).unwrap();
    assert_eq!(
        (h2.method.as_str(), h2.framing),
        ("POST", Framing::Length(1))
    );
}

#[test]
fn every_proper_prefix_is_partial() {
    let input = req("Content-Length: 3\r\nX: y\r\n");
    for end in 0..input.len() {
        let r = parse_with(Limits::default(), &input.as_bytes()[..end]);
        assert_eq!(r, Ok(None), "prefix {end}");
    }
}
