//! Flow control (docs/PROTOCOL.md, "Flow control"): what counts against the windows, when
//! WINDOW_UPDATE is sent, how a sender is held back and released, and what exceeding or
//! overflowing a window does.

mod stream_util;

use ringwire_protocol::stream::{
    Connection, END_STREAM, Error, ErrorCode, Event, Frame, FrameHeader, FrameType, MAX_WINDOW,
    Settings,
};
use stream_util::{client_with, data, feed, frames, last_goaway, open, server, wire};

/// Small windows so the tests stay short: 1000 per stream, 1500 for the connection.
fn small() -> Settings {
    Settings {
        initial_stream_window: 1000,
        initial_connection_window: 1500,
        max_frame_size: 1024,
        ..Settings::default()
    }
}

fn opened(settings: Settings, ids: &[u32]) -> Connection {
    let mut s = server(settings);
    let mut out = Vec::new();
    let opens: Vec<Frame<'_>> = ids.iter().map(|&id| open(id, "svc")).collect();
    feed(&mut s, &wire(&opens), &mut out).1.unwrap();
    s
}

#[test]
fn data_up_to_the_stream_window_is_accepted() {
    let mut s = opened(small(), &[1]);
    let mut out = Vec::new();
    let input = wire(&[data(1, &[0; 600], false), data(1, &[0; 400], false)]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(ev.len(), 2);
    assert!(out.is_empty(), "nothing consumed, nothing returned");
}

#[test]
fn data_beyond_the_stream_window_resets_the_stream() {
    let mut s = opened(small(), &[1, 3]);
    let mut out = Vec::new();
    let input = wire(&[
        data(1, &[0; 600], false),
        data(1, &[0; 401], false),
        data(3, b"ok", false),
    ]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev[1],
        Event::StreamError {
            id: 1,
            code: ErrorCode::FLOW_CONTROL_ERROR
        }
    );
    assert_eq!(
        ev[2],
        Event::Data {
            id: 3,
            data: b"ok",
            end: false
        }
    );
    // The 600 held bytes and the 401 refused ones go back to the connection window: 1001
    // of credit is past half of 1500, so a connection update is due.
    assert_eq!(
        frames(&out),
        [
            Frame::WindowUpdate {
                id: 0,
                increment: 1001
            },
            Frame::Reset {
                id: 1,
                code: ErrorCode::FLOW_CONTROL_ERROR
            },
        ]
    );
    s.assert_invariants();
}

#[test]
fn data_beyond_the_connection_window_closes_the_connection() {
    let mut s = opened(small(), &[1, 3]);
    let mut out = Vec::new();
    let input = wire(&[data(1, &[0; 1000], false), data(3, &[0; 501], false)]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    assert_eq!(ev.len(), 1);
    assert_eq!(r, Err(Error::ConnectionWindowExceeded));
    assert_eq!(last_goaway(&out), (3, ErrorCode::FLOW_CONTROL_ERROR));
}

#[test]
fn data_on_closed_streams_still_counts_against_the_connection() {
    let mut s = opened(small(), &[1]);
    let mut out = Vec::new();
    s.reset(1, ErrorCode::CANCEL, &mut out).unwrap();
    out.clear();
    // Discarded, but charged and returned at once: the connection window never shrinks.
    let input = wire(&[data(1, &[0; 800], false)]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert!(ev.is_empty());
    assert_eq!(
        frames(&out),
        [Frame::WindowUpdate {
            id: 0,
            increment: 800
        }]
    );
    // But a flood beyond the window is still an error, closed stream or not.
    let input = wire(&[data(1, &[0; 1024], false), data(1, &[0; 1024], false)]);
    assert_eq!(feed(&mut s, &input, &mut out).1, Ok(()));
    let input = wire(&[data(1, &[0; 1024], false), data(1, &[0; 1024], false)]);
    assert_eq!(
        feed(&mut s, &input, &mut out).1,
        Ok(()),
        "credit keeps being returned"
    );
}

#[test]
fn zero_length_data_needs_no_window() {
    let mut s = opened(
        Settings {
            initial_stream_window: 0,
            ..small()
        },
        &[1],
    );
    let mut out = Vec::new();
    let input = wire(&[data(1, b"", false), data(1, b"", true)]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev[1],
        Event::Data {
            id: 1,
            data: b"",
            end: true
        }
    );
    let input = wire(&[open(3, "x"), data(3, b"!", false)]);
    let (ev, _) = feed(&mut s, &input, &mut out);
    assert_eq!(
        ev[1],
        Event::StreamError {
            id: 3,
            code: ErrorCode::FLOW_CONTROL_ERROR
        }
    );
}

#[test]
fn consuming_returns_window_at_half_the_initial_size() {
    let mut s = opened(small(), &[1]);
    let mut out = Vec::new();
    let input = wire(&[data(1, &[0; 999], false)]);
    feed(&mut s, &input, &mut out).1.unwrap();
    s.consume(1, 499, &mut out).unwrap();
    assert!(out.is_empty(), "499 < 500: not yet");
    s.consume(1, 1, &mut out).unwrap();
    assert_eq!(
        frames(&out),
        [Frame::WindowUpdate {
            id: 1,
            increment: 500
        }]
    );
    out.clear();
    s.consume(1, 250, &mut out).unwrap();
    // Connection: 750 consumed, half of 1500 reached.
    assert_eq!(
        frames(&out),
        [Frame::WindowUpdate {
            id: 0,
            increment: 750
        }]
    );
    assert_eq!(s.consume(1, 250, &mut out), Err(Error::ConsumedTooMuch));
    assert_eq!(
        s.consume(1, usize::MAX, &mut out),
        Err(Error::ConsumedTooMuch)
    );
    s.assert_invariants();
}

#[test]
fn no_stream_update_after_the_peers_end() {
    let mut s = opened(small(), &[1]);
    let mut out = Vec::new();
    let input = wire(&[data(1, &[0; 900], true)]);
    feed(&mut s, &input, &mut out).1.unwrap();
    s.consume(1, 900, &mut out).unwrap();
    assert_eq!(
        frames(&out),
        [Frame::WindowUpdate {
            id: 0,
            increment: 900
        }]
    );
}

#[test]
fn bytes_held_by_a_closed_stream_return_to_the_connection() {
    let mut s = opened(small(), &[1]);
    let mut out = Vec::new();
    let input = wire(&[
        data(1, &[0; 800], false),
        Frame::Reset {
            id: 1,
            code: ErrorCode::CANCEL,
        },
    ]);
    feed(&mut s, &input, &mut out).1.unwrap();
    assert_eq!(
        frames(&out),
        [Frame::WindowUpdate {
            id: 0,
            increment: 800
        }]
    );
    out.clear();
    // The application, unaware, consumes later: nothing happens twice.
    s.consume(1, 800, &mut out).unwrap();
    assert!(out.is_empty());
    s.assert_invariants();
}

#[test]
fn backpressure_an_application_that_does_not_consume_stalls_its_peer() {
    let mut c = client_with(Settings::default(), small());
    let mut s = server(small());
    let (mut to_s, mut to_c) = (Vec::new(), Vec::new());
    let id = c.open_stream("svc", &mut to_s).unwrap();
    let payload = vec![9u8; 5000];
    let sent = c.send_data(id, &payload, true, &mut to_s).unwrap();
    assert_eq!(sent, 1000, "the stream window");
    assert_eq!(
        c.send_data(id, &payload[sent..], true, &mut to_s),
        Ok(0),
        "blocked"
    );
    assert_eq!(c.send_capacity(id), 0);
    let (ev, r) = feed(&mut s, &to_s, &mut to_c);
    r.unwrap();
    assert_eq!(ev.len(), 2); // opened, one 1000-byte frame
    assert!(to_c.is_empty(), "no consumption, no window");
    // The server's application catches up.
    s.consume(id, 1000, &mut to_c).unwrap();
    to_s.clear();
    let (ev, r) = feed(&mut c, &to_c, &mut to_s);
    r.unwrap();
    assert_eq!(
        ev,
        [Event::WindowOpened { id: 1 }, Event::WindowOpened { id: 0 }]
    );
    assert_eq!(c.send_capacity(id), 1000);
    assert_eq!(c.send_data(id, &payload[sent..], true, &mut to_s), Ok(1000));
}

#[test]
fn send_data_never_exceeds_a_window_or_the_frame_size() {
    let server_settings = Settings {
        initial_stream_window: 5000,
        initial_connection_window: 3000,
        max_frame_size: 1024,
        ..Settings::default()
    };
    let mut c = client_with(Settings::default(), server_settings);
    let mut out = Vec::new();
    let a = c.open_stream("svc", &mut out).unwrap();
    let b = c.open_stream("svc", &mut out).unwrap();
    out.clear();
    assert_eq!(c.send_data(a, &[1; 2500], false, &mut out), Ok(2500));
    let sizes: Vec<usize> = frames(&out)
        .iter()
        .map(|f| match f {
            Frame::Data { data, .. } => data.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sizes, [1024, 1024, 452]);
    // Stream b has its own 5000, but the connection has only 500 left.
    assert_eq!(c.send_capacity(b), 500);
    assert_eq!(c.send_data(b, &[2; 2000], true, &mut out), Ok(500));
    assert_eq!(c.send_data(b, &[2; 1500], true, &mut out), Ok(0));
    assert_eq!(
        c.stream_state(b),
        Some(ringwire_protocol::stream::StreamState::Open)
    );
}

#[test]
fn end_stream_waits_for_the_last_byte() {
    let mut c = client_with(Settings::default(), small());
    let mut out = Vec::new();
    let id = c.open_stream("svc", &mut out).unwrap();
    out.clear();
    assert_eq!(c.send_data(id, &[0; 1200], true, &mut out), Ok(1000));
    assert!(
        frames(&out)
            .iter()
            .all(|f| matches!(f, Frame::Data { end: false, .. }))
    );
    // With the window closed, a bare END_STREAM still goes out: it carries no bytes.
    out.clear();
    assert_eq!(c.send_data(id, &[], true, &mut out), Ok(0));
    assert_eq!(frames(&out), [data(id, b"", true)]);
}

#[test]
fn window_updates_from_the_peer() {
    let mut c = client_with(Settings::default(), small());
    let mut out = Vec::new();
    let id = c.open_stream("svc", &mut out).unwrap();
    let input = wire(&[
        Frame::WindowUpdate { id, increment: 10 },
        Frame::WindowUpdate {
            id: 0,
            increment: 20,
        },
    ]);
    let (ev, r) = feed(&mut c, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev,
        [Event::WindowOpened { id }, Event::WindowOpened { id: 0 }]
    );
    assert_eq!(c.send_capacity(id), 1010);
    // Overflow on a stream: that stream is reset.
    out.clear();
    let input = wire(&[Frame::WindowUpdate {
        id,
        increment: MAX_WINDOW,
    }]);
    let (ev, r) = feed(&mut c, &input, &mut out);
    r.unwrap();
    assert_eq!(
        ev,
        [Event::StreamError {
            id,
            code: ErrorCode::FLOW_CONTROL_ERROR
        }]
    );
    assert_eq!(
        frames(&out),
        [Frame::Reset {
            id,
            code: ErrorCode::FLOW_CONTROL_ERROR
        }]
    );
    // Overflow of the connection window: the connection ends.
    let input = wire(&[Frame::WindowUpdate {
        id: 0,
        increment: MAX_WINDOW,
    }]);
    assert_eq!(
        feed(&mut c, &input, &mut out).1,
        Err(Error::ConnectionWindowOverflow)
    );
    assert_eq!(last_goaway(&out), (0, ErrorCode::FLOW_CONTROL_ERROR));
}

#[test]
fn update_for_a_stream_this_side_ended_is_silent() {
    let mut c = client_with(Settings::default(), small());
    let mut out = Vec::new();
    let id = c.open_stream("svc", &mut out).unwrap();
    c.end_stream(id, &mut out).unwrap();
    let input = wire(&[Frame::WindowUpdate { id, increment: 10 }]);
    let (ev, r) = feed(&mut c, &input, &mut out);
    r.unwrap();
    assert!(ev.is_empty());
}

#[test]
fn grant_opens_a_zero_window() {
    let zero = Settings {
        initial_stream_window: 0,
        ..small()
    };
    let mut c = client_with(Settings::default(), zero);
    let mut s = opened(zero, &[]);
    let (mut to_s, mut to_c) = (Vec::new(), Vec::new());
    let id = c.open_stream("svc", &mut to_s).unwrap();
    assert_eq!(c.send_data(id, b"hello", false, &mut to_s), Ok(0));
    feed(&mut s, &to_s, &mut to_c).1.unwrap();
    s.grant(id, 3, &mut to_c).unwrap();
    assert_eq!(frames(&to_c), [Frame::WindowUpdate { id, increment: 3 }]);
    to_s.clear();
    feed(&mut c, &to_c, &mut to_s).1.unwrap();
    assert_eq!(c.send_data(id, b"hello", false, &mut to_s), Ok(3));
    assert_eq!(
        s.grant(id, MAX_WINDOW, &mut to_c),
        Err(Error::WindowOverflow)
    );
    assert_eq!(
        s.grant(0, MAX_WINDOW, &mut to_c),
        Err(Error::WindowOverflow)
    );
}

#[test]
fn prepare_data_gives_the_same_bytes_as_send_data() {
    let mut c1 = client_with(Settings::default(), small());
    let mut c2 = client_with(Settings::default(), small());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let id = c1.open_stream("svc", &mut a).unwrap();
    c2.open_stream("svc", &mut b).unwrap();
    let payload = [5u8; 1100];
    c1.send_data(id, &payload, true, &mut a).unwrap();
    let mut sent = 0;
    while let Some(f) = c2
        .prepare_data(id, payload.len() - sent, true, &mut b)
        .unwrap()
    {
        b.extend_from_slice(&f.header);
        b.extend_from_slice(&payload[sent..sent + f.len]);
        sent += f.len;
    }
    assert_eq!(a, b);
    assert_eq!(sent, 1000);
    let last = c2.prepare_data(id, 0, true, &mut b).unwrap().unwrap();
    assert_eq!(last.len, 0);
    assert!(last.end);
    let hdr = FrameHeader::parse(&last.header).unwrap();
    assert_eq!(
        (hdr.kind(), hdr.flags()),
        (FrameType::Data as u8, END_STREAM)
    );
}
