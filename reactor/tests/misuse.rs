//! Careless use must not take a core down: a panicking `Handle::spawn` closure, `Duration::MAX`
//! timers and out-of-range builder values. On both backends.

mod util;

use ringwire_reactor::{Error, Runtime, channel, loop_stats, time};
use std::{sync::mpsc, thread, time::Duration};
use util::runtime;

both_backends! {
    fn a_panicking_closure_is_caught_counted_and_the_core_keeps_running(backend) {
        let (handle_tx, handle_rx) = mpsc::channel();
        let (done_tx, done_rx) = channel::channel::<&'static str>();
        let core = thread::spawn(move || {
            let rt = runtime(backend);
            handle_tx.send(rt.handle()).unwrap();
            rt.block_on(async move {
                let before = loop_stats().task_panics;
                let mut seen = Vec::new();
                while let Some(msg) = done_rx.recv().await {
                    seen.push(msg);
                }
                (seen, loop_stats().task_panics - before)
            })
        });
        let handle = handle_rx.recv().unwrap();
        let tx = done_tx.clone();
        assert!(handle.spawn(move || {
            tx.send("before").unwrap();
        }));
        assert!(handle.spawn(|| panic!("a closure sent to a core panics")));
        assert!(handle.spawn(|| std::panic::panic_any(17u32)));
        assert!(handle.spawn(move || {
            // Runs after the panics, on the same core: it survived them.
            done_tx.send("after").unwrap();
        }));
        let (seen, panics) = core.join().expect("the core thread died of a closure's panic");
        assert_eq!(seen, ["before", "after"]);
        assert_eq!(panics, 2, "both panics counted with the task panics");
    }
}

both_backends! {
    fn sleep_and_timeout_of_duration_max_wait_instead_of_panicking(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let forever = time::sleep(Duration::MAX);
            assert!(forever.deadline() > time::now() + Duration::from_secs(100 * 365 * 86_400));
            assert!(!forever.is_elapsed());
            // The whole point of a forever timeout: the future wins.
            let v = time::timeout(Duration::MAX, async { 7 }).await;
            assert_eq!(v, Ok(7));
            // A forever timer that is pending does not stop the loop from parking and waking.
            let r = time::timeout(Duration::from_millis(20), time::sleep(Duration::MAX)).await;
            assert!(r.is_err(), "the short timeout fired first");
            let mut timer = time::sleep(Duration::MAX);
            timer.reset(time::now() + Duration::from_millis(5));
            timer.await;
            // Just below the overflow point too.
            let near = Duration::from_secs(u64::MAX / 2);
            assert!(time::timeout(near, async { 1 }).await.is_ok());
        });
    }
}

#[test]
fn recv_buffer_values_beyond_the_kernel_fields_are_rejected_with_the_setting_named() {
    for count in [0u16, 32_769, 40_000, u16::MAX] {
        let err = Runtime::builder()
            .recv_buffers(count, 4096)
            .build()
            .err()
            .unwrap_or_else(|| panic!("recv_buffers({count}) accepted"));
        assert!(matches!(err, Error::Config(_)), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("recv_buffers")
                && msg.contains(&count.to_string())
                && msg.contains("32768"),
            "{msg}"
        );
    }
    let err = Runtime::builder()
        .recv_buffers(512, u32::MAX)
        .build()
        .err()
        .expect("a 4 GiB receive buffer accepted");
    assert!(err.to_string().contains("recv_buffer_size"), "{err}");
    // The largest valid values still build (the ring is mapped lazily: no memory is touched).
    for count in [1u16, 3, 32_768] {
        let rt = Runtime::builder()
            .recv_buffers(count, 4096)
            .build()
            .unwrap_or_else(|e| panic!("recv_buffers({count}) refused: {e}"));
        assert!(
            !rt.backend().reason.contains("ring size"),
            "{}",
            rt.backend()
        );
    }
}

#[test]
fn ring_entries_saturate_at_both_ends() {
    for entries in [0u32, 1, u32::MAX] {
        let rt = Runtime::builder()
            .ring_entries(entries)
            .build()
            .unwrap_or_else(|e| panic!("ring_entries({entries}): {e}"));
        assert_eq!(rt.block_on(async { 1 }), 1);
    }
}

/// Handles are `!Send`, but one thread may run one runtime after another: a stream made under
/// the first must not reach into the second's ring, where its op index names another op.
#[test]
fn a_stream_from_an_earlier_runtime_on_this_thread_cannot_touch_the_next_ones_ring() {
    use ringwire_reactor::{Backend, net::TcpStream, spawn_local};
    use std::{future::poll_fn, panic, task::Poll};
    if !ringwire_reactor::testing::uring_or_skip("misuse::earlier_runtime") {
        return;
    }
    let first = Runtime::builder().backend(Backend::Uring).build().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let old = first.block_on(async {
        let c = TcpStream::connect(addr).await.unwrap();
        // Arms its multishot receive in the first ring's slab (nothing was sent: pending).
        assert!(poll_fn(|cx| Poll::Ready(c.poll_recv(cx).is_pending())).await);
        c
    });
    let (_peer, _) = l.accept().unwrap();
    let second = Runtime::builder().backend(Backend::Uring).build().unwrap();
    second.block_on(async move {
        // The second ring has multishot ops of its own at the low slab indexes.
        let l2 = util::listener(16);
        let addr2 = l2.local_addr().unwrap();
        let server = spawn_local(async move {
            let s = l2.accept().await.unwrap();
            let got = util::read_exact(&s, 4).await;
            s.write_all(got).await.0.unwrap();
            l2
        });
        let c2 = TcpStream::connect(addr2).await.unwrap();
        ringwire_reactor::yield_now().await;
        let polled = poll_fn(|cx| {
            Poll::Ready(panic::catch_unwind(panic::AssertUnwindSafe(|| {
                c2.poll_recv(cx).is_pending() && old.poll_recv(cx).is_pending()
            })))
        })
        .await;
        let msg = polled.expect_err("the old stream's receive ran on the new ring");
        let msg = msg
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| msg.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(msg.contains("runtime other than"), "{msg}");
        drop(old); // leaks its op in the first ring instead of freeing one of ours
        c2.write_all(b"ping".to_vec()).await.0.unwrap();
        assert_eq!(
            util::read_exact(&c2, 4).await,
            b"ping",
            "the second ring still works"
        );
        drop(server.await.unwrap());
    });
    drop(second);
    drop(first);
}

/// A descriptor dropped outside any runtime is closed directly, which is sound only if no
/// queued SQE still names it: `block_on` submits what its last poll queued before it returns.
#[test]
fn block_on_submits_what_it_queued_before_returning() {
    use ringwire_reactor::{Backend, net::TcpStream};
    use std::{future::Future, io::Read, task::Poll};
    if !ringwire_reactor::testing::uring_or_skip("misuse::flush_on_exit") {
        return;
    }
    let rt = Runtime::builder().backend(Backend::Uring).build().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (accepted, _) = l.accept().unwrap();
    let stream = rt.block_on(async move {
        let s = TcpStream::from_std(accepted).unwrap();
        {
            // Queue a write (polled once: its SQE waits for the next loop turn), then return
            // at once, before any turn. Forgetting the future leaks its buffer to the kernel.
            let mut write = Box::pin(s.write_all(b"queued".to_vec()));
            let polled = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
            assert!(polled.is_pending());
            std::mem::forget(write);
        }
        s
    });
    // No runtime runs now: the bytes arrive only if the SQE was submitted on the way out.
    let mut client = client;
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut got = [0u8; 6];
    client
        .read_exact(&mut got)
        .expect("the write queued by the last poll was never submitted");
    assert_eq!(&got, b"queued");
    drop(stream);
    drop(rt);
}
