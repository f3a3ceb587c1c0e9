//! Per-core stats benchmarks: what the request path pays to count a request, and what the
//! control side pays to copy and merge cores' snapshots.
//! Run: `cargo bench -p ringwire --bench stats`.
//!
//! `Stats::record_request` is the public entry a worker calls per request (counters and
//! latency histogram); the raw `hdrhistogram` benches beside it, with the bounds
//! `net/src/stats.rs` uses (1 µs to 60 s), show what the histogram's precision costs.

use std::{hint::black_box, time::Duration};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hdrhistogram::Histogram;
use ringwire_net::{Snapshot, Stats};

/// Request latencies in microseconds: mostly tens to hundreds of µs with a tail to 50 ms.
/// A fixed xorshift sequence, so every run records the same values.
fn latencies(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 100 {
                0 => 1_000 + x % 50_000,
                1..=9 => 200 + x % 800,
                _ => 10 + x % 190,
            }
        })
        .collect()
}

fn record(c: &mut Criterion) {
    let values = latencies(4096);
    let mut g = c.benchmark_group("stats");
    g.throughput(Throughput::Elements(values.len() as u64));
    let stats = Stats::default();
    let methods = ["GET", "GET", "GET", "POST", "HEAD", "PATCH", "GET", "PUT"];
    g.bench_function("record_request_4096", |b| {
        b.iter(|| {
            for (i, &v) in values.iter().enumerate() {
                let status = if i % 64 == 0 { 404 } else { 200 };
                stats.record_request(black_box(methods[i % methods.len()]), status, v);
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("histogram");
    for sigfig in [3u8, 2] {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, sigfig).expect("bounds");
        g.throughput(Throughput::Elements(values.len() as u64));
        g.bench_function(format!("record_4096/{sigfig}_sigfig"), |b| {
            b.iter(|| {
                for &v in &values {
                    let _ = h.record(black_box(v));
                }
            })
        });
        // Snapshots copy the histogram and merges add one into another: both scale with
        // its size, which the precision sets (3 digits: 17,408 counts, 136 KiB; 2 digits: 20 KiB).
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("clone/{sigfig}_sigfig"), |b| {
            b.iter(|| black_box(&h).clone())
        });
        let other = h.clone();
        g.bench_function(format!("add/{sigfig}_sigfig"), |b| {
            b.iter(|| h.add(black_box(&other)))
        });
    }
    g.finish();
}

/// A core's snapshot after `n` requests, built through the public fields.
fn snapshot_of(n: usize, seed_shift: u32) -> Snapshot {
    let mut s = Stats::default().snapshot(100);
    for v in latencies(n) {
        let _ = s.latency_us.record(v.rotate_left(seed_shift) % 60_000 + 1);
    }
    s.accepted = n as u64 / 10;
    s.requests[0][1] = n as u64;
    s.bytes_in = n as u64 * 300;
    s.bytes_out = n as u64 * 130;
    s
}

fn snapshots(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot");
    g.throughput(Throughput::Elements(1));
    // What a worker does when the control core asks: copy counters and the histogram.
    let stats = Stats::default();
    g.bench_function("take", |b| b.iter(|| black_box(stats.snapshot(7))));
    // What the control core does per scrape: fold two cores into a fresh total.
    let (a, b2) = (snapshot_of(100_000, 0), snapshot_of(100_000, 7));
    g.bench_function("merge_two_cores", |b| {
        b.iter(|| {
            let mut total = Snapshot::default();
            total.merge(black_box(&a));
            total.merge(black_box(&b2));
            total.total_requests()
        })
    });
    g.bench_function("merge_one_into_total", |b| {
        b.iter_batched_ref(
            || a.clone(),
            |total| total.merge(black_box(&b2)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = record, snapshots
}
criterion_main!(benches);
