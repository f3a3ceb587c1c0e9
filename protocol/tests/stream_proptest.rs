//! Property tests for the stream protocol: frame round trips; a server's events and output
//! do not depend on how its input is split; it never delivers DATA beyond a window or on a
//! stream that is not open (checked by the model in `fuzzing::stream`). The client/server
//! pair under random operations is in `stream_pair.rs`.

use proptest::collection::vec;
use proptest::prelude::*;
use ringwire_protocol::fuzzing::stream::{App, run_server};
use ringwire_protocol::stream::{
    self, ErrorCode, Frame, MAX_FRAME_SIZE, MAX_SERVICE_NAME, MAX_STREAM_ID, MAX_WINDOW, Settings,
};

/// An owned frame, for strategies.
#[derive(Debug, Clone)]
enum F {
    Hello(Settings),
    HelloAuth(Settings),
    Auth(Vec<u8>),
    Open(u32, String),
    Data(u32, Vec<u8>, bool),
    Reset(u32, u32),
    Update(u32, u32),
    Ping([u8; 8]),
    Pong([u8; 8]),
    GoAway(u32, u32, Vec<u8>),
}

impl F {
    fn frame(&self) -> Frame<'_> {
        match self {
            F::Hello(s) => Frame::Hello(*s),
            F::HelloAuth(s) => Frame::HelloAuth(*s),
            F::Auth(t) => Frame::Auth(t),
            F::Open(id, s) => Frame::Open {
                id: *id,
                service: s,
            },
            F::Data(id, d, end) => Frame::Data {
                id: *id,
                data: d,
                end: *end,
            },
            F::Reset(id, c) => Frame::Reset {
                id: *id,
                code: ErrorCode(*c),
            },
            F::Update(id, n) => Frame::WindowUpdate {
                id: *id,
                increment: *n,
            },
            F::Ping(p) => Frame::Ping(*p),
            F::Pong(p) => Frame::Pong(*p),
            F::GoAway(id, c, d) => Frame::GoAway {
                last_id: *id,
                code: ErrorCode(*c),
                debug: d,
            },
        }
    }
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        1024..=MAX_FRAME_SIZE,
        0..=MAX_WINDOW,
        0..=MAX_WINDOW,
        0..=MAX_WINDOW,
        1..=MAX_SERVICE_NAME,
    )
        .prop_map(|(f, s, c, m, n)| Settings {
            max_frame_size: f,
            initial_stream_window: s,
            initial_connection_window: c,
            max_concurrent_streams: m,
            max_service_name: n,
        })
}

/// Any valid frame.
fn valid_frame() -> impl Strategy<Value = F> {
    let id = 1..=MAX_STREAM_ID;
    prop_oneof![
        settings().prop_map(F::Hello),
        settings().prop_map(F::HelloAuth),
        vec(any::<u8>(), 1..=stream::MAX_AUTH_TOKEN).prop_map(F::Auth),
        (id.clone(), "[!-~]{1,255}").prop_map(|(i, s)| F::Open(i, s)),
        (id.clone(), vec(any::<u8>(), 0..3000), any::<bool>())
            .prop_map(|(i, d, e)| F::Data(i, d, e)),
        (id.clone(), any::<u32>()).prop_map(|(i, c)| F::Reset(i, c)),
        (0..=MAX_STREAM_ID, 1..=MAX_WINDOW).prop_map(|(i, n)| F::Update(i, n)),
        any::<[u8; 8]>().prop_map(F::Ping),
        any::<[u8; 8]>().prop_map(F::Pong),
        (0..=MAX_STREAM_ID, any::<u32>(), vec(any::<u8>(), 0..100))
            .prop_map(|(i, c, d)| F::GoAway(i, c, d)),
    ]
}

/// What a client might send a server, right or wrong, before stream ids are assigned.
#[derive(Debug, Clone)]
enum S {
    /// OPEN on the next id (or, with `skip`, a few ids further on).
    Open(&'static str, bool),
    /// A frame on an opened stream, picked by index.
    Data(usize, usize, bool),
    Reset(usize, u32),
    Update(usize, u32),
    ConnUpdate(u32),
    /// A frame as is, ids and all (mostly wrong ones).
    Raw(F),
}

fn session_step() -> impl Strategy<Value = S> {
    let name = prop_oneof![
        Just("echo"),
        Just("xx"),
        Just("pubsub/ch"),
        Just("toolongname")
    ];
    let len = prop_oneof![8 => 0usize..1000, 1 => 1000usize..1800];
    let raw = prop_oneof![
        (prop_oneof![Just(2u32), Just(99)], 0usize..10).prop_map(|(i, n)| F::Data(
            i,
            vec![1; n],
            false
        )),
        Just(F::Open(1, "again".into())),
        any::<[u8; 8]>().prop_map(F::Ping),
        Just(F::GoAway(0, 0, b"bye".to_vec())),
        Just(F::Hello(Settings::default())),
        Just(F::HelloAuth(Settings::default())),
        Just(F::Auth(b"token".to_vec())),
        Just(F::Update(0, MAX_WINDOW)),
    ];
    prop_oneof![
        4 => (name, prop::bool::weighted(0.1)).prop_map(|(n, skip)| S::Open(n, skip)),
        10 => (any::<usize>(), len, prop::bool::weighted(0.2)).prop_map(|(i, n, e)| S::Data(i, n, e)),
        1 => (any::<usize>(), 0u32..12).prop_map(|(i, c)| S::Reset(i, c)),
        2 => (any::<usize>(), prop_oneof![9 => 1u32..5000, 1 => Just(MAX_WINDOW)])
            .prop_map(|(i, n)| S::Update(i, n)),
        2 => (1u32..5000).prop_map(S::ConnUpdate),
        1 => raw.prop_map(S::Raw),
    ]
}

/// Assigns stream ids: OPENs take increasing odd ids, other frames name an opened stream.
/// `auth`: 0 a plain HELLO first; 1 a HELLO with the AUTH flag and a token the fuzzing
/// application accepts; 2 one it refuses (it starts with `x`).
fn session(steps: &[S], auth: u8) -> Vec<F> {
    let mut opened: Vec<u32> = Vec::new();
    let mut next = 1;
    let pick = |opened: &[u32], i: usize| opened.get(i % opened.len().max(1)).copied().unwrap_or(1);
    let mut frames = match auth {
        0 => vec![F::Hello(Settings::default())],
        1 => vec![
            F::HelloAuth(Settings::default()),
            F::Auth(b"token".to_vec()),
        ],
        _ => vec![
            F::HelloAuth(Settings::default()),
            F::Auth(b"xpired".to_vec()),
        ],
    };
    for (k, step) in steps.iter().enumerate() {
        let names_stream = matches!(step, S::Data(..) | S::Reset(..) | S::Update(..));
        if names_stream && opened.is_empty() {
            opened.push(next);
            frames.push(F::Open(next, "echo".into()));
            next += 2;
        }
        frames.push(match step {
            S::Open(name, skip) => {
                let id = next + if *skip { 4 } else { 0 };
                next = id + 2;
                opened.push(id);
                F::Open(id, name.to_string())
            }
            S::Data(i, n, end) => F::Data(pick(&opened, *i), vec![k as u8; *n], *end),
            S::Reset(i, code) => F::Reset(pick(&opened, *i), *code),
            S::Update(i, n) => F::Update(pick(&opened, *i), *n),
            S::ConnUpdate(n) => F::Update(0, *n),
            S::Raw(f) => f.clone(),
        });
    }
    frames
}

fn wire(frames: &[F]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        f.frame().encode(&mut out);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn frames_round_trip(f in valid_frame()) {
        let frame = f.frame();
        let mut bytes = Vec::new();
        frame.encode(&mut bytes);
        prop_assert_eq!(bytes.len(), frame.encoded_len());
        let any = Settings {
            max_frame_size: MAX_FRAME_SIZE,
            max_service_name: MAX_SERVICE_NAME,
            ..Settings::default()
        };
        prop_assert_eq!(stream::decode(&bytes, &any), Ok(Some((frame, bytes.len()))));
    }

    #[test]
    fn server_verdict_is_split_invariant_and_respects_windows(
        steps in vec(session_step(), 0..40),
        control in any::<u8>(),
        cuts in vec(0usize..40_000, 0..12),
        auth in 0u8..3,
    ) {
        // The model in run_server checks windows and stream states on every event.
        let app = App { hello: false, ..App::from_byte(control) };
        let input = wire(&session(&steps, auth));
        let whole = run_server(app, &input, &[]);
        let mut cuts = cuts;
        cuts.sort_unstable();
        prop_assert_eq!(&run_server(app, &input, &cuts), &whole);
        if input.len() <= 2048 {
            let bytewise: Vec<usize> = (0..input.len()).collect();
            prop_assert_eq!(&run_server(app, &input, &bytewise), &whole);
        }
    }

    #[test]
    fn fuzz_target_holds_on_mutated_sessions(
        steps in vec(session_step(), 0..20),
        control in any::<u8>(),
        edits in vec((any::<usize>(), any::<u8>()), 0..4),
        auth in 0u8..3,
    ) {
        let mut input = vec![control & 0x3f];
        input.extend(wire(&session(&steps, auth)));
        for (at, b) in edits {
            let i = at % input.len();
            input[i] = b;
        }
        ringwire_protocol::fuzzing::stream_conn(&input);
    }
}
