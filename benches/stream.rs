//! Stream protocol codec benchmarks: DATA frames of 64 bytes and 4 KiB, decoded (the bare
//! frame decoder, and the server connection state machine with flow-control accounting)
//! and encoded (`send_data` copying the payload, `prepare_data` producing only the header for
//! a vectored write). Run: `cargo bench -p ringwire --bench stream`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringwire_protocol::stream::{self, Connection, Event, Frame, MAX_WINDOW, Role, Settings};

const SIZES: [(&str, usize); 2] = [("64B", 64), ("4KiB", 4096)];

fn encode(frames: &[Frame<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        f.encode(&mut out);
    }
    out
}

/// A server that has completed the handshake and accepted stream 1.
fn server() -> Connection {
    let mut s = Connection::new(Role::Server, Settings::default()).unwrap();
    let input = encode(&[
        Frame::Hello(Settings::default()),
        Frame::Open {
            id: 1,
            service: "echo",
        },
    ]);
    let mut out = Vec::new();
    let (n, _) = s.decode(&input, &mut out).unwrap();
    let (m, ev) = s.decode(&input[n..], &mut out).unwrap();
    assert!(matches!(ev, Some(Event::StreamOpened { id: 1, .. })) && n + m == input.len());
    s
}

/// A client whose server announced the largest windows, with stream 1 open.
fn client() -> Connection {
    let big = Settings {
        initial_stream_window: MAX_WINDOW,
        initial_connection_window: MAX_WINDOW,
        ..Settings::default()
    };
    let mut c = Connection::new(Role::Client, Settings::default()).unwrap();
    let mut out = Vec::new();
    c.hello(&mut out).unwrap();
    c.decode(&encode(&[Frame::Hello(big)]), &mut out).unwrap();
    assert_eq!(c.open_stream("echo", &mut out), Ok(1));
    c
}

/// Tops the client's windows up when a send would block: once per half a million 4 KiB
/// frames, so it does not show in the numbers.
fn refill(c: &mut Connection, need: usize, scratch: &mut Vec<u8>) {
    if c.send_capacity(1) >= need {
        return;
    }
    let n = MAX_WINDOW - c.send_capacity(1) as u32;
    let updates = encode(&[
        Frame::WindowUpdate {
            id: 1,
            increment: n,
        },
        Frame::WindowUpdate {
            id: 0,
            increment: n,
        },
    ]);
    let (a, _) = c.decode(&updates, scratch).unwrap();
    c.decode(&updates[a..], scratch).unwrap();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("stream_decode");
    for (name, size) in SIZES {
        let payload = vec![0x5a; size];
        let one = encode(&[Frame::Data {
            id: 1,
            data: &payload,
            end: false,
        }]);
        g.throughput(Throughput::Elements(1));
        let settings = Settings::default();
        g.bench_function(format!("frame/{name}"), |b| {
            b.iter(|| match stream::decode(black_box(&one), &settings) {
                Ok(Some((Frame::Data { data, .. }, n))) => (data.len(), n),
                _ => unreachable!(),
            })
        });
        // The full receive path: header view, state checks, both windows charged, then the
        // application's consume returning them (a WINDOW_UPDATE every half window).
        let mut conn = server();
        let mut out = Vec::with_capacity(4096);
        g.bench_function(format!("conn/{name}"), |b| {
            b.iter(|| {
                out.clear();
                match conn.decode(black_box(&one), &mut out) {
                    Ok((n, Some(Event::Data { id, data, .. }))) => {
                        conn.consume(id, data.len(), &mut out).unwrap();
                        n
                    }
                    _ => unreachable!(),
                }
            })
        });
        // 16 frames in one read, as a busy connection delivers them.
        let frames: Vec<Frame<'_>> = (0..16)
            .map(|_| Frame::Data {
                id: 1,
                data: &payload,
                end: false,
            })
            .collect();
        let batch = encode(&frames);
        g.throughput(Throughput::Elements(16));
        let mut conn = server();
        g.bench_function(format!("conn_batch16/{name}"), |b| {
            b.iter(|| {
                out.clear();
                let mut pos = 0;
                while let Ok((n, Some(Event::Data { id, data, .. }))) =
                    conn.decode(black_box(&batch[pos..]), &mut out)
                {
                    pos += n;
                    conn.consume(id, data.len(), &mut out).unwrap();
                }
                pos
            })
        });
    }
    g.finish();
}

fn encode_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("stream_encode");
    g.throughput(Throughput::Elements(1));
    for (name, size) in SIZES {
        let payload = vec![0x5a; size];
        let mut conn = client();
        let mut out = Vec::with_capacity(8192);
        let mut scratch = Vec::new();
        g.bench_function(format!("send_data/{name}"), |b| {
            b.iter(|| {
                refill(&mut conn, size, &mut scratch);
                out.clear();
                conn.send_data(1, black_box(&payload), false, &mut out)
                    .unwrap()
            })
        });
        let mut conn = client();
        g.bench_function(format!("prepare_data/{name}"), |b| {
            b.iter(|| {
                refill(&mut conn, size, &mut scratch);
                let f = conn
                    .prepare_data(1, black_box(size), false, &mut out)
                    .unwrap();
                f.map(|f| f.header)
            })
        });
        g.bench_function(format!("frame_encode/{name}"), |b| {
            b.iter(|| {
                out.clear();
                Frame::Data {
                    id: 1,
                    data: black_box(&payload),
                    end: false,
                }
                .encode(&mut out);
                out.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, decode, encode_bench);
criterion_main!(benches);
