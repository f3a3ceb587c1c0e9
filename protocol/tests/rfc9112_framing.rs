//! Message framing (RFC 9112 §6, RFC 9110 §8.6) and connection management (RFC 9112 §9,
//! Expect, Upgrade) as decided from the request head.

mod util;

use ringwire_protocol::http1::{Error, Framing};
use util::{err, parse, req};

#[test]
fn rfc9112_6_1_cl_and_te_is_400_and_close() {
    for extra in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n",
    ] {
        let e = err(&req(extra));
        assert_eq!(e, Error::ContentLengthWithTransferEncoding);
        assert!(e.status() == 400 && e.must_close());
    }
}

#[test]
fn rfc9112_6_1_transfer_encoding_in_http10_is_400() {
    let e = err("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!((e, e.must_close()), (Error::TransferEncodingInHttp10, true));
}

#[test]
fn rfc9112_6_1_unknown_transfer_coding_is_501() {
    for te in [
        "gzip, chunked",
        "identity, chunked",
        "x-custom;a=1, chunked",
    ] {
        let e = err(&req(&format!("Transfer-Encoding: {te}\r\n")));
        assert_eq!(
            (e, e.status()),
            (Error::UnsupportedTransferCoding, 501),
            "{te}"
        );
    }
    let e = err(&req(
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
    ));
    assert_eq!(e, Error::UnsupportedTransferCoding);
}

#[test]
fn rfc9112_6_3_chunked_not_final_or_repeated_is_400() {
    for te in [
        "gzip",
        "chunked, gzip",
        "chunked, chunked",
        "",
        " , ",
        "chunked;x=1",
        "chun ked",
    ] {
        let e = err(&req(&format!("Transfer-Encoding: {te}\r\n")));
        assert_eq!(e, Error::InvalidTransferEncoding, "{te:?}");
        assert!(e.must_close());
    }
    let twice = req("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n");
    assert_eq!(err(&twice), Error::InvalidTransferEncoding);
}

#[test]
fn rfc9112_6_1_chunked_is_case_insensitive_and_list_tolerant() {
    for te in ["chunked", "Chunked", "CHUNKED", " , chunked ,"] {
        let h = parse(&req(&format!("Transfer-Encoding: {te}\r\n"))).unwrap();
        assert_eq!(h.framing, Framing::Chunked, "{te:?}");
    }
}

#[test]
fn rfc9110_8_6_content_length_is_digits_only() {
    for cl in [
        "+5",
        "-5",
        "5 5",
        "0x5",
        "5,5",
        "5, 5",
        "",
        "1e3",
        "18446744073709551616",
    ] {
        let e = err(&req(&format!("Content-Length: {cl}\r\n")));
        assert_eq!(e, Error::InvalidContentLength, "{cl:?}");
    }
    let h = parse(&req("Content-Length: 0005\r\n")).unwrap();
    assert_eq!(h.framing, Framing::Length(5));
}

#[test]
fn rfc9112_6_3_repeated_content_length_must_be_identical() {
    let h = parse(&req("Content-Length: 5\r\ncontent-length: 5\r\n")).unwrap();
    assert_eq!(h.framing, Framing::Length(5));
    let e = err(&req("Content-Length: 5\r\nContent-Length: 6\r\n"));
    assert_eq!(e, Error::ConflictingContentLength);
    let e = err(&req("Content-Length: 5\r\nContent-Length: 05\r\n"));
    assert_eq!(e, Error::ConflictingContentLength);
}

#[test]
fn rfc9112_6_3_no_framing_fields_means_no_body() {
    assert_eq!(parse(&req("")).unwrap().framing, Framing::None);
    assert_eq!(
        parse(&req("Content-Length: 0\r\n")).unwrap().framing,
        Framing::Length(0)
    );
}

#[test]
fn rfc9112_9_3_http11_is_persistent_unless_close() {
    assert!(parse(&req("")).unwrap().keep_alive);
    assert!(!parse(&req("Connection: close\r\n")).unwrap().keep_alive);
    assert!(
        !parse(&req("Connection: keep-alive, CLOSE\r\n"))
            .unwrap()
            .keep_alive
    );
    assert!(
        !parse(&req("Connection: foo\r\nConnection: close\r\n"))
            .unwrap()
            .keep_alive
    );
}

#[test]
fn rfc9112_9_3_http10_is_persistent_only_with_keep_alive() {
    assert!(!parse("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
    assert!(
        parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .keep_alive
    );
    let both = "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n";
    assert!(!parse(both).unwrap().keep_alive);
}

#[test]
fn rfc9110_10_1_1_expect_100_continue_only_in_http11() {
    assert!(
        parse(&req("Expect: 100-Continue\r\n"))
            .unwrap()
            .expect_continue
    );
    assert!(!parse(&req("Expect: 200-ok\r\n")).unwrap().expect_continue);
    assert!(!parse(&req("")).unwrap().expect_continue);
    let old = "POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n";
    assert!(!parse(old).unwrap().expect_continue);
}

#[test]
fn rfc9110_7_8_upgrade_needs_connection_upgrade_and_http11() {
    let h = parse(&req(
        "Connection: Upgrade\r\nUpgrade: ringwire/1, websocket\r\n",
    ))
    .unwrap();
    assert_eq!(h.upgrade.as_deref(), Some("ringwire/1"));
    assert_eq!(
        parse(&req("Upgrade: ringwire/1\r\n")).unwrap().upgrade,
        None
    );
    let old = "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: ringwire/1\r\n\r\n";
    assert_eq!(parse(old).unwrap().upgrade, None);
    let bad = req("Connection: upgrade\r\nUpgrade: a b\r\n");
    assert_eq!(parse(&bad).unwrap().upgrade, None);
}
