//! A token in the handshake (docs/PROTOCOL.md, "Handshake", "Tokens"): HELLO with the AUTH
//! flag, the AUTH frame, the server's decision, and every misplaced flag or frame closing the
//! connection with PROTOCOL_ERROR.

mod stream_util;

use ringwire_protocol::stream::{
    self, Connection, Error, ErrorCode, Event, Frame, FrameType, MAX_AUTH_TOKEN, Role, Settings,
    encode_header,
};
use stream_util::{feed, frames, hello, last_goaway, open, wire};

const TOKEN: &[u8] = b"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0In0.c2lnbmF0dXJl";

fn defaults() -> Settings {
    Settings::default()
}

fn server() -> Connection {
    Connection::new(Role::Server, defaults()).unwrap()
}

/// What a client built with `token` writes first.
fn client_hello(token: &[u8]) -> (Connection, Vec<u8>) {
    let mut c = Connection::new_client_with_token(defaults(), token).unwrap();
    let mut out = Vec::new();
    c.hello(&mut out).unwrap();
    (c, out)
}

#[test]
fn auth_round_trip_through_client_and_server_codecs() {
    let (mut c, to_server) = client_hello(TOKEN);
    assert_eq!(
        frames(&to_server),
        [Frame::HelloAuth(defaults()), Frame::Auth(TOKEN)]
    );
    let mine = Settings {
        max_concurrent_streams: 7,
        ..defaults()
    };
    let mut s = Connection::new(Role::Server, mine).unwrap();
    let mut to_client = Vec::new();
    let (ev, r) = feed(&mut s, &to_server, &mut to_client);
    assert_eq!(ev, [Event::Auth(TOKEN)]);
    // Until the application decides, the server answers nothing and decodes nothing.
    assert_eq!(r, Err(Error::NotReady));
    assert!(!Error::NotReady.is_fatal());
    assert!(to_client.is_empty(), "no HELLO before the decision");
    assert!(!s.is_ready());
    s.accept_hello(&mut to_client).unwrap();
    assert_eq!(frames(&to_client), [Frame::Hello(mine)]);
    assert!(s.is_ready());
    assert_eq!(s.peer_settings(), Some(&defaults()));
    assert_eq!(
        s.accept_hello(&mut to_client),
        Err(Error::WrongRole),
        "twice"
    );

    let mut more = Vec::new();
    let (ev, r) = feed(&mut c, &to_client, &mut more);
    r.unwrap();
    assert_eq!(ev, [Event::Hello(mine)]);
    let id = c.open_stream("echo", &mut more).unwrap();
    assert_eq!(c.send_data(id, b"hi", true, &mut more), Ok(2));
    let mut back = Vec::new();
    let (ev, r) = feed(&mut s, &more, &mut back);
    r.unwrap();
    assert_eq!(
        ev,
        [
            Event::StreamOpened {
                id,
                service: "echo"
            },
            Event::Data {
                id,
                data: b"hi",
                end: true
            }
        ]
    );
}

#[test]
fn a_refused_token_reaches_the_client_as_goaway() {
    for code in [ErrorCode::UNAUTHENTICATED, ErrorCode::FORBIDDEN] {
        let (mut c, to_server) = client_hello(TOKEN);
        let mut s = server();
        let mut to_client = Vec::new();
        let (ev, _) = feed(&mut s, &to_server, &mut to_client);
        assert_eq!(ev, [Event::Auth(TOKEN)]);
        assert_eq!(s.goaway(code, b"invalid token", &mut to_client), Ok(0));
        assert_eq!(s.accept_hello(&mut to_client), Err(Error::Aborted(code)));
        assert_eq!(frames(&to_client).len(), 1, "only the GOAWAY");
        let mut out = Vec::new();
        let (ev, r) = feed(&mut c, &to_client, &mut out);
        assert_eq!(
            ev,
            [Event::GoAway {
                last_id: 0,
                code,
                debug: b"invalid token"
            }]
        );
        assert_eq!(r, Err(Error::PeerError(code)));
        assert!(out.is_empty(), "no answer to a GOAWAY");
    }
}

#[test]
fn auth_out_of_place_is_a_protocol_error() {
    let auth = Frame::Auth(b"tok");
    let cases: Vec<(&str, Vec<u8>, Error)> = vec![
        (
            "AUTH after a HELLO without the flag",
            wire(&[hello(defaults()), auth]),
            Error::UnexpectedAuth,
        ),
        ("AUTH first", wire(&[auth]), Error::ExpectedHello),
        (
            "HELLO flag, then PING",
            wire(&[Frame::HelloAuth(defaults()), Frame::Ping([0; 8])]),
            Error::ExpectedAuth,
        ),
        (
            "HELLO flag, then OPEN",
            wire(&[Frame::HelloAuth(defaults()), open(1, "echo")]),
            Error::ExpectedAuth,
        ),
        (
            "HELLO flag, then HELLO",
            wire(&[Frame::HelloAuth(defaults()), hello(defaults())]),
            Error::ExpectedAuth,
        ),
        (
            "HELLO flag, then GOAWAY",
            wire(&[
                Frame::HelloAuth(defaults()),
                Frame::GoAway {
                    last_id: 0,
                    code: ErrorCode::NO_ERROR,
                    debug: b"",
                },
            ]),
            Error::ExpectedAuth,
        ),
    ];
    for (name, input, err) in cases {
        let mut s = server();
        let mut out = Vec::new();
        let (_, r) = feed(&mut s, &input, &mut out);
        assert_eq!(r, Err(err), "{name}");
        assert_eq!(err.code(), Some(ErrorCode::PROTOCOL_ERROR), "{name}");
        assert_eq!(last_goaway(&out), (0, ErrorCode::PROTOCOL_ERROR), "{name}");
        if err != Error::UnexpectedAuth {
            assert_eq!(frames(&out).len(), 1, "{name}: only the GOAWAY, no HELLO");
        }
    }
}

#[test]
fn a_second_auth_after_the_handshake_is_a_protocol_error() {
    let (_, to_server) = client_hello(TOKEN);
    let mut s = server();
    let mut out = Vec::new();
    let (ev, _) = feed(&mut s, &to_server, &mut out);
    assert_eq!(ev, [Event::Auth(TOKEN)]);
    s.accept_hello(&mut out).unwrap();
    let (_, r) = feed(&mut s, &wire(&[Frame::Auth(TOKEN)]), &mut out);
    assert_eq!(r, Err(Error::UnexpectedAuth));
    assert_eq!(last_goaway(&out), (0, ErrorCode::PROTOCOL_ERROR));
}

#[test]
fn a_server_hello_with_the_auth_flag_is_refused_by_the_client() {
    for (name, input, err) in [
        (
            "HELLO flag",
            wire(&[Frame::HelloAuth(defaults())]),
            Error::UnexpectedAuth,
        ),
        (
            "AUTH after HELLO",
            wire(&[hello(defaults()), Frame::Auth(b"t")]),
            Error::UnexpectedAuth,
        ),
        (
            "AUTH first",
            wire(&[Frame::Auth(b"t")]),
            Error::ExpectedHello,
        ),
    ] {
        let (mut c, _) = client_hello(TOKEN);
        let mut out = Vec::new();
        let (_, r) = feed(&mut c, &input, &mut out);
        assert_eq!(r, Err(err), "{name}");
        assert_eq!(last_goaway(&out), (0, ErrorCode::PROTOCOL_ERROR), "{name}");
        assert!(!c.is_ready(), "{name}");
    }
}

#[test]
fn oversized_auth_closes_the_connection_before_its_payload() {
    let mut input = wire(&[Frame::HelloAuth(defaults())]);
    encode_header(&mut input, FrameType::Auth, 0, 0, MAX_AUTH_TOKEN + 1);
    let mut s = server();
    let mut out = Vec::new();
    let (ev, r) = feed(&mut s, &input, &mut out);
    assert!(ev.is_empty());
    assert_eq!(r, Err(Error::InvalidFrameLength));
    assert_eq!(last_goaway(&out), (0, ErrorCode::FRAME_SIZE_ERROR));
}

#[test]
fn a_token_may_exceed_the_smallest_frame_size() {
    let token = vec![b'k'; MAX_AUTH_TOKEN];
    let (_, to_server) = client_hello(&token);
    let tight = Settings {
        max_frame_size: 1024,
        ..defaults()
    };
    let mut s = Connection::new(Role::Server, tight).unwrap();
    let mut out = Vec::new();
    let (ev, _) = feed(&mut s, &to_server, &mut out);
    assert_eq!(ev, [Event::Auth(&token[..])]);
}

#[test]
fn hello_and_auth_split_at_every_byte_give_the_same_verdict() {
    let (_, mut input) = client_hello(TOKEN);
    let handshake = input.len();
    input.extend(wire(&[open(1, "echo")]));
    for cut in 0..=input.len() {
        let mut s = server();
        let mut out = Vec::new();
        let (first, rest) = input.split_at(cut);
        let (used, ev) = s.decode(first, &mut out).unwrap();
        assert!(out.is_empty(), "cut {cut}: answered before the decision");
        let mut pending = first[used..].to_vec();
        pending.extend_from_slice(rest);
        let (ev, used) = match ev {
            Some(ev) => (ev, used),
            None => {
                assert!(cut < handshake, "cut {cut}");
                let (n, ev) = s.decode(&pending, &mut out).unwrap();
                let token = match ev {
                    Some(Event::Auth(t)) => t.to_vec(),
                    other => panic!("cut {cut}: {other:?}"),
                };
                assert_eq!(token, TOKEN, "cut {cut}");
                pending.drain(..n);
                s.accept_hello(&mut out).unwrap();
                let (_, ev) = s.decode(&pending, &mut out).unwrap();
                assert_eq!(
                    ev,
                    Some(Event::StreamOpened {
                        id: 1,
                        service: "echo"
                    }),
                    "cut {cut}"
                );
                assert_eq!(frames(&out), [Frame::Hello(defaults())], "cut {cut}");
                continue;
            }
        };
        assert!(cut >= handshake, "cut {cut}");
        assert_eq!(ev, Event::Auth(TOKEN), "cut {cut}");
        assert_eq!(used, handshake, "cut {cut}");
    }
}

#[test]
fn tokens_are_bounded_and_never_printed() {
    for bad in [&b""[..], &[b'a'; MAX_AUTH_TOKEN + 1][..]] {
        let e = Connection::new_client_with_token(defaults(), bad).unwrap_err();
        assert_eq!(e, Error::BadToken);
        assert!(!e.is_fatal());
    }
    let c = Connection::new_client_with_token(defaults(), b"s3cret-token").unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    // A plain client sends a plain HELLO, as before.
    let mut plain = Connection::new(Role::Client, defaults()).unwrap();
    let mut out = Vec::new();
    plain.hello(&mut out).unwrap();
    assert_eq!(frames(&out), [Frame::Hello(defaults())]);
}

#[test]
fn accept_hello_needs_a_pending_token() {
    let mut out = Vec::new();
    assert_eq!(server().accept_hello(&mut out), Err(Error::NotReady));
    let mut c = Connection::new(Role::Client, defaults()).unwrap();
    assert_eq!(c.accept_hello(&mut out), Err(Error::WrongRole));
    let mut s = server();
    let input = wire(&[hello(defaults())]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev,
        [Event::Hello(defaults())],
        "no flag: answered by the codec"
    );
    assert_eq!(s.accept_hello(&mut out), Err(Error::WrongRole));
    assert!(out.is_empty() || frames(&out) == [Frame::Hello(defaults())]);
}

#[test]
fn oversized_auth_is_refused_from_its_header() {
    // 12 bytes announcing a 4097-byte token: refused before any of the token arrives.
    let mut b = Vec::new();
    encode_header(&mut b, FrameType::Auth, 0, 0, MAX_AUTH_TOKEN + 1);
    assert_eq!(
        stream::decode(&b, &Settings::default()),
        Err(Error::InvalidFrameLength)
    );
    assert_eq!(
        Error::InvalidFrameLength.code(),
        Some(ErrorCode::FRAME_SIZE_ERROR)
    );
    // At the bound, a header alone is just incomplete.
    b.clear();
    encode_header(&mut b, FrameType::Auth, 0, 0, MAX_AUTH_TOKEN);
    assert_eq!(stream::decode(&b, &Settings::default()), Ok(None));
}
