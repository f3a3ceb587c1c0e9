//! Timers on both backends: order, tolerance, timeouts, resets.

mod util;

use ringwire_reactor::{
    spawn_local,
    time::{self, sleep, sleep_until, timeout},
};
use std::{
    cell::RefCell,
    rc::Rc,
    time::{Duration, Instant},
};
use util::runtime;

/// Generous upper slack: CI machines are shared and noisy. Timers must never fire early.
const SLACK: Duration = Duration::from_millis(150);

both_backends! {
    fn timers_fire_in_deadline_order_within_tolerance(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let start = Instant::now();
            let fired = Rc::new(RefCell::new(Vec::new()));
            let tasks: Vec<_> = [50u64, 10, 30, 20, 40]
                .into_iter()
                .map(|ms| {
                    let fired = fired.clone();
                    spawn_local(async move {
                        sleep(Duration::from_millis(ms)).await;
                        fired.borrow_mut().push((ms, start.elapsed()));
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let fired = fired.borrow();
            let order: Vec<u64> = fired.iter().map(|f| f.0).collect();
            assert_eq!(order, [10, 20, 30, 40, 50]);
            for &(ms, at) in fired.iter() {
                let want = Duration::from_millis(ms);
                assert!(at >= want, "{ms} ms timer fired early, at {at:?}");
                assert!(at <= want + SLACK, "{ms} ms timer fired late, at {at:?}");
            }
        });
    }
}

both_backends! {
    fn timeout_cancels_a_slow_future_and_passes_a_fast_one(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let start = Instant::now();
            let slow = timeout(Duration::from_millis(20), std::future::pending::<()>()).await;
            assert!(slow.is_err());
            assert!(start.elapsed() >= Duration::from_millis(20));
            let fast = timeout(Duration::from_secs(10), async { 5 }).await;
            assert_eq!(fast, Ok(5));
        });
    }
}

both_backends! {
    fn reset_moves_a_deadline_later_and_earlier(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let start = Instant::now();
            let mut s = sleep(Duration::from_millis(10));
            s.reset(time::now() + Duration::from_millis(60));
            (&mut s).await;
            let later = start.elapsed();
            assert!(later >= Duration::from_millis(60), "fired at {later:?}");

            // Earlier: a sleeping task must wake at the new, earlier deadline.
            let start = Instant::now();
            let s = Rc::new(RefCell::new(Some(sleep_until(time::now() + Duration::from_secs(30)))));
            let s2 = s.clone();
            let waiter = spawn_local(async move {
                let mut timer = s2.borrow_mut().take().unwrap();
                let first = std::future::poll_fn(|cx| {
                    std::pin::Pin::new(&mut timer).poll(cx).map(|_| ())
                });
                // Register, hand the timer back, then wait on it.
                let _ = timeout(Duration::from_millis(1), first).await;
                timer.reset(time::now() + Duration::from_millis(20));
                timer.await;
            });
            waiter.await.unwrap();
            assert!(start.elapsed() < Duration::from_secs(5), "the earlier deadline was honoured");
        });
    }
}

both_backends! {
    fn many_timers_cancelled_leave_nothing_behind(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            for _ in 0..10_000 {
                let _ = timeout(Duration::from_secs(60), async {}).await;
            }
            // If cancelled timers lingered, the loop would still wake for them; this just
            // checks the runtime stays responsive with a short sleep afterwards.
            let start = Instant::now();
            sleep(Duration::from_millis(5)).await;
            assert!(start.elapsed() < Duration::from_secs(2));
        });
    }
}
