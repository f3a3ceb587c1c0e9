//! The `kv` stream service on the PostgreSQL backend: reads, scans and writes through the
//! worker's pool, and one stream's pipelined writes applied in the order sent (on PostgreSQL
//! they run on concurrent pooled connections, so this is not free), on both I/O backends.

mod util;

use ringwire_protocol::kv::{self, Cond, Op, Request, Response};
use util::{
    Server,
    kvstream::{exchange, with_stream},
    pg::PgCluster,
};

both_backends! {
    fn pipelined_writes_of_one_stream_apply_in_order(io) {
        let Some(pg) = PgCluster::start() else { return };
        let url = pg.url();
        let s = Server::start(io, &["--workers", "1", "--db-backend", "postgres", "--db-url", &url]);
        let values: Vec<String> = (0..200).map(|i| format!("v{i}")).collect();
        let answers = with_stream(io, &s, async |c| {
            let mut reqs: Vec<Request> = values
                .iter()
                .enumerate()
                .map(|(i, v)| Request::Put { id: i as u32, cond: Cond::Any, key: b"k", value: v.as_bytes() })
                .collect();
            reqs.push(Request::Put { id: 1000, cond: Cond::Absent, key: b"other", value: b"x" });
            exchange(&c, &reqs).await
        });
        assert_eq!(answers.len(), values.len() + 1);
        let mut versions = vec![0u64; values.len()];
        for body in &answers {
            match kv::decode_response(body, Op::Put).unwrap() {
                Response::Written { id: 1000, created: true, .. } => {}
                Response::Written { id, version, .. } => versions[id as usize] = version,
                other => panic!("{other:?}"),
            }
        }
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "each write applied after the one sent before it");
        let answers = with_stream(io, &s, async |c| {
            exchange(&c, &[
                Request::Get { id: 1, key: b"k" },
                Request::Get { id: 2, key: b"none" },
                Request::Scan { id: 3, prefix: b"", after: b"", limit: 10 },
            ]).await
        });
        for body in &answers {
            let id = kv::response_id(body).unwrap();
            let op = if id == 3 { Op::Scan } else { Op::Get };
            match (id, kv::decode_response(body, op).unwrap()) {
                (1, Response::Value { value, version, .. }) => {
                    assert_eq!((value, version), (b"v199".as_slice(), versions[199]));
                }
                (2, Response::NotFound { .. }) => {}
                (3, Response::Keys { keys, next, .. }) => {
                    assert_eq!(keys, vec![b"k".as_slice(), b"other".as_slice()]);
                    assert!(next.is_none());
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
