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
                | Response::Failed { id, .. } => id,
            }
        );
        assert_eq!(decode_response(body, op).unwrap(), r);
    }
}
