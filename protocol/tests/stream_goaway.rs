//! PING, GOAWAY and draining (docs/PROTOCOL.md), and how errors end a connection or leave it
//! alone.

mod stream_util;

use ringwire_protocol::stream::{
    Connection, Error, ErrorCode, Event, Frame, Role, Settings, StreamState,
};
use stream_util::{client_with, data, feed, frames, last_goaway, open, server, wire};

fn defaults() -> Settings {
    Settings::default()
}

// ---- PING ----

#[test]
fn ping_is_answered_by_the_codec() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    let input = wire(&[
        Frame::Ping(*b"\x01\x02\x03\x04\x05\x06\x07\x08"),
        Frame::Pong(*b"answered"),
    ]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev,
        [
            Event::Ping(*b"\x01\x02\x03\x04\x05\x06\x07\x08"),
            Event::Pong(*b"answered")
        ]
    );
    assert_eq!(
        frames(&out),
        [Frame::Pong(*b"\x01\x02\x03\x04\x05\x06\x07\x08")]
    );
    out.clear();
    s.ping(*b"t=123456", &mut out).unwrap();
    assert_eq!(frames(&out), [Frame::Ping(*b"t=123456")]);
}

// ---- GOAWAY ----

#[test]
fn graceful_goaway_finishes_old_streams_and_refuses_new_ones() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    let input = wire(&[open(1, "a"), open(3, "a")]);
    feed(&mut s, &input, &mut out).1.unwrap();
    assert_eq!(s.goaway(ErrorCode::NO_ERROR, b"draining", &mut out), Ok(3));
    assert_eq!(
        frames(&out),
        [Frame::GoAway {
            last_id: 3,
            code: ErrorCode::NO_ERROR,
            debug: b"draining"
        }]
    );
    out.clear();
    let input = wire(&[open(5, "a"), data(5, b"no", false), data(3, b"yes", true)]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev,
        [
            Event::Refused { id: 5 },
            Event::Data {
                id: 3,
                data: b"yes",
                end: true
            }
        ]
    );
    assert_eq!(
        frames(&out),
        [Frame::Reset {
            id: 5,
            code: ErrorCode::REFUSED_STREAM
        }]
    );
    // Old streams run to their end; when none is left the connection can close.
    s.end_stream(3, &mut out).unwrap();
    s.reset(1, ErrorCode::NO_ERROR, &mut out).unwrap();
    assert_eq!(s.open_streams(), 0);
    assert_eq!(s.goaway_sent(), Some(3));
    assert!(s.is_ready());
}

#[test]
fn goaway_with_an_error_ends_the_connection() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    let input = wire(&[open(1, "a")]);
    feed(&mut s, &input, &mut out).1.unwrap();
    assert_eq!(s.goaway(ErrorCode::INTERNAL_ERROR, b"", &mut out), Ok(1));
    let e = Error::Aborted(ErrorCode::INTERNAL_ERROR);
    assert_eq!(s.decode(&wire(&[Frame::Ping([0; 8])]), &mut out), Err(e));
    assert_eq!(s.send_data(1, b"x", false, &mut out), Err(e));
    assert_eq!(s.goaway(ErrorCode::NO_ERROR, b"", &mut out), Err(e));
    assert_eq!(s.open_streams(), 0);
    assert_eq!(last_goaway(&out), (1, ErrorCode::INTERNAL_ERROR));
}

#[test]
fn client_drops_streams_the_server_did_not_process() {
    let mut c = client_with(defaults(), defaults());
    let mut out = Vec::new();
    for want in [1, 3, 5] {
        assert_eq!(c.open_stream("a", &mut out), Ok(want));
    }
    let input = wire(&[
        Frame::GoAway {
            last_id: 3,
            code: ErrorCode::NO_ERROR,
            debug: b"",
        },
        data(3, b"still", true),
    ]);
    let (ev, r) = feed(&mut c, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev[0],
        Event::GoAway {
            last_id: 3,
            code: ErrorCode::NO_ERROR,
            debug: b""
        }
    );
    assert_eq!(
        ev[1],
        Event::Data {
            id: 3,
            data: b"still",
            end: true
        }
    );
    assert_eq!(c.stream_state(5), None, "not processed: retry elsewhere");
    assert_eq!(c.stream_state(1), Some(StreamState::Open));
    assert_eq!(c.open_stream("a", &mut out), Err(Error::GoingAway));
    assert_eq!(c.goaway_received(), Some(3));
    assert_eq!(c.send_data(1, b"ok", true, &mut out), Ok(2));
}

#[test]
fn peer_goaway_with_error_reports_then_sticks() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    let input = wire(&[
        open(1, "a"),
        Frame::GoAway {
            last_id: 0,
            code: ErrorCode::PROTOCOL_ERROR,
            debug: b"you broke it",
        },
        Frame::Ping([0; 8]),
    ]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    assert_eq!(
        ev[1],
        Event::GoAway {
            last_id: 0,
            code: ErrorCode::PROTOCOL_ERROR,
            debug: b"you broke it"
        }
    );
    assert_eq!(r, Err(Error::PeerError(ErrorCode::PROTOCOL_ERROR)));
    assert!(out.is_empty(), "nothing is sent to a peer that has gone");
    assert_eq!(s.open_streams(), 0);
}

#[test]
fn goaway_debug_text_is_cut_to_the_peers_frame_size() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    s.goaway(ErrorCode::NO_ERROR, &[b'x'; 20_000], &mut out)
        .unwrap();
    assert_eq!(out.len(), 12 + 16384);
}

#[test]
fn usage_errors_leave_the_connection_alone() {
    let mut s = server(defaults());
    let mut out = Vec::new();
    for e in [
        s.send_data(1, b"x", false, &mut out).unwrap_err(),
        s.reset(9, ErrorCode::CANCEL, &mut out).unwrap_err(),
        s.grant(3, 10, &mut out).unwrap_err(),
    ] {
        assert_eq!(e, Error::StreamNotOpen);
        assert!(!e.is_fatal());
    }
    assert!(out.is_empty());
    assert!(s.is_ready());
    assert_eq!(
        Connection::new(
            Role::Server,
            Settings {
                max_frame_size: 10,
                ..defaults()
            }
        )
        .unwrap_err(),
        Error::InvalidSettings("max_frame_size")
    );
}
