//! Property tests: encode-then-parse round trips, split invariance of heads and chunked
//! bodies, and pipelined streams parsing like their requests one by one.

mod util;

use proptest::collection::vec;
use proptest::prelude::*;
use ringwire_protocol::fuzzing::{self, BodyOutcome, PipelineItem};
use ringwire_protocol::http1::{Framing, Limits, Parser, Version};
use util::arb::{Req, request};
use util::{decode, parse_with};

fn mutate(mut data: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    const BYTES: &[u8] = b"\r\n \t:\0;=,\"\\/?#%0aAfF\x7f\x80";
    for &(at, pick) in edits {
        if data.is_empty() {
            break;
        }
        let i = at % data.len();
        match pick % 3 {
            0 => data[i] = BYTES[pick as usize % BYTES.len()],
            1 => {
                data.remove(i);
            }
            _ => data.insert(i, BYTES[pick as usize % BYTES.len()]),
        }
    }
    data
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn roundtrip_encoded_request_parses_to_itself(r in request()) {
        let wire = r.encode();
        let head = parse_with(Limits::default(), &wire).unwrap().expect("complete");
        prop_assert_eq!(&head.method, &r.method);
        prop_assert_eq!(&head.path, &r.path);
        prop_assert_eq!(&head.query, &r.query);
        prop_assert_eq!(head.version, if r.http10 { Version::Http10 } else { Version::Http11 });
        prop_assert_eq!(&head.host, &r.host);
        prop_assert_eq!(&head.headers, &r.all_headers());
        prop_assert_eq!(head.keep_alive, r.keep_alive());
        let framing = match (&r.chunks, r.body.len()) {
            (Some(_), _) => Framing::Chunked,
            (None, 0) => Framing::None,
            (None, n) => Framing::Length(n as u64),
        };
        prop_assert_eq!(head.framing, framing);
        let (body, used) = decode(framing, &Limits::default(), &wire[head.len..]).unwrap();
        prop_assert_eq!(body, r.body.clone());
        prop_assert_eq!(head.len + used, wire.len());
    }

    #[test]
    fn head_verdict_is_split_invariant(
        r in request(),
        edits in vec((any::<usize>(), any::<u8>()), 0..4),
        tight in any::<bool>(),
    ) {
        let data = mutate(r.encode(), &edits);
        let limits = fuzzing::limit_sets()[usize::from(tight)];
        let mut parser = Parser::new(limits);
        let full = fuzzing::parse_once(&mut parser, &data);
        for end in 0..=data.len() {
            let prefix = fuzzing::parse_once(&mut parser, &data[..end]);
            match (&full, &prefix) {
                (fuzzing::HeadOutcome::Complete(n, _), fuzzing::HeadOutcome::Partial) => {
                    prop_assert!(end < *n)
                }
                (_, fuzzing::HeadOutcome::Partial) => {}
                _ => prop_assert_eq!(&prefix, &full, "prefix {}", end),
            }
        }
    }

    #[test]
    fn chunked_body_is_split_invariant(
        r in request(),
        edits in vec((any::<usize>(), any::<u8>()), 0..3),
        cuts in vec(any::<usize>(), 0..6),
        tight in any::<bool>(),
    ) {
        let Some((sizes, ext)) = r.chunks.clone() else { return Ok(()) };
        let mut wire = Vec::new();
        let mut at = 0;
        for n in sizes {
            let e = if ext { ";a=\"b\"" } else { "" };
            wire.extend_from_slice(format!("{n:x}{e}\r\n").as_bytes());
            wire.extend_from_slice(&r.body[at..at + n]);
            wire.extend_from_slice(b"\r\n");
            at += n;
        }
        wire.extend_from_slice(b"0\r\nT: v\r\n\r\n");
        let data = mutate(wire, &edits);
        let limits = fuzzing::limit_sets()[usize::from(tight)];
        let whole = fuzzing::decode_split(Framing::Chunked, &limits, &data, &[]);
        if edits.is_empty() && !tight {
            prop_assert_eq!(&whole, &(r.body.clone(), BodyOutcome::End(data.len())));
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        cuts.sort_unstable();
        let split = fuzzing::decode_split(Framing::Chunked, &limits, &data, &cuts);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn pipeline_parses_like_requests_one_by_one(
        reqs in vec(request(), 1..5),
        cuts in vec(1usize..40, 0..10),
    ) {
        // HTTP/1.0 without keep-alive would end the exchange, but the parser does not care:
        // connection management is the server's decision, parsing goes on.
        let wires: Vec<Vec<u8>> = reqs.iter().map(Req::encode).collect();
        let stream = wires.concat();
        let mut expected = Vec::new();
        for w in &wires {
            let mut one = fuzzing::run_pipeline(Limits::default(), w, &[]);
            prop_assert_eq!(one.pop(), Some(PipelineItem::Incomplete));
            prop_assert_eq!(one.len(), 1);
            expected.extend(one);
        }
        expected.push(PipelineItem::Incomplete);
        prop_assert_eq!(&fuzzing::run_pipeline(Limits::default(), &stream, &[]), &expected);
        let mut at = 0;
        let cuts: Vec<usize> = cuts.iter().map(|c| { at += c; at }).collect();
        prop_assert_eq!(&fuzzing::run_pipeline(Limits::default(), &stream, &cuts), &expected);
    }
}
