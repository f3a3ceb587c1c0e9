//! Response encoding: status line, Date, framing fields, connection management, HEAD, 1xx,
//! chunk framing and error responses.

mod util;

use ringwire_protocol::http1::{
    CHUNK_END, CONTINUE_100, ChunkHeader, Encoded, Error, LAST_CHUNK, Reply, Response,
    ResponseBody, SendBody, Version, encode_chunk_header, encode_error, http_date, reason,
};

const DATE: &[u8; 29] = b"Sun, 06 Nov 1994 08:49:37 GMT";

fn reply(version: Version, keep_alive: bool) -> Reply {
    Reply {
        version,
        keep_alive,
        head_request: false,
    }
}

fn enc(res: &Response<'_>, r: Reply) -> (String, Encoded) {
    let mut out = b"prefix|".to_vec();
    let e = res.encode(r, &mut out).unwrap();
    let s = String::from_utf8(out).unwrap();
    (s.strip_prefix("prefix|").expect("appends").to_owned(), e)
}

#[test]
fn encodes_a_plaintext_response_exactly() {
    let headers: &[(&str, &[u8])] = &[("Content-Type", b"text/plain")];
    let res = Response {
        headers,
        server: Some("ringwire"),
        ..Response::new(200, ResponseBody::Length(13), DATE)
    };
    let (s, e) = enc(&res, reply(Version::Http11, true));
    assert_eq!(
        s,
        "HTTP/1.1 200 OK\r\nServer: ringwire\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
    );
    assert_eq!(
        e,
        Encoded {
            body: SendBody::Length(13),
            keep_alive: true
        }
    );
}

#[test]
fn rfc9112_9_6_close_is_announced() {
    let res = Response::new(404, ResponseBody::Length(0), DATE);
    let (s, e) = enc(&res, reply(Version::Http11, false));
    assert!(s.starts_with("HTTP/1.1 404 Not Found\r\n"));
    assert!(
        s.ends_with("Content-Length: 0\r\nConnection: close\r\n\r\n"),
        "{s}"
    );
    assert!(!e.keep_alive);
}

#[test]
fn rfc9112_9_3_http10_keep_alive_is_announced() {
    let res = Response::new(200, ResponseBody::Length(2), DATE);
    let (s, e) = enc(&res, reply(Version::Http10, true));
    assert!(s.ends_with("Connection: keep-alive\r\n\r\n"), "{s}");
    assert!(e.keep_alive);
    let (s, _) = enc(&res, reply(Version::Http10, false));
    assert!(s.ends_with("Connection: close\r\n\r\n"), "{s}");
}

#[test]
fn rfc9112_6_1_chunked_response_for_http11_only() {
    let res = Response::new(200, ResponseBody::Chunked, DATE);
    let (s, e) = enc(&res, reply(Version::Http11, true));
    assert!(s.ends_with("Transfer-Encoding: chunked\r\n\r\n"), "{s}");
    assert_eq!(
        e,
        Encoded {
            body: SendBody::Chunked,
            keep_alive: true
        }
    );
    // An HTTP/1.0 client cannot read chunks: the body is delimited by closing.
    let (s, e) = enc(&res, reply(Version::Http10, true));
    assert!(!s.contains("Transfer-Encoding") && s.ends_with("Connection: close\r\n\r\n"));
    assert_eq!(
        e,
        Encoded {
            body: SendBody::UntilClose,
            keep_alive: false
        }
    );
}

#[test]
fn rfc9110_9_3_2_head_response_has_length_but_no_body() {
    let res = Response::new(200, ResponseBody::Length(1234), DATE);
    let r = Reply {
        head_request: true,
        ..reply(Version::Http11, true)
    };
    let (s, e) = enc(&res, r);
    assert!(s.contains("Content-Length: 1234\r\n"));
    assert_eq!(e.body, SendBody::Nothing);
}

#[test]
fn rfc9110_8_6_no_framing_fields_on_1xx_204_304() {
    let upgrade: &[(&str, &[u8])] = &[("Upgrade", b"ringwire/1")];
    for status in [101, 204, 304] {
        let res = Response {
            headers: upgrade,
            ..Response::new(status, ResponseBody::Length(5), DATE)
        };
        let (s, e) = enc(&res, reply(Version::Http11, true));
        assert!(
            !s.contains("Content-Length") && !s.contains("Transfer-Encoding"),
            "{s}"
        );
        assert_eq!(e.body, SendBody::Nothing);
    }
}

#[test]
fn rfc9110_7_8_switching_protocols_says_connection_upgrade() {
    let headers: &[(&str, &[u8])] = &[("Upgrade", b"ringwire/1")];
    let res = Response {
        headers,
        ..Response::new(101, ResponseBody::Length(0), DATE)
    };
    let (s, e) = enc(&res, reply(Version::Http11, true));
    assert!(s.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(
        s.ends_with("Upgrade: ringwire/1\r\nConnection: upgrade\r\n\r\n"),
        "{s}"
    );
    assert_eq!(
        e,
        Encoded {
            body: SendBody::Nothing,
            keep_alive: true
        }
    );
}

#[test]
fn rfc9110_5_5_response_fields_are_validated() {
    let bad: [&[(&str, &[u8])]; 7] = [
        &[("X-A", b"a\r\nInjected: yes")],
        &[("X-A", b"a\nb")],
        &[("X-A", b"a\0")],
        &[("X A", b"a")],
        &[("", b"a")],
        &[("content-length", b"5")],
        &[("Connection", b"close")],
    ];
    for headers in bad {
        let res = Response {
            headers,
            ..Response::new(200, ResponseBody::Length(0), DATE)
        };
        let mut out = b"kept".to_vec();
        let e = res
            .encode(reply(Version::Http11, true), &mut out)
            .unwrap_err();
        assert_eq!(
            (e, e.status(), e.must_close()),
            (Error::InvalidResponse, 500, false)
        );
        assert_eq!(out, b"kept", "nothing appended on error");
    }
    for status in [0, 99, 1000] {
        let res = Response::new(status, ResponseBody::Length(0), DATE);
        assert!(
            res.encode(reply(Version::Http11, true), &mut Vec::new())
                .is_err()
        );
    }
    let res = Response {
        reason: Some("Fine\r\n"),
        ..Response::new(200, ResponseBody::Length(0), DATE)
    };
    assert!(
        res.encode(reply(Version::Http11, true), &mut Vec::new())
            .is_err()
    );
}

#[test]
fn custom_and_unknown_reason_phrases() {
    let res = Response {
        reason: Some("Fine"),
        ..Response::new(299, ResponseBody::Length(0), DATE)
    };
    assert!(
        enc(&res, reply(Version::Http11, true))
            .0
            .starts_with("HTTP/1.1 299 Fine\r\n")
    );
    let res = Response::new(299, ResponseBody::Length(0), DATE);
    assert!(
        enc(&res, reply(Version::Http11, true))
            .0
            .starts_with("HTTP/1.1 299 \r\n")
    );
    assert_eq!(reason(431), "Request Header Fields Too Large");
}

#[test]
fn continue_and_chunk_framing_constants() {
    assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(LAST_CHUNK, b"0\r\n\r\n");
    assert_eq!(CHUNK_END, b"\r\n");
    assert_eq!(ChunkHeader::new(0).as_bytes(), b"0\r\n");
    assert_eq!(ChunkHeader::new(255).as_bytes(), b"ff\r\n");
    assert_eq!(
        ChunkHeader::new(u64::MAX).as_bytes(),
        b"ffffffffffffffff\r\n"
    );
    let mut out = Vec::new();
    encode_chunk_header(&mut out, 4096);
    assert_eq!(out, b"1000\r\n");
}

#[test]
fn error_response_is_complete_and_closes_when_it_must() {
    let mut out = Vec::new();
    let keep = encode_error(
        &mut out,
        &Error::ContentLengthWithTransferEncoding,
        DATE,
        Some("rw"),
    );
    let s = String::from_utf8(out).unwrap();
    assert!(!keep);
    assert!(
        s.starts_with("HTTP/1.1 400 Bad Request\r\nServer: rw\r\nDate: "),
        "{s}"
    );
    assert!(s.contains("\r\nConnection: close\r\n\r\n"));
    let (head, body) = s.split_once("\r\n\r\n").unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), len);
    assert!(body.contains("Transfer-Encoding"));

    for (e, line) in [
        (Error::RequestLineTooLong, "HTTP/1.1 414 URI Too Long\r\n"),
        (
            Error::TooManyHeaders,
            "HTTP/1.1 431 Request Header Fields Too Large\r\n",
        ),
        (Error::BodyTooLarge, "HTTP/1.1 413 Content Too Large\r\n"),
        (
            Error::UnsupportedTransferCoding,
            "HTTP/1.1 501 Not Implemented\r\n",
        ),
        (
            Error::UnsupportedVersion,
            "HTTP/1.1 505 HTTP Version Not Supported\r\n",
        ),
        (Error::RequestTimeout, "HTTP/1.1 408 Request Timeout\r\n"),
    ] {
        let mut out = Vec::new();
        encode_error(&mut out, &e, &http_date(0), None);
        assert!(out.starts_with(line.as_bytes()), "{e:?}");
    }
    let mut out = Vec::new();
    assert!(encode_error(&mut out, &Error::InvalidResponse, DATE, None));
    assert!(
        !String::from_utf8(out)
            .unwrap()
            .contains("Connection: close")
    );
}

fn refused(res: &Response<'_>) -> bool {
    let mut out = b"kept".to_vec();
    let refused = res.encode(reply(Version::Http11, true), &mut out) == Err(Error::InvalidResponse);
    if refused {
        assert_eq!(out, b"kept", "nothing appended on error");
    }
    refused
}

#[test]
fn rfc9110_15_2_an_interim_status_is_not_a_final_response() {
    for status in [100, 102, 103, 150, 199] {
        for body in [ResponseBody::Length(0), ResponseBody::Chunked] {
            let res = Response::new(status, body, DATE);
            assert!(refused(&res), "{status} encoded as a final response");
        }
    }
    // 101 ends the HTTP/1.1 exchange, but only with the Upgrade field it must carry.
    assert!(refused(&Response::new(101, ResponseBody::Length(0), DATE)));
    let headers: &[(&str, &[u8])] = &[("upgrade", b"websocket")];
    assert!(!refused(&Response {
        headers,
        ..Response::new(101, ResponseBody::Length(0), DATE)
    }));
    // The interim response to Expect: 100-continue has its own constant.
    assert!(CONTINUE_100.starts_with(b"HTTP/1.1 100 "));
}

#[test]
fn rfc9110_15_3_6_reset_content_has_no_body() {
    assert!(refused(&Response::new(205, ResponseBody::Length(1), DATE)));
    assert!(refused(&Response::new(205, ResponseBody::Chunked, DATE)));
    // An empty body is announced as such (one of the three ways §15.3.6 allows).
    let (s, e) = enc(
        &Response::new(205, ResponseBody::Length(0), DATE),
        reply(Version::Http11, true),
    );
    assert!(s.starts_with("HTTP/1.1 205 Reset Content\r\n"), "{s}");
    assert!(s.ends_with("Content-Length: 0\r\n\r\n"), "{s}");
    assert_eq!(e.body, SendBody::Length(0));
}

#[test]
fn rfc9110_10_2_4_one_server_field_only() {
    let one: &[(&str, &[u8])] = &[("Server", b"mine/1")];
    let two: &[(&str, &[u8])] = &[("Server", b"a/1"), ("server", b"b/2")];
    // The server's own, or the handler's: fine.
    let (s, _) = enc(
        &Response {
            server: Some("ringwire"),
            ..Response::new(200, ResponseBody::Length(0), DATE)
        },
        reply(Version::Http11, true),
    );
    assert_eq!(s.matches("Server:").count(), 1);
    let (s, _) = enc(
        &Response {
            headers: one,
            ..Response::new(200, ResponseBody::Length(0), DATE)
        },
        reply(Version::Http11, true),
    );
    assert!(s.contains("\r\nServer: mine/1\r\n"), "{s}");
    // Both, or two from the handler: refused.
    assert!(refused(&Response {
        headers: one,
        server: Some("ringwire"),
        ..Response::new(200, ResponseBody::Length(0), DATE)
    }));
    assert!(refused(&Response {
        headers: two,
        ..Response::new(200, ResponseBody::Length(0), DATE)
    }));
}

#[test]
fn refusals_say_what_is_wrong() {
    let message = Error::InvalidResponse.to_string();
    for rule in ["1xx", "205", "Server", "Content-Length", "(500)"] {
        assert!(message.contains(rule), "{rule}: {message}");
    }
}
