//! The stream codec's common path allocates nothing: opening streams, decoding DATA,
//! consuming, echoing, closing, PING/PONG, on both sides, touch the heap zero times once the
//! connections and buffers exist.
//!
//! One test in this binary on purpose: the counting allocator is global, and a second test
//! running in parallel would count its own allocations here.

use ringwire_protocol::stream::{Connection, Event, Role, Settings};
mod alloc_util;

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Decodes all of `input` on `conn`; the server echoes (`echo`), both consume everything.
/// Returns the DATA bytes seen.
fn pump(conn: &mut Connection, input: &[u8], out: &mut Vec<u8>, echo: bool) -> usize {
    let mut pos = 0;
    let mut bytes = 0;
    loop {
        let (n, event) = conn.decode(&input[pos..], out).expect("valid session");
        pos += n;
        match event {
            None => break,
            Some(Event::Data { id, data, end }) => {
                bytes += data.len();
                if echo {
                    assert_eq!(conn.send_data(id, data, end, out), Ok(data.len()));
                }
                conn.consume(id, data.len(), out).unwrap();
            }
            Some(_) => {}
        }
    }
    assert_eq!(pos, input.len());
    bytes
}

fn round(
    client: &mut Connection,
    server: &mut Connection,
    to_s: &mut Vec<u8>,
    to_c: &mut Vec<u8>,
    small: &[u8],
    large: &[u8],
) -> usize {
    // `to_s` may hold the client's window updates from the last round: they must arrive.
    to_c.clear();
    let a = client.open_stream("echo", to_s).unwrap();
    let b = client.open_stream("echo", to_s).unwrap();
    client.send_data(a, small, true, to_s).unwrap();
    client.send_data(b, large, false, to_s).unwrap();
    client.end_stream(b, to_s).unwrap();
    client.ping(*b"12345678", to_s).unwrap();
    let got = pump(server, to_s, to_c, true);
    to_s.clear();
    got + pump(client, to_c, to_s, false)
}

#[test]
fn common_path_makes_no_heap_allocation() {
    let mut client = Connection::new(Role::Client, Settings::default()).unwrap();
    let mut server = Connection::new(Role::Server, Settings::default()).unwrap();
    let mut to_s = Vec::with_capacity(64 * 1024);
    let mut to_c = Vec::with_capacity(64 * 1024);
    client.hello(&mut to_s).unwrap();
    pump(&mut server, &to_s, &mut to_c, true);
    to_s.clear();
    pump(&mut client, &to_c, &mut to_s, false);
    let small = [7u8; 64];
    let large = vec![9u8; 4096];
    let per_round = 2 * (small.len() + large.len());
    // Warm up once (nothing should allocate here either, but the assertion is on the loop).
    let args = (&small[..], &large[..]);
    assert_eq!(
        round(
            &mut client,
            &mut server,
            &mut to_s,
            &mut to_c,
            args.0,
            args.1
        ),
        per_round
    );

    alloc_util::assert_no_allocation(GLOBAL, || {
        let got = round(
            &mut client,
            &mut server,
            &mut to_s,
            &mut to_c,
            args.0,
            args.1,
        );
        assert_eq!(got, per_round);
    });
    assert_eq!((client.open_streams(), server.open_streams()), (0, 0));
}
