//! Property tests of the `channels` messages: pipelines of requests and of server messages
//! decode back whatever the read boundaries, and arbitrary or damaged bytes never panic.

use super::*;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_:-]{1,8}(\\.[A-Za-z0-9_:-]{1,8}){0,6}"
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        Just(Start::New),
        any::<u64>().prop_map(Start::From),
        any::<u64>().prop_map(Start::Last),
        any::<u64>().prop_map(Start::SinceMs),
    ]
}

/// An owned request, borrowed for encoding.
#[derive(Debug, Clone)]
enum Owned {
    Pub(u32, String, Vec<u8>),
    Sub(u32, String, Start),
    Consume(u32, String, String, u32, u32, Start),
    Ack(u32, u64),
    Nak(u32, u64),
    Info(u32, String),
    Delete(u32, String, String),
}

impl Owned {
    fn borrow(&self) -> Request<'_> {
        match self {
            Owned::Pub(id, channel, data) => Request::Pub {
                id: *id,
                channel,
                data,
            },
            Owned::Sub(id, channel, start) => Request::Sub {
                id: *id,
                channel,
                start: *start,
            },
            Owned::Consume(id, channel, consumer, wait, pending, start) => Request::Consume {
                id: *id,
                channel,
                consumer,
                ack_wait_ms: *wait,
                max_ack_pending: *pending,
                start: *start,
            },
            Owned::Ack(id, seq) => Request::Ack { id: *id, seq: *seq },
            Owned::Nak(id, seq) => Request::Nak { id: *id, seq: *seq },
            Owned::Info(id, channel) => Request::Info { id: *id, channel },
            Owned::Delete(id, channel, consumer) => Request::DeleteConsumer {
                id: *id,
                channel,
                consumer,
            },
        }
    }
}

fn request() -> impl Strategy<Value = Owned> {
    let id = any::<u32>();
    let data = proptest::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        (id, name(), data).prop_map(|(i, c, d)| Owned::Pub(i, c, d)),
        (id, name(), start()).prop_map(|(i, c, s)| Owned::Sub(i, c, s)),
        (id, name(), name(), any::<u32>(), any::<u32>(), start())
            .prop_map(|(i, c, n, w, p, s)| Owned::Consume(i, c, n, w, p, s)),
        (id, any::<u64>()).prop_map(|(i, s)| Owned::Ack(i, s)),
        (id, any::<u64>()).prop_map(|(i, s)| Owned::Nak(i, s)),
        (id, name()).prop_map(|(i, c)| Owned::Info(i, c)),
        (id, name(), name()).prop_map(|(i, c, n)| Owned::Delete(i, c, n)),
    ]
}

/// An owned server message.
#[derive(Debug, Clone)]
enum OwnedServer {
    Answer(u32, Op, OwnedAnswer),
    Message(u64, u32, Vec<u8>),
}

#[derive(Debug, Clone)]
enum OwnedAnswer {
    Ok([u64; 4]),
    Failed(u8, String),
}

fn op() -> impl Strategy<Value = Op> {
    (1u8..=7).prop_map(|b| Op::from_u8(b).unwrap())
}

fn server_message() -> impl Strategy<Value = OwnedServer> {
    let answer = prop_oneof![
        any::<[u64; 4]>().prop_map(OwnedAnswer::Ok),
        (1u8..=13, ".{0,40}").prop_map(|(s, m)| OwnedAnswer::Failed(s, m)),
    ];
    prop_oneof![
        (any::<u32>(), op(), answer).prop_map(|(i, o, a)| OwnedServer::Answer(i, o, a)),
        (
            any::<u64>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(s, d, data)| OwnedServer::Message(s, d, data)),
    ]
}

impl OwnedServer {
    fn borrow(&self) -> ServerMessage<'_> {
        match self {
            OwnedServer::Message(seq, deliveries, data) => ServerMessage::Message {
                seq: *seq,
                deliveries: *deliveries,
                data,
            },
            OwnedServer::Answer(id, op, a) => {
                let answer = match a {
                    OwnedAnswer::Failed(s, message) => Answer::Failed {
                        status: Status::from_u8(*s).unwrap(),
                        message,
                    },
                    OwnedAnswer::Ok([a, b, c, d]) => match op {
                        Op::Pub => Answer::Published { seq: *a },
                        Op::Sub | Op::Consume => Answer::Subscribed {
                            first: *a,
                            next: *b,
                        },
                        Op::Info => Answer::Info {
                            first: *a,
                            next: *b,
                            count: *c,
                            bytes: *d,
                        },
                        Op::Ack | Op::Nak | Op::DeleteConsumer => Answer::Done,
                    },
                };
                ServerMessage::Answer {
                    id: *id,
                    op: *op,
                    answer,
                }
            }
        }
    }
}

/// Feeds `wire` in pieces cut at `cuts`, as a socket would, and returns the bodies.
fn feed(wire: &[u8], cuts: Vec<usize>) -> Vec<Vec<u8>> {
    let mut buf = Vec::new();
    let mut bodies = Vec::new();
    let mut at = 0;
    let mut cuts = cuts.into_iter();
    while at < wire.len() {
        let n = cuts.next().unwrap_or(wire.len()).min(wire.len() - at);
        buf.extend_from_slice(&wire[at..at + n]);
        at += n;
        while let Some((body, used)) = split(&buf).unwrap() {
            bodies.push(body.to_vec());
            buf.drain(..used);
        }
    }
    assert!(buf.is_empty());
    bodies
}

proptest! {
    #[test]
    fn a_pipeline_of_requests_decodes_back_whatever_the_read_boundaries(
        reqs in proptest::collection::vec(request(), 1..6),
        cuts in proptest::collection::vec(1usize..64, 0..20),
    ) {
        let mut wire = Vec::new();
        for r in &reqs {
            r.borrow().encode(&mut wire);
        }
        let bodies = feed(&wire, cuts);
        let got: Vec<_> = bodies.iter().map(|b| parse_request(b).unwrap()).collect();
        let want: Vec<_> = reqs.iter().map(Owned::borrow).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn server_messages_decode_back_whatever_the_read_boundaries(
        msgs in proptest::collection::vec(server_message(), 1..6),
        cuts in proptest::collection::vec(1usize..64, 0..20),
    ) {
        let mut wire = Vec::new();
        for m in &msgs {
            m.borrow().encode(&mut wire);
        }
        let bodies = feed(&wire, cuts);
        let got: Vec<_> = bodies.iter().map(|b| parse_server_message(b).unwrap()).collect();
        let want: Vec<_> = msgs.iter().map(OwnedServer::borrow).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_what_parses_is_canonical(
        data in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        crate::fuzzing::channels_request(&data);
    }

    #[test]
    fn near_valid_requests_never_panic(
        req in request(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut wire = Vec::new();
        req.borrow().encode(&mut wire);
        for (at, b) in flips {
            let i = 4 + at.index(wire.len() - 4);
            wire[i] = b;
        }
        crate::fuzzing::channels_request(&wire);
    }

    #[test]
    fn valid_channel_agrees_with_a_split_reading(name in "[a-z.*> ]{0,70}") {
        let b = name.as_bytes();
        let want = (1..=MAX_CHANNEL).contains(&b.len())
            && name.split('.').all(|t| !t.is_empty() && t.bytes().all(|c| c.is_ascii_lowercase()));
        prop_assert_eq!(valid_channel(b), want);
    }
}
