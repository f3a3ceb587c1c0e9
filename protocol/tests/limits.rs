//! The configurable limits: each violation maps to its status code, including when the
//! violating input is still incomplete.

mod util;

use ringwire_protocol::http1::{Error, Framing, Limits, MAX_HEADERS_CAP};
use util::{parse_with, req};

fn small() -> Limits {
    Limits {
        max_request_line: 32,
        max_head: 128,
        max_headers: 4,
        max_body: 100,
        ..Limits::default()
    }
}

#[test]
fn limit_request_line_is_414_at_the_boundary() {
    // "GET /" + path + " HTTP/1.1" is exactly 32 bytes when the path has 18 bytes.
    let ok = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(18));
    assert!(parse_with(small(), ok.as_bytes()).unwrap().is_some());
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(19));
    let e = parse_with(small(), long.as_bytes()).unwrap_err();
    assert_eq!((e, e.status()), (Error::RequestLineTooLong, 414));
}

#[test]
fn limit_request_line_is_414_while_still_partial() {
    let partial = format!("GET /{}", "a".repeat(40));
    assert_eq!(
        parse_with(small(), partial.as_bytes()),
        Err(Error::RequestLineTooLong)
    );
    // Not yet past the limit: keep reading.
    assert_eq!(parse_with(small(), &partial.as_bytes()[..32]), Ok(None));
}

#[test]
fn limit_request_line_earlier_error_wins() {
    // A byte the tokenizer rejects inside the allowed prefix is reported, not the length.
    let input = format!("GET /a\x01{} HTTP/1.1\r\n\r\n", "a".repeat(64));
    assert_eq!(
        parse_with(small(), input.as_bytes()),
        Err(Error::InvalidTarget)
    );
    // Target syntax is checked once the head is complete, so a long line wins over it.
    let input = format!("GET /a<{} HTTP/1.1\r\n\r\n", "a".repeat(64));
    assert_eq!(
        parse_with(small(), input.as_bytes()),
        Err(Error::RequestLineTooLong)
    );
    let input = format!("G@T /{} HTTP/1.1\r\n\r\n", "a".repeat(64));
    assert_eq!(
        parse_with(small(), input.as_bytes()),
        Err(Error::InvalidMethod)
    );
    // An invalid byte past the limit: the length is what a reader meets first.
    let input = format!("GET /{}< HTTP/1.1\r\n\r\n", "a".repeat(64));
    assert_eq!(
        parse_with(small(), input.as_bytes()),
        Err(Error::RequestLineTooLong)
    );
}

#[test]
fn limit_head_is_431_complete_or_partial() {
    let big = req(&format!("X: {}\r\n", "v".repeat(120)));
    let e = parse_with(small(), big.as_bytes()).unwrap_err();
    assert_eq!(
        (e, e.status(), e.must_close()),
        (Error::HeadTooLarge, 431, true)
    );
    let partial = &big.as_bytes()[..129];
    assert_eq!(parse_with(small(), partial), Err(Error::HeadTooLarge));
    assert_eq!(parse_with(small(), &big.as_bytes()[..128]), Ok(None));
    // A head of exactly max_head bytes is fine.
    let exact = req(&format!(
        "X: {}\r\n",
        "v".repeat(128 - req("X: \r\n").len())
    ));
    assert_eq!(exact.len(), 128);
    assert!(parse_with(small(), exact.as_bytes()).unwrap().is_some());
}

#[test]
fn limit_header_count_is_431() {
    let four = req("A: 1\r\nB: 2\r\nC: 3\r\n");
    assert_eq!(
        parse_with(small(), four.as_bytes())
            .unwrap()
            .unwrap()
            .headers
            .len(),
        4
    );
    let five = req("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n");
    let e = parse_with(small(), five.as_bytes()).unwrap_err();
    assert_eq!((e, e.status()), (Error::TooManyHeaders, 431));
}

#[test]
fn limit_header_count_caps_at_max_headers_cap() {
    let lim = Limits {
        max_headers: 100_000,
        max_head: 1 << 20,
        ..Limits::default()
    };
    let fields: String = (0..MAX_HEADERS_CAP - 1)
        .map(|i| format!("X{i}: v\r\n"))
        .collect();
    assert!(parse_with(lim, req(&fields).as_bytes()).unwrap().is_some());
    let fields: String = (0..MAX_HEADERS_CAP)
        .map(|i| format!("X{i}: v\r\n"))
        .collect();
    assert_eq!(
        parse_with(lim, req(&fields).as_bytes()),
        Err(Error::TooManyHeaders)
    );
}

#[test]
fn limit_body_is_413_from_content_length_before_any_body_byte() {
    let at = req("Content-Length: 100\r\n");
    assert_eq!(
        parse_with(small(), at.as_bytes()).unwrap().unwrap().framing,
        Framing::Length(100)
    );
    let over = req("Content-Length: 101\r\n");
    let e = parse_with(small(), over.as_bytes()).unwrap_err();
    assert_eq!((e, e.status()), (Error::BodyTooLarge, 413));
}

#[test]
fn limit_defaults_are_sane() {
    let d = Limits::default();
    assert_eq!(
        (d.max_request_line, d.max_head, d.max_headers, d.max_body),
        (8192, 16384, 100, 1 << 20)
    );
}
