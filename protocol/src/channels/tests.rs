//! Round trips and refusals of the `channels` messages.

use super::*;

fn round_trip(req: Request<'_>) {
    let mut out = Vec::new();
    req.encode(&mut out);
    let (body, used) = split(&out).unwrap().unwrap();
    assert_eq!(used, out.len());
    assert_eq!(parse_request(body).unwrap(), req);
    for cut in 0..out.len() {
        assert_eq!(split(&out[..cut]).unwrap(), None);
    }
}

#[test]
fn channel_names_follow_the_nats_token_grammar() {
    for good in [
        "a",
        "orders.eu",
        "a.b.c",
        "A-Z_0:9",
        "x-1.y_2.z:3",
        &"x".repeat(MAX_CHANNEL),
    ] {
        assert!(valid_channel(good.as_bytes()), "{good:?}");
    }
    for (bad, why) in [
        ("", "empty"),
        (&"x".repeat(MAX_CHANNEL + 1)[..], "longer"),
        (".a", "dot"),
        ("a.", "dot"),
        ("a..b", "dot"),
        (".", "dot"),
        ("a b", "allowed"),
        ("a*", "allowed"),
        ("a.>", "allowed"),
        ("caf\u{e9}", "allowed"),
        ("a\0", "allowed"),
    ] {
        assert!(!valid_channel(bad.as_bytes()), "{bad:?}");
        assert!(name_fault(bad.as_bytes()).unwrap().contains(why), "{bad:?}");
    }
}

#[test]
fn requests_round_trip() {
    round_trip(Request::Pub {
        id: 1,
        channel: "orders.eu",
        data: b"hello",
    });
    round_trip(Request::Pub {
        id: 2,
        channel: "a",
        data: b"",
    });
    for start in [
        Start::New,
        Start::From(1),
        Start::Last(u64::MAX),
        Start::SinceMs(1_700_000_000_000),
    ] {
        round_trip(Request::Sub {
            id: 3,
            channel: "audit",
            start,
        });
        round_trip(Request::Consume {
            id: 4,
            channel: "audit",
            consumer: "billing",
            ack_wait_ms: 300,
            max_ack_pending: 0,
            start,
        });
    }
    round_trip(Request::Ack { id: 5, seq: 7 });
    round_trip(Request::Nak { id: 6, seq: 8 });
    round_trip(Request::Info {
        id: 7,
        channel: "x",
    });
    round_trip(Request::DeleteConsumer {
        id: u32::MAX,
        channel: "x.y",
        consumer: "c",
    });
}

#[test]
fn the_wire_is_the_documented_one() {
    let mut out = Vec::new();
    Request::Sub {
        id: 9,
        channel: "ab",
        start: Start::From(3),
    }
    .encode(&mut out);
    assert_eq!(
        out,
        [
            0, 0, 0, 17, 0, 0, 0, 9, 2, 2, b'a', b'b', 1, 0, 0, 0, 0, 0, 0, 0, 3
        ]
    );
    out.clear();
    encode_message(5, 2, b"hi", &mut out);
    assert_eq!(
        out,
        [
            0, 0, 0, 15, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, b'h', b'i'
        ]
    );
}

#[test]
fn bad_requests_name_their_fault() {
    let err = |body: &[u8]| parse_request(body).unwrap_err();
    assert_eq!(
        split(&u32::MAX.to_be_bytes()),
        Err(Error::TooLong(u32::MAX as usize))
    );
    assert_eq!(
        err(&[0, 0, 0, 1, 9]),
        Error::Unknown {
            what: "op",
            value: 9
        }
    );
    assert_eq!(err(&[0, 0, 0, 1]), Error::Truncated);
    assert_eq!(err(&[0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0]), Error::Truncated);
    assert_eq!(
        err(&[0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0, 1, 9]),
        Error::Trailing(1)
    );
    assert_eq!(err(&[0, 0, 0, 1, 6, 3, b'a', b'b']), Error::Truncated);
    assert_eq!(
        err(&[0, 0, 0, 1, 2, 1, b'a', 7]),
        Error::Unknown {
            what: "start",
            value: 7
        }
    );
    let bad = err(&[0, 0, 0, 1, 6, 3, b'a', b'.', b'.']);
    assert!(
        matches!(
            bad,
            Error::BadName {
                what: "channel",
                ..
            }
        ),
        "{bad:?}"
    );
    assert!(
        bad.to_string().starts_with("bad channel name: a dot"),
        "{bad}"
    );
    let bad = err(&[0, 0, 0, 1, 6, 0]);
    assert_eq!(bad.to_string(), "bad channel name: it is empty");
    let bad = err(&[0, 0, 0, 1, 7, 1, b'a', 1, b'*']);
    assert!(
        matches!(
            bad,
            Error::BadName {
                what: "consumer",
                ..
            }
        ),
        "{bad:?}"
    );
    let mut long = vec![0, 0, 0, 1, 6, 65];
    long.extend_from_slice(&[b'x'; 65]);
    assert_eq!(
        err(&long).to_string(),
        "bad channel name: it is longer than 64 bytes"
    );
}

fn answer_round_trip(id: u32, op: Op, answer: Answer<'_>) {
    let mut out = Vec::new();
    encode_answer(id, op, &answer, &mut out);
    let (body, used) = split(&out).unwrap().unwrap();
    assert_eq!(used, out.len());
    let want = ServerMessage::Answer { id, op, answer };
    assert_eq!(parse_server_message(body).unwrap(), want);
}

#[test]
fn answers_round_trip() {
    answer_round_trip(1, Op::Pub, Answer::Published { seq: 0 });
    answer_round_trip(1, Op::Pub, Answer::Published { seq: 42 });
    answer_round_trip(2, Op::Sub, Answer::Subscribed { first: 1, next: 9 });
    answer_round_trip(3, Op::Consume, Answer::Subscribed { first: 0, next: 0 });
    let info = Answer::Info {
        first: 3,
        next: 10,
        count: 7,
        bytes: 700,
    };
    answer_round_trip(4, Op::Info, info);
    for op in [Op::Ack, Op::Nak, Op::DeleteConsumer] {
        answer_round_trip(5, op, Answer::Done);
    }
    for status in (1..=13).map(|b| Status::from_u8(b).unwrap()) {
        let answer = Answer::Failed {
            status,
            message: "why",
        };
        answer_round_trip(6, Op::Sub, answer);
    }
    assert_eq!(Status::from_u8(14), None);
    assert_eq!(Status::NotDurable.to_string(), "NOT_DURABLE");
    for (status, n, name) in [
        (Status::Unauthorized, 11, "UNAUTHORIZED"),
        (Status::Forbidden, 12, "FORBIDDEN"),
        (Status::RateLimited, 13, "RATE_LIMITED"),
    ] {
        assert_eq!((status as u8, status.name()), (n, name));
    }
}

#[test]
fn bad_server_messages_name_their_fault() {
    let err = |body: &[u8]| parse_server_message(body).unwrap_err();
    assert_eq!(
        err(&[2]),
        Error::Unknown {
            what: "kind",
            value: 2
        }
    );
    assert_eq!(
        err(&[0, 0, 0, 0, 1, 1, 14]),
        Error::Unknown {
            what: "status",
            value: 14
        }
    );
    assert_eq!(
        err(&[0, 0, 0, 0, 1, 0, 0]),
        Error::Unknown {
            what: "op",
            value: 0
        }
    );
    assert_eq!(err(&[0, 0, 0, 0, 1, 1, 0, 0]), Error::Truncated);
    assert_eq!(err(&[0, 0, 0, 0, 1, 4, 0, 0]), Error::Trailing(1));
    assert_eq!(err(&[0, 0, 0, 0, 1, 1, 7, 0xff]), Error::NotUtf8);
    assert_eq!(err(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]), Error::Truncated);
}
