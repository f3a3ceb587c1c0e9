//! The per-connection caps on peer-provoked work (`stream::RateMeter`): property tests
//! against a model that counts by hand, the sliding-window bound, and the classification of
//! the codec's own events for a rapid-reset and a PING flood.

use proptest::collection::vec;
use proptest::prelude::*;
use ringwire_protocol::stream::{
    Connection, ErrorCode, Event, Frame, PeerWork, RateCaps, RateMeter, Role, Settings,
};
use std::time::Duration;

fn work() -> impl Strategy<Value = PeerWork> {
    prop::sample::select(PeerWork::ALL.to_vec())
}

fn caps() -> impl Strategy<Value = RateCaps> {
    (0u32..6, 0u32..6, 0u32..6, 0u32..6).prop_map(|(resets, refused, pings, empty_data)| RateCaps {
        resets,
        refused,
        pings,
        empty_data,
    })
}

/// A run of work at non-decreasing times (steps of 0..700 ms, so seconds are both skipped
/// and shared).
fn timeline() -> impl Strategy<Value = Vec<(PeerWork, Duration)>> {
    vec((work(), 0u64..700), 0..200).prop_map(|steps| {
        let mut t = 0;
        steps
            .into_iter()
            .map(|(w, dt)| {
                t += dt;
                (w, Duration::from_millis(t))
            })
            .collect()
    })
}

proptest! {
    /// The meter fails exactly at the first piece of work that is the (cap+1)-th of its kind
    /// in its whole second, and at every call after that.
    #[test]
    fn the_meter_trips_exactly_where_the_model_says(caps in caps(), run in timeline()) {
        let mut meter = RateMeter::new(caps);
        let mut tripped = None;
        for (i, &(w, t)) in run.iter().enumerate() {
            let same_second = run[..=i]
                .iter()
                .filter(|(w2, t2)| *w2 == w && t2.as_secs() == t.as_secs())
                .count() as u32;
            let expect_over = tripped.is_some() || same_second > caps.get(w);
            let got = meter.record(w, t);
            prop_assert_eq!(got.is_err(), expect_over, "step {} ({:?} at {:?})", i, w, t);
            if got.is_err() && tripped.is_none() {
                tripped = Some(i);
                let e = got.unwrap_err();
                prop_assert_eq!((e.work, e.cap), (w, caps.get(w)));
            }
        }
        prop_assert_eq!(meter.exceeded().is_some(), tripped.is_some());
    }

    /// Whatever the timing, no one-second span (aligned or not) holds more than twice a cap
    /// of accepted work of one kind.
    #[test]
    fn no_sliding_second_accepts_more_than_twice_the_cap(caps in caps(), run in timeline()) {
        let mut meter = RateMeter::new(caps);
        let accepted: Vec<(PeerWork, Duration)> = run
            .into_iter()
            .take_while(|&(w, t)| meter.record(w, t).is_ok())
            .collect();
        for &(w, start) in &accepted {
            let n = accepted
                .iter()
                .filter(|(w2, t2)| *w2 == w && *t2 >= start && *t2 < start + Duration::from_secs(1))
                .count() as u32;
            prop_assert!(n <= 2 * caps.get(w), "{} {:?} within a second of {:?}", n, w, start);
        }
    }

    /// A peer that stays within its caps in every whole second is never cut off.
    #[test]
    fn work_within_the_caps_is_never_refused(per_second in vec((0u32..=5, 0u32..=5), 1..20)) {
        let caps = RateCaps { resets: 5, refused: 5, pings: 5, empty_data: 5 };
        let mut meter = RateMeter::new(caps);
        for (s, (resets, pings)) in per_second.into_iter().enumerate() {
            for k in 0..resets.max(pings) {
                let t = Duration::from_secs(s as u64) + Duration::from_millis(u64::from(k) * 150);
                if k < resets {
                    prop_assert!(meter.record(PeerWork::Reset, t).is_ok());
                }
                if k < pings {
                    prop_assert!(meter.record(PeerWork::Ping, t).is_ok());
                }
            }
        }
    }
}

#[test]
fn a_clock_going_backwards_counts_into_the_current_window() {
    let mut meter = RateMeter::new(RateCaps {
        pings: 1,
        ..RateCaps::default()
    });
    assert!(meter.record(PeerWork::Ping, Duration::from_secs(5)).is_ok());
    assert!(
        meter
            .record(PeerWork::Ping, Duration::from_secs(3))
            .is_err()
    );
}

/// Drives a server codec with `input` and meters its events as the connection loop does.
fn meter_server(input: &[u8], caps: RateCaps) -> (Option<PeerWork>, usize) {
    let mut server = Connection::new(Role::Server, Settings::default()).unwrap();
    let mut meter = RateMeter::new(caps);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut events = 0;
    while let Ok((used, Some(event))) = server.decode(&input[pos..], &mut out) {
        pos += used;
        events += 1;
        if let Some(w) = PeerWork::of(&event) {
            if let Err(e) = meter.record(w, Duration::ZERO) {
                return (Some(e.work), events);
            }
        }
    }
    (None, events)
}

fn hello() -> Vec<u8> {
    let mut out = Vec::new();
    Frame::Hello(Settings::default()).encode(&mut out);
    out
}

#[test]
fn a_rapid_reset_client_trips_the_reset_cap_on_the_first_reset_over_it() {
    let mut input = hello();
    for k in 0..10u32 {
        let id = 2 * k + 1;
        Frame::Open {
            id,
            service: "echo",
        }
        .encode(&mut input);
        Frame::Reset {
            id,
            code: ErrorCode::CANCEL,
        }
        .encode(&mut input);
    }
    let caps = RateCaps {
        resets: 4,
        ..RateCaps::default()
    };
    // HELLO, then (OPEN, RESET) pairs: the fifth RESET is event 1 + 2 * 5.
    assert_eq!(meter_server(&input, caps), (Some(PeerWork::Reset), 11));
}

#[test]
fn a_ping_flood_and_empty_data_are_classified() {
    let mut input = hello();
    for k in 0..10u8 {
        Frame::Ping([k; 8]).encode(&mut input);
    }
    let caps = RateCaps {
        pings: 3,
        ..RateCaps::default()
    };
    assert_eq!(meter_server(&input, caps), (Some(PeerWork::Ping), 5));

    let empty = Event::Data {
        id: 1,
        data: &[],
        end: false,
    };
    assert_eq!(PeerWork::of(&empty), Some(PeerWork::EmptyData));
    let end_only = Event::Data {
        id: 1,
        data: &[],
        end: true,
    };
    assert_eq!(
        PeerWork::of(&end_only),
        None,
        "a bare END_STREAM is real work"
    );
    assert_eq!(
        PeerWork::of(&Event::Refused { id: 3 }),
        Some(PeerWork::Refused)
    );
}
