//! Stream lifecycle rules (docs/PROTOCOL.md, "Streams"): opening, ending, resetting, ids,
//! concurrency, and what each violation does. The handshake is in `stream_handshake.rs`,
//! PING and GOAWAY in `stream_goaway.rs`, flow control in `stream_flow.rs`.

mod stream_util;

use ringwire_protocol::stream::{Error, ErrorCode, Event, Frame, Settings, StreamState};
use stream_util::{client_with, data, feed, frames, last_goaway, open, server, wire};

fn defaults() -> Settings {
    Settings::default()
}

// ---- stream lifecycle ----

#[test]
fn open_data_end_in_both_directions_closes_the_stream() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    let input = wire(&[open(1, "echo"), data(1, b"ping", false), data(1, b"", true)]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev,
        [
            Event::StreamOpened {
                id: 1,
                service: "echo"
            },
            Event::Data {
                id: 1,
                data: b"ping",
                end: false
            },
            Event::Data {
                id: 1,
                data: b"",
                end: true
            },
        ]
    );
    assert_eq!(s.stream_state(1), Some(StreamState::HalfClosedRemote));
    assert_eq!(s.send_data(1, b"pong", false, &mut out), Ok(4));
    s.end_stream(1, &mut out).unwrap();
    assert_eq!(s.stream_state(1), None);
    assert_eq!(s.open_streams(), 0);
    assert_eq!(frames(&out), [data(1, b"pong", false), data(1, b"", true)]);
    assert_eq!(
        s.send_data(1, b"x", false, &mut out),
        Err(Error::StreamNotOpen)
    );
}

#[test]
fn unknown_service_is_reset_by_the_application() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    let input = wire(&[
        open(1, "nope"),
        data(1, b"in flight", true),
        open(3, "echo"),
    ]);
    let mut pos = 0;
    let mut seen = Vec::new();
    while let (n, Some(ev)) = s.decode(&input[pos..], &mut out).unwrap() {
        pos += n;
        if let Event::StreamOpened {
            id,
            service: "nope",
        } = ev
        {
            s.reset(id, ErrorCode::UNKNOWN_SERVICE, &mut out).unwrap();
        }
        seen.push(format!("{ev:?}"));
    }
    // The DATA already sent on the refused stream is dropped without an event.
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        frames(&out),
        [Frame::Reset {
            id: 1,
            code: ErrorCode::UNKNOWN_SERVICE
        }]
    );
    assert_eq!(s.open_streams(), 1);
}

#[test]
fn half_closed_local_still_receives() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    let input = wire(&[open(1, "sub")]);
    feed(&mut s, &input, &mut out).1.unwrap();
    s.send_data(1, b"bye", true, &mut out).unwrap();
    assert_eq!(s.stream_state(1), Some(StreamState::HalfClosedLocal));
    assert_eq!(
        s.send_data(1, b"more", false, &mut out),
        Err(Error::SendAfterEnd)
    );
    assert_eq!(s.end_stream(1, &mut out), Err(Error::SendAfterEnd));
    assert_eq!(s.send_capacity(1), 0);
    let input = wire(&[data(1, b"late", true)]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev,
        [Event::Data {
            id: 1,
            data: b"late",
            end: true
        }]
    );
    assert_eq!(s.stream_state(1), None);
}

#[test]
fn stream_id_rules_are_connection_errors() {
    let cases: Vec<(&str, Vec<u8>, Error)> = vec![
        (
            "even id",
            wire(&[open(2, "a")]),
            Error::StreamIdNotIncreasing,
        ),
        (
            "reuse",
            wire(&[open(1, "a"), open(1, "a")]),
            Error::StreamIdNotIncreasing,
        ),
        (
            "reuse after close",
            wire(&[
                open(1, "a"),
                Frame::Reset {
                    id: 1,
                    code: ErrorCode::CANCEL,
                },
                open(1, "a"),
            ]),
            Error::StreamIdNotIncreasing,
        ),
        (
            "decreasing",
            wire(&[open(5, "a"), open(3, "a")]),
            Error::StreamIdNotIncreasing,
        ),
        (
            "data on idle stream",
            wire(&[open(1, "a"), data(3, b"x", false)]),
            Error::IdleStream,
        ),
        (
            "data on even id below the last",
            wire(&[open(3, "a"), data(2, b"x", false)]),
            Error::IdleStream,
        ),
        (
            "reset of idle stream",
            wire(&[Frame::Reset {
                id: 1,
                code: ErrorCode::CANCEL,
            }]),
            Error::IdleStream,
        ),
        (
            "update of idle stream",
            wire(&[Frame::WindowUpdate {
                id: 9,
                increment: 1,
            }]),
            Error::IdleStream,
        ),
    ];
    for (name, input, err) in cases {
        let mut s = server(defaults());
        let mut out = Vec::new();
        let (_, r) = feed(&mut s, &input, &mut out);
        assert_eq!(r, Err(err), "{name}");
        assert_eq!(last_goaway(&out).1, ErrorCode::PROTOCOL_ERROR, "{name}");
        assert_eq!(
            s.open_streams(),
            0,
            "{name}: a failed connection keeps no stream"
        );
    }
}

#[test]
fn ids_may_skip_but_skipped_ids_are_gone() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    let input = wire(&[open(1, "a"), open(7, "b")]);
    feed(&mut s, &input, &mut out).1.unwrap();
    assert_eq!(s.open_streams(), 2);
    let input = wire(&[open(5, "c")]);
    assert_eq!(
        feed(&mut s, &input, &mut out).1,
        Err(Error::StreamIdNotIncreasing)
    );
}

#[test]
fn service_name_limit_is_the_servers() {
    let mut s = server(Settings {
        max_service_name: 4,
        ..defaults()
    });
    let mut out = Vec::new();
    let input = wire(&[open(1, "echo"), open(3, "echo2")]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    assert_eq!(
        ev,
        [Event::StreamOpened {
            id: 1,
            service: "echo"
        }]
    );
    assert_eq!(r, Err(Error::InvalidServiceName));
    // A client checks the announced limit before sending.
    let mut c = client_with(
        defaults(),
        Settings {
            max_service_name: 4,
            ..defaults()
        },
    );
    assert_eq!(c.open_stream("echo2", &mut out), Err(Error::BadServiceName));
    assert_eq!(c.open_stream("", &mut out), Err(Error::BadServiceName));
    assert_eq!(c.open_stream("a b", &mut out), Err(Error::BadServiceName));
    assert_eq!(c.open_stream("echo", &mut out), Ok(1));
}

#[test]
fn concurrency_limit_refuses_the_stream_not_the_connection() {
    let mut s = server(Settings {
        max_concurrent_streams: 2,
        ..defaults()
    });
    let mut out = Vec::new();
    let input = wire(&[
        open(1, "a"),
        open(3, "a"),
        open(5, "a"),
        data(5, b"lost", true),
        data(1, b"ok", false),
    ]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev,
        [
            Event::StreamOpened {
                id: 1,
                service: "a"
            },
            Event::StreamOpened {
                id: 3,
                service: "a"
            },
            Event::Refused { id: 5 },
            Event::Data {
                id: 1,
                data: b"ok",
                end: false
            },
        ]
    );
    assert_eq!(
        frames(&out),
        [Frame::Reset {
            id: 5,
            code: ErrorCode::REFUSED_STREAM
        }]
    );
    // Once a stream closes, a new one fits.
    s.reset(3, ErrorCode::CANCEL, &mut out).unwrap();
    let input = wire(&[open(7, "a")]);
    assert_eq!(
        feed(&mut s, &input, &mut out).0,
        [Event::StreamOpened {
            id: 7,
            service: "a"
        }]
    );
    // The client side counts the same limit and never gets refused.
    let mut c = client_with(
        defaults(),
        Settings {
            max_concurrent_streams: 1,
            ..defaults()
        },
    );
    assert_eq!(c.open_stream("a", &mut out), Ok(1));
    assert_eq!(c.open_stream("a", &mut out), Err(Error::TooManyStreams));
    c.reset(1, ErrorCode::CANCEL, &mut out).unwrap();
    assert_eq!(c.open_stream("a", &mut out), Ok(3));
}

#[test]
fn data_after_the_peers_end_resets_that_stream_only() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    let input = wire(&[
        open(1, "a"),
        open(3, "a"),
        data(1, b"x", true),
        data(1, b"y", false),
        data(3, b"z", false),
    ]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev[3],
        Event::StreamError {
            id: 1,
            code: ErrorCode::STREAM_CLOSED
        }
    );
    assert_eq!(
        ev[4],
        Event::Data {
            id: 3,
            data: b"z",
            end: false
        }
    );
    assert_eq!(
        frames(&out),
        [Frame::Reset {
            id: 1,
            code: ErrorCode::STREAM_CLOSED
        }]
    );
    assert_eq!(s.stream_state(1), None);
    assert_eq!(s.stream_state(3), Some(StreamState::Open));
}

#[test]
fn frames_for_closed_streams_are_ignored() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    let input = wire(&[open(1, "a")]);
    feed(&mut s, &input, &mut out).1.unwrap();
    s.reset(1, ErrorCode::CANCEL, &mut out).unwrap();
    out.clear();
    // In flight when we reset: DATA, an update, the peer's own RESET.
    let input = wire(&[
        data(1, b"in flight", false),
        Frame::WindowUpdate {
            id: 1,
            increment: 5,
        },
        Frame::Reset {
            id: 1,
            code: ErrorCode::CANCEL,
        },
        Frame::Ping(*b"still ok"),
    ]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(ev, [Event::Ping(*b"still ok")]);
    assert_eq!(frames(&out), [Frame::Pong(*b"still ok")]);
}

#[test]
fn peer_reset_closes_the_stream() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    let input = wire(&[
        open(1, "a"),
        Frame::Reset {
            id: 1,
            code: ErrorCode(0x77),
        },
    ]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev[1],
        Event::Reset {
            id: 1,
            code: ErrorCode(0x77)
        }
    );
    assert_eq!(s.stream_state(1), None);
    assert_eq!(
        s.reset(1, ErrorCode::CANCEL, &mut out),
        Err(Error::StreamNotOpen)
    );
    assert!(out.is_empty());
}
