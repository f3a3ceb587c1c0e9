//! The `kv` service's codec: every request round-trips, split anywhere, and arbitrary bytes
//! never panic the decoder.

use proptest::prelude::*;
use ringwire_protocol::kv::{
    Cond, Op, Request, Response, Status, decode_request, decode_response, encode_request,
    encode_response, split,
};

fn cond() -> impl Strategy<Value = Cond> {
    prop_oneof![
        Just(Cond::Any),
        Just(Cond::Absent),
        Just(Cond::Exists),
        any::<u64>().prop_map(Cond::Version)
    ]
}

#[derive(Debug, Clone)]
enum Owned {
    Get(u32, Vec<u8>),
    Put(u32, Cond, Vec<u8>, Vec<u8>),
    Delete(u32, Cond, Vec<u8>),
    Scan(u32, Vec<u8>, Vec<u8>, u16),
}

impl Owned {
    fn borrow(&self) -> Request<'_> {
        match self {
            Owned::Get(id, k) => Request::Get { id: *id, key: k },
            Owned::Put(id, c, k, v) => Request::Put {
                id: *id,
                cond: *c,
                key: k,
                value: v,
            },
            Owned::Delete(id, c, k) => Request::Delete {
                id: *id,
                cond: *c,
                key: k,
            },
            Owned::Scan(id, p, a, n) => Request::Scan {
                id: *id,
                prefix: p,
                after: a,
                limit: *n,
            },
        }
    }
}

fn request() -> impl Strategy<Value = Owned> {
    let key = proptest::collection::vec(any::<u8>(), 1..=511);
    let bytes = proptest::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        (any::<u32>(), key.clone()).prop_map(|(i, k)| Owned::Get(i, k)),
        (any::<u32>(), cond(), key.clone(), bytes.clone())
            .prop_map(|(i, c, k, v)| Owned::Put(i, c, k, v)),
        (any::<u32>(), cond(), key).prop_map(|(i, c, k)| Owned::Delete(i, c, k)),
        (any::<u32>(), bytes.clone(), bytes, any::<u16>())
            .prop_map(|(i, p, a, n)| Owned::Scan(i, p, a, n)),
    ]
}

proptest! {
    #[test]
    fn a_pipeline_decodes_back_whatever_the_read_boundaries(
        reqs in proptest::collection::vec(request(), 1..6),
        cuts in proptest::collection::vec(1usize..64, 0..20),
    ) {
        let mut wire = Vec::new();
        for r in &reqs {
            encode_request(&r.borrow(), &mut wire);
        }
        // Feed it in pieces, as a socket would deliver it.
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut at = 0;
        let mut cuts = cuts.into_iter();
        while at < wire.len() {
            let n = cuts.next().unwrap_or(wire.len()).min(wire.len() - at);
            buf.extend_from_slice(&wire[at..at + n]);
            at += n;
            while let Some((body, used)) = split(&buf).unwrap() {
                got.push(format!("{:?}", decode_request(body).unwrap()));
                buf.drain(..used);
            }
        }
        let want: Vec<String> = reqs.iter().map(|r| format!("{:?}", r.borrow())).collect();
        prop_assert_eq!(got, want);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        ringwire_protocol::fuzzing::kv_request(&data);
    }

    #[test]
    fn edge_answers_round_trip(
        id in any::<u32>(),
        retry_after_ms in any::<u32>(),
        forbidden in any::<bool>(),
        message in ".{0,60}",
        op in prop_oneof![Just(Op::Get), Just(Op::Put), Just(Op::Delete), Just(Op::Scan)],
    ) {
        let status = if forbidden { Status::Forbidden } else { Status::Unauthorized };
        for r in [
            Response::RateLimited { id, retry_after_ms },
            Response::Failed { id, status, message: &message },
        ] {
            let mut out = Vec::new();
            encode_response(&r, &mut out);
            let (body, used) = split(&out).unwrap().unwrap();
            prop_assert_eq!(used, out.len());
            prop_assert_eq!(decode_response(body, op).unwrap(), r);
        }
    }
}
