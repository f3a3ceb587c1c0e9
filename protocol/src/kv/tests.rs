//! Round trips and refusals of the `kv` messages.

use super::*;

fn round_trip(req: Request<'_>) {
    let mut out = Vec::new();
    encode_request(&req, &mut out);
    let (body, used) = split(&out).unwrap().unwrap();
    assert_eq!(used, out.len());
    assert_eq!(decode_request(body).unwrap(), req);
    // Every strict prefix is incomplete, never an error.
    for cut in 0..out.len() {
        assert_eq!(split(&out[..cut]).unwrap(), None);
    }
}

#[test]
fn requests_round_trip() {
    round_trip(Request::Get { id: 1, key: b"k" });
    round_trip(Request::Put {
        id: 2,
        cond: Cond::Version(9),
        key: b"k",
        value: b"v",
    });
    round_trip(Request::Put {
        id: 3,
        cond: Cond::Absent,
        key: b"k",
        value: b"",
    });
    round_trip(Request::Delete {
        id: 4,
        cond: Cond::Exists,
        key: b"key",
    });
    round_trip(Request::Scan {
        id: 5,
        prefix: b"a/",
        after: b"",
        limit: 10,
    });
}

#[test]
fn bad_messages_name_their_fault() {
    assert_eq!(
        split(&u32::MAX.to_be_bytes()),
        Err(DecodeError::TooLong(u32::MAX as usize))
    );
    assert_eq!(
        decode_request(&[0, 0, 0, 1, 9]),
        Err(DecodeError::Unknown(9))
    );
    assert_eq!(
        decode_request(&[0, 0, 0, 1, 1, 0, 0]),
        Err(DecodeError::BadKey(0))
    );
    assert_eq!(
        decode_request(&[0, 0, 0, 1, 1, 0, 1, b'k', 0]),
        Err(DecodeError::Truncated)
    );
    assert_eq!(
        decode_request(&[0, 0, 0, 1, 1, 0, 5, b'k']),
        Err(DecodeError::Truncated)
    );
}

#[test]
fn responses_round_trip() {
    let cases = [
        (
            Response::Value {
                id: 1,
                version: 7,
                value: b"v",
            },
            Op::Get,
        ),
        (
            Response::Written {
                id: 2,
                version: 8,
                created: true,
            },
            Op::Put,
        ),
        (Response::Deleted { id: 3 }, Op::Delete),
        (
            Response::Keys {
                id: 4,
                keys: vec![b"a", b"b"],
                next: Some(b"b"),
            },
            Op::Scan,
        ),
        (
            Response::Keys {
                id: 4,
                keys: vec![],
                next: None,
            },
            Op::Scan,
        ),
        (Response::NotFound { id: 5 }, Op::Get),
        (Response::Conflict { id: 6, current: 0 }, Op::Put),
        (
            Response::Failed {
                id: 7,
                status: Status::Full,
                message: "full",
            },
            Op::Put,
        ),
        (
            Response::Failed {
                id: 8,
                status: Status::Unauthorized,
                message: "a valid token is needed",
            },
            Op::Get,
        ),
        (
            Response::Failed {
                id: 9,
                status: Status::Forbidden,
                message: "",
            },
            Op::Scan,
        ),
        (
            Response::RateLimited {
                id: 10,
                retry_after_ms: 1500,
            },
            Op::Put,
        ),
    ];
    for (r, op) in cases {
        let mut out = Vec::new();
        encode_response(&r, &mut out);
        let (body, _) = split(&out).unwrap().unwrap();
        assert_eq!(
            response_id(body).unwrap(),
            match r {
                Response::Value { id, .. }
                | Response::Written { id, .. }
                | Response::Deleted { id }
                | Response::Keys { id, .. }
                | Response::NotFound { id }
                | Response::Conflict { id, .. }
                | Response::RateLimited { id, .. }
                | Response::Failed { id, .. } => id,
            }
        );
        assert_eq!(decode_response(body, op).unwrap(), r);
    }
}

#[test]
fn edge_statuses_have_their_wire_numbers() {
    let mut out = Vec::new();
    encode_response(
        &Response::RateLimited {
            id: 3,
            retry_after_ms: 0x0102_0304,
        },
        &mut out,
    );
    // length, id, status 10, retry-after in ms (u32 BE).
    assert_eq!(out, [0, 0, 0, 9, 0, 0, 0, 3, 10, 1, 2, 3, 4]);
    for (status, n) in [
        (Status::Unauthorized, 8),
        (Status::Forbidden, 9),
        (Status::RateLimited, 10),
    ] {
        assert_eq!(status as u8, n);
        assert_eq!(Status::from_u8(n), Some(status));
    }
    assert_eq!(Status::from_u8(11), None);
    // A RATE_LIMITED answer without its 4 bytes, or with more, is refused.
    assert_eq!(
        decode_response(&[0, 0, 0, 3, 10, 0, 0], Op::Get),
        Err(DecodeError::Truncated)
    );
    assert_eq!(
        decode_response(&[0, 0, 0, 3, 10, 0, 0, 0, 1, 0], Op::Get),
        Err(DecodeError::Truncated)
    );
}
