//! The no-allocation tests' measurement, shared by the HTTP and stream codec tests.

use stats_alloc::{Region, StatsAlloc};
use std::alloc::System;

/// Asserts that `round`, run 1000 times, touches the heap zero times.
///
/// The allocator is process-wide, and the test harness's own threads allocate now and then (a
/// few hundred bytes, seen once in CI). A path that allocates would do so in each of the 1000
/// rounds of every attempt, so the quietest of three attempts must show zero. Then checks the
/// counter itself sees an allocation, so the zero is real.
pub fn assert_no_allocation(global: &'static StatsAlloc<System>, mut round: impl FnMut()) {
    let quietest = (0..3)
        .map(|_| {
            let region = Region::new(global);
            for _ in 0..1000 {
                round();
            }
            region.change()
        })
        .min_by_key(|s| s.allocations + s.reallocations)
        .unwrap();
    assert_eq!(
        (
            quietest.allocations,
            quietest.reallocations,
            quietest.bytes_allocated
        ),
        (0, 0, 0),
        "{quietest:?}"
    );
    let region = Region::new(global);
    let v = std::hint::black_box(vec![1u8; 64]);
    assert!(region.change().allocations >= 1, "the counter sees nothing");
    drop(v);
}
