//! Unit tests for each rule of [`Slots`]; the property test is in `model_tests.rs`.

use super::*;

const MS: Duration = Duration::from_millis(1);

fn cfg(min: usize, max: usize, max_waiters: usize) -> PoolConfig {
    PoolConfig {
        min,
        max,
        max_waiters,
        idle_timeout: 100 * MS,
        max_lifetime: 1000 * MS,
        check_after: 10 * MS,
        ..PoolConfig::default()
    }
}

fn wait<C>(a: Acquire<C>) -> (WaiterId, bool) {
    match a {
        Acquire::Wait { id, connect } => (id, connect),
        _ => panic!("expected Wait"),
    }
}

fn ready<C>(a: Acquire<C>) -> (C, Instant, bool) {
    match a {
        Acquire::Ready {
            conn,
            created,
            check,
        } => (conn, created, check),
        _ => panic!("expected Ready"),
    }
}

fn to_waiter<C>(h: Handoff<C>) -> (WaiterId, C, Instant) {
    match h {
        Handoff::ToWaiter { id, conn, created } => (id, conn, created),
        _ => panic!("expected ToWaiter"),
    }
}

/// Books with `n` idle connections 0..n, all created at `t`.
fn with_idle(c: PoolConfig, t: Instant, n: u32) -> Slots<u32> {
    let mut s = Slots::new(c);
    s.connecting = n as usize;
    for i in 0..n {
        assert!(matches!(s.connected(i, t), Handoff::Idle));
    }
    s
}

fn counts(idle: usize, in_use: usize, connecting: usize, waiting: usize) -> Counts {
    Counts {
        idle,
        in_use,
        connecting,
        waiting,
    }
}

#[test]
fn defaults_and_sanitized_bounds() {
    let c = PoolConfig::default();
    assert_eq!((c.min, c.max, c.max_waiters), (1, 8, 256));
    assert_eq!((c.acquire_timeout, c.check_after), (2000 * MS, 5000 * MS));
    assert_eq!(
        (c.idle_timeout, c.max_lifetime),
        (60_000 * MS, 1_800_000 * MS)
    );
    let s: Slots<()> = Slots::new(cfg(5, 0, 1));
    assert_eq!((s.config().min, s.config().max), (1, 1));
}

#[test]
fn acquire_queues_connects_within_max_then_refuses() {
    let t = Instant::now();
    let mut s: Slots<u32> = Slots::new(cfg(0, 2, 3));
    assert_eq!(wait(s.acquire(t)), (0, true));
    assert_eq!(wait(s.acquire(t)), (1, true));
    assert_eq!(wait(s.acquire(t)), (2, false), "at max: no third connect");
    assert_eq!(s.counts(), counts(0, 0, 2, 3));
    assert!(matches!(s.acquire(t), Acquire::Full));
    assert_eq!(s.stats().refused, 1);
}

#[test]
fn a_connect_in_flight_covers_a_new_waiter() {
    let t = Instant::now();
    let mut s: Slots<u32> = Slots::new(cfg(1, 4, 8));
    assert_eq!(s.maintain(t), Maintain { open: 1 });
    assert_eq!(
        wait(s.acquire(t)),
        (0, false),
        "maintain's connect serves it"
    );
    assert_eq!(wait(s.acquire(t)), (1, true));
    assert_eq!(s.counts(), counts(0, 0, 2, 2));
}

#[test]
fn connected_goes_to_the_oldest_waiter_else_idle() {
    let t = Instant::now();
    let mut s: Slots<u32> = Slots::new(cfg(0, 3, 8));
    let (a, _) = wait(s.acquire(t));
    let (b, _) = wait(s.acquire(t));
    assert_eq!(to_waiter(s.connected(10, t + MS)), (a, 10, t + MS));
    assert_eq!(to_waiter(s.connected(11, t)), (b, 11, t));
    s.connecting += 1;
    assert!(matches!(s.connected(12, t), Handoff::Idle));
    assert_eq!(s.counts(), counts(1, 2, 0, 0));
}

#[test]
fn acquire_takes_the_most_recent_idle_and_flags_stale_ones() {
    let t = Instant::now();
    let mut s = with_idle(cfg(0, 4, 8), t, 3);
    assert_eq!(
        ready(s.acquire(t + 10 * MS)),
        (2, t, false),
        "idle exactly check_after"
    );
    assert_eq!(ready(s.acquire(t + 11 * MS)), (1, t, true));
    assert!(matches!(s.release(1, t, false, t + 11 * MS), Handoff::Idle));
    assert_eq!(ready(s.acquire(t + 12 * MS)), (1, t, false));
    assert_eq!(s.counts(), counts(1, 2, 0, 0));
}

#[test]
fn acquire_closes_expired_idle_and_tries_the_next() {
    let t = Instant::now();
    let mut s = with_idle(cfg(0, 4, 8), t, 1);
    s.connecting = 2;
    assert!(matches!(s.connected(1, t + 500 * MS), Handoff::Idle));
    assert!(matches!(s.connected(2, t + 10 * MS), Handoff::Idle));
    // At 1001 ms, 0 and 2 are past the 1000 ms lifetime; 1 is not.
    assert_eq!(ready(s.acquire(t + 1011 * MS)).0, 1);
    assert_eq!(s.take_closed(), [2]);
    assert_eq!(wait(s.acquire(t + 1011 * MS)), (0, true));
    assert_eq!(s.take_closed(), [0]);
    assert_eq!(s.stats().closed_expired, 2);
    assert!(s.take_closed().is_empty());
}

#[test]
fn connect_failed_fails_the_oldest_waiter() {
    let t = Instant::now();
    let mut s: Slots<u32> = Slots::new(cfg(0, 2, 8));
    let (a, _) = wait(s.acquire(t));
    let (b, _) = wait(s.acquire(t));
    assert_eq!(s.connect_failed(), Some(a));
    assert_eq!(s.connect_failed(), Some(b));
    s.connecting += 1;
    assert_eq!(s.connect_failed(), None);
    assert_eq!(s.counts(), Counts::default());
}

#[test]
fn release_closes_broken_and_expired_else_serves_a_waiter_or_idles() {
    let t = Instant::now();
    let mut s = with_idle(cfg(0, 2, 8), t, 2);
    let (c0, _, _) = ready(s.acquire(t));
    let (c1, _, _) = ready(s.acquire(t));
    let (w, connect) = wait(s.acquire(t));
    assert!(!connect);
    assert!(matches!(s.release(c0, t, true, t), Handoff::Closed(1)));
    assert_eq!(s.counts(), counts(0, 1, 0, 1));
    assert_eq!(
        s.connect_for_waiters(),
        1,
        "the closed one's room goes to the waiter"
    );
    assert_eq!(s.connect_for_waiters(), 0);
    s.connecting -= 1;
    assert_eq!(to_waiter(s.release(c1, t, false, t)), (w, 0, t));
    assert!(matches!(
        s.release(0, t, false, t + 1001 * MS),
        Handoff::Closed(0)
    ));
    s.in_use += 1;
    assert!(matches!(
        s.release(5, t, false, t + 1000 * MS),
        Handoff::Idle
    ));
    assert_eq!(s.stats().closed_broken, 1);
    assert_eq!(s.stats().closed_expired, 1);
}

#[test]
fn cancel_leaves_the_queue_and_fifo_skips_it() {
    let t = Instant::now();
    let mut s: Slots<u32> = Slots::new(cfg(0, 1, 8));
    let (a, _) = wait(s.acquire(t));
    let (b, _) = wait(s.acquire(t));
    let (c, _) = wait(s.acquire(t));
    assert!(s.cancel(a));
    assert!(!s.cancel(a), "already gone");
    assert!(!s.cancel(99), "never queued");
    assert_eq!(to_waiter(s.connected(7, t)).0, b);
    assert!(!s.cancel(b), "handed a connection: the caller releases it");
    assert_eq!(to_waiter(s.release(7, t, false, t)).0, c);
    assert_eq!(s.counts(), counts(0, 1, 0, 0));
}

#[test]
fn maintain_opens_up_to_min_and_for_uncovered_waiters() {
    let t = Instant::now();
    let mut s: Slots<u32> = Slots::new(cfg(3, 4, 8));
    assert_eq!(s.maintain(t), Maintain { open: 3 });
    assert_eq!(
        s.maintain(t),
        Maintain { open: 0 },
        "connects in flight count"
    );
    for i in 0..3 {
        s.connected(i, t);
    }
    for _ in 0..4 {
        s.acquire(t);
    }
    assert_eq!(s.counts(), counts(0, 3, 1, 1));
    s.release(0, t, true, t);
    s.release(1, t, true, t);
    assert_eq!(s.counts(), counts(0, 1, 1, 1));
    assert_eq!(
        s.maintain(t),
        Maintain { open: 1 },
        "back to min 3, within max 4"
    );
    s.connect_failed();
    s.connect_failed();
    for _ in 0..4 {
        s.acquire(t);
    }
    assert_eq!(
        s.counts(),
        counts(0, 1, 3, 4),
        "the fourth waiter found no room"
    );
    assert_eq!(s.maintain(t), Maintain { open: 0 }, "max 4 stops it");
}

#[test]
fn maintain_closes_idle_down_to_min_lru_first_and_expired_always() {
    let t = Instant::now();
    let mut s = with_idle(cfg(2, 8, 8), t, 4);
    let (c3, _, _) = ready(s.acquire(t));
    s.release(c3, t, false, t + 50 * MS);
    // Idle since 0 ms: 0, 1, 2; since 50 ms: 3.
    assert_eq!(
        s.maintain(t + 100 * MS),
        Maintain { open: 0 },
        "100 ms is not over"
    );
    assert_eq!(s.maintain(t + 120 * MS), Maintain { open: 0 });
    assert_eq!(
        s.take_closed(),
        [0, 1],
        "least recently used first, down to min 2"
    );
    assert_eq!(s.counts().idle, 2);
    assert_eq!(
        s.maintain(t + 1001 * MS),
        Maintain { open: 2 },
        "lifetime: even below min"
    );
    assert_eq!(s.take_closed(), [2, 3]);
    assert_eq!(s.stats().closed_idle, 2);
    assert_eq!(s.stats().closed_expired, 2);
}

#[test]
fn maintain_never_closes_in_use() {
    let t = Instant::now();
    let mut s = with_idle(cfg(0, 8, 8), t, 2);
    let (c, _, _) = ready(s.acquire(t));
    assert_eq!(s.maintain(t + 5000 * MS), Maintain { open: 0 });
    assert_eq!(s.take_closed(), [0]);
    assert_eq!(s.counts(), counts(0, 1, 0, 0));
    assert!(matches!(
        s.release(c, t, false, t + 5000 * MS),
        Handoff::Closed(1)
    ));
}
