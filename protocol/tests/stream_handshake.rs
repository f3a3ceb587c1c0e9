//! The handshake (docs/PROTOCOL.md, "Handshake"): HELLO exchange, version mismatch, roles,
//! and every handshake violation closing the connection with GOAWAY.

mod stream_util;

use ringwire_protocol::stream::{Connection, Error, ErrorCode, Event, Frame, Role, Settings};
use stream_util::{client_with, feed, frames, hello, last_goaway, open, server, wire};

fn defaults() -> Settings {
    Settings::default()
}

// ---- handshake ----

#[test]
fn server_answers_hello_with_its_own_settings() {
    let mine = Settings {
        max_concurrent_streams: 7,
        ..defaults()
    };
    let theirs = Settings {
        max_frame_size: 4096,
        ..defaults()
    };
    let mut s = Connection::new(Role::Server, mine).unwrap();
    assert!(!s.is_ready());
    let mut out = Vec::new();
    let input = wire(&[hello(theirs)]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(ev, [Event::Hello(theirs)]);
    assert_eq!(frames(&out), [Frame::Hello(mine)]);
    assert!(s.is_ready());
    assert_eq!(s.peer_settings(), Some(&theirs));
}

#[test]
fn handshake_violations_close_with_goaway() {
    let cases: Vec<(&str, Vec<u8>, Error, ErrorCode)> = vec![
        (
            "ping first",
            wire(&[Frame::Ping([0; 8])]),
            Error::ExpectedHello,
            ErrorCode::PROTOCOL_ERROR,
        ),
        (
            "open first",
            wire(&[open(1, "echo")]),
            Error::ExpectedHello,
            ErrorCode::PROTOCOL_ERROR,
        ),
        (
            "goaway first (server)",
            wire(&[Frame::GoAway {
                last_id: 0,
                code: ErrorCode::NO_ERROR,
                debug: b"",
            }]),
            Error::ExpectedHello,
            ErrorCode::PROTOCOL_ERROR,
        ),
        (
            "version 2 hello",
            {
                let mut b = wire(&[hello(defaults())]);
                b[0] = 2;
                b
            },
            Error::UnsupportedVersion(2),
            ErrorCode::UNSUPPORTED_VERSION,
        ),
        (
            "HTTP on the stream port",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Error::UnsupportedVersion(b'G'),
            ErrorCode::UNSUPPORTED_VERSION,
        ),
        (
            "hello twice",
            wire(&[hello(defaults()), hello(defaults())]),
            Error::UnexpectedHello,
            ErrorCode::PROTOCOL_ERROR,
        ),
    ];
    for (name, input, err, code) in cases {
        let mut s = Connection::new(Role::Server, defaults()).unwrap();
        let mut out = Vec::new();
        let (_, r) = feed(&mut s, &input, &mut out);
        assert_eq!(r, Err(err), "{name}");
        assert_eq!(err.code(), Some(code), "{name}");
        assert_eq!(last_goaway(&out), (0, code), "{name}");
        // The GOAWAY is written in version 1, whatever the peer spoke.
        let at = out.len() - frames(&out).last().unwrap().encoded_len();
        assert_eq!(out[at], 1, "{name}");
        // Sticky: the connection is over.
        assert_eq!(
            s.decode(&wire(&[hello(defaults())]), &mut out),
            Err(err),
            "{name}"
        );
        assert_eq!(s.error(), Some(err));
    }
}

#[test]
fn client_must_wait_for_the_servers_hello() {
    let mut c = Connection::new(Role::Client, defaults()).unwrap();
    let mut out = Vec::new();
    assert_eq!(c.open_stream("echo", &mut out), Err(Error::NotReady));
    assert_eq!(c.ping([0; 8], &mut out), Err(Error::NotReady));
    c.hello(&mut out).unwrap();
    assert_eq!(c.hello(&mut out), Err(Error::WrongRole), "hello twice");
    assert_eq!(frames(&out), [Frame::Hello(defaults())]);
    let input = wire(&[hello(defaults())]);
    let (ev, r) = feed(&mut c, &input, &mut out);
    r.unwrap();
    assert_eq!(ev, [Event::Hello(defaults())]);
    assert_eq!(c.open_stream("echo", &mut out), Ok(1));
}

#[test]
fn roles_are_enforced() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    assert_eq!(s.hello(&mut out), Err(Error::WrongRole));
    assert_eq!(s.open_stream("echo", &mut out), Err(Error::WrongRole));
    let mut c = client_with(defaults(), defaults());
    let input = wire(&[open(2, "x")]);
    let (_, r) = feed(&mut c, &input, &mut out);
    assert_eq!(r, Err(Error::UnexpectedOpen));
    assert!(out.is_empty() || last_goaway(&out).1 == ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn version_mismatch_goaway_reaches_the_client() {
    let mut c = Connection::new(Role::Client, defaults()).unwrap();
    let mut out = Vec::new();
    c.hello(&mut out).unwrap();
    let input = wire(&[Frame::GoAway {
        last_id: 0,
        code: ErrorCode::UNSUPPORTED_VERSION,
        debug: b"version 1 only",
    }]);
    out.clear();
    let (ev, r) = feed(&mut c, &input, &mut out);
    assert_eq!(
        ev,
        [Event::GoAway {
            last_id: 0,
            code: ErrorCode::UNSUPPORTED_VERSION,
            debug: b"version 1 only"
        }]
    );
    let e = Error::PeerError(ErrorCode::UNSUPPORTED_VERSION);
    assert_eq!(r, Err(e), "the next decode reports the end");
    assert!(out.is_empty(), "no GOAWAY in answer to a GOAWAY");
    assert_eq!(c.open_stream("echo", &mut out), Err(e));
    assert_eq!(c.decode(b"", &mut out), Err(e));
}
