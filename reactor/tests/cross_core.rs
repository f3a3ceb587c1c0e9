//! Cross-core messages and closures wake a parked core; the thread-per-core launcher pins,
//! reports startup failures, and joins. On both backends.

mod util;

use ringwire_reactor::{
    Backend, Error, Runtime, channel,
    launcher::{Launcher, available_cpus, parse_cpu_list},
    spawn_local,
    time::timeout,
};
use std::{
    sync::{Arc, Barrier, mpsc},
    thread,
    time::{Duration, Instant},
};

both_backends! {
    fn a_message_wakes_a_parked_core_and_gets_an_answer(backend) {
        // Core B parks with no timers and nothing to do: only a cross-core wake can move it.
        let (to_b, b_rx) = channel::channel::<(u64, channel::Sender<u64>)>();
        let ready = Arc::new(Barrier::new(2));
        let r = ready.clone();
        let b = thread::spawn(move || {
            let rt = Runtime::builder().backend(backend).build().unwrap();
            rt.block_on(async move {
                r.wait();
                let mut served = 0;
                while let Some((n, reply)) = b_rx.recv().await {
                    reply.send(n * n).unwrap();
                    served += 1;
                }
                served
            })
        });
        let rt = Runtime::builder().backend(backend).build().unwrap();
        rt.block_on(async move {
            ready.wait();
            // Give B time to block in the kernel.
            ringwire_reactor::time::sleep(Duration::from_millis(50)).await;
            let (reply_tx, reply_rx) = channel::channel();
            for n in 0..100u64 {
                to_b.send((n, reply_tx.clone())).unwrap();
                let sq = timeout(Duration::from_secs(5), reply_rx.recv()).await.expect("core B never woke");
                assert_eq!(sq, Some(n * n));
            }
            drop(to_b);
        });
        assert_eq!(b.join().unwrap(), 100, "B saw every message, then the disconnect");
    }
}

both_backends! {
    fn handle_spawn_runs_a_closure_on_the_target_core(backend) {
        let (handle_tx, handle_rx) = mpsc::channel();
        let (done_tx, done_rx) = channel::channel::<thread::ThreadId>();
        let target = thread::spawn(move || {
            let rt = Runtime::builder().backend(backend).build().unwrap();
            handle_tx.send(rt.handle()).unwrap();
            rt.block_on(async move {
                let id = done_rx.recv().await.unwrap();
                (id, thread::current().id())
            })
        });
        let handle = handle_rx.recv().unwrap();
        thread::sleep(Duration::from_millis(30));
        let start = Instant::now();
        assert!(handle.spawn(move || {
            // Runs on the target's thread, inside its runtime: it may spawn local tasks.
            spawn_local(async move { done_tx.send(thread::current().id()).unwrap() });
        }));
        let (ran_on, target_id) = target.join().unwrap();
        assert_eq!(ran_on, target_id);
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(handle.is_closed());
        assert!(!handle.spawn(|| {}), "a closed runtime refuses closures");
    }
}

both_backends! {
    fn launcher_pins_each_core_and_joins(backend) {
        let cpus = available_cpus();
        let cores = Launcher::new(cpus.len())
            .cpus(cpus.clone())
            .runtime(Runtime::builder().backend(backend))
            .launch(|info| async move {
                let allowed = std::fs::read_to_string("/proc/thread-self/status")
                    .unwrap()
                    .lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:").map(|v| v.trim().to_string()))
                    .unwrap();
                (info.index, info.cpu, allowed, info.backend.kind)
            })
            .unwrap();
        assert_eq!(cores.handles().len(), cpus.len());
        for (i, r) in cores.join().into_iter().enumerate() {
            let (index, cpu, allowed, kind) = r.unwrap();
            assert_eq!(index, i);
            assert_eq!(cpu, Some(cpus[i]));
            assert_eq!(parse_cpu_list(&allowed).unwrap(), vec![cpus[i]], "pinned to one cpu");
            assert_eq!(kind.name(), if backend == Backend::Poll { "epoll" } else { "io_uring" });
        }
    }
}

#[test]
fn launcher_reports_which_core_failed_and_starts_none() {
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s = started.clone();
    let err = Launcher::new(2)
        .cpus(vec![0, 4095])
        .launch(move |_| {
            s.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async {}
        })
        .err()
        .expect("pinning to cpu 4095 must fail");
    match &err {
        Error::CoreStart { core, cpu, .. } => assert_eq!((*core, *cpu), (1, Some(4095))),
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("worker 1 (cpu 4095)"), "{err}");
    assert_eq!(
        started.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no core ran user code"
    );
}

#[test]
fn launcher_reports_an_unavailable_backend_per_core() {
    let err = Launcher::new(1)
        .runtime(
            Runtime::builder()
                .backend(Backend::Uring)
                .simulate_uring_unavailable("test says no"),
        )
        .launch(|_| async {})
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("worker 0") && msg.contains("test says no"),
        "{msg}"
    );
}

both_backends! {
    fn dropping_the_last_sender_always_wakes_the_receiver(backend) {
        // Regression: waking before disconnecting let the receiver sleep forever (a race, so
        // many rounds; a watchdog turns a hang into a failure).
        let (done_tx, done_rx) = mpsc::channel();
        thread::spawn(move || {
            for _ in 0..300 {
                let (tx, rx) = channel::channel::<u8>();
                let t = thread::spawn(move || {
                    Runtime::builder().backend(backend).build().unwrap().block_on(rx.recv())
                });
                thread::yield_now();
                drop(tx);
                assert_eq!(t.join().unwrap(), None);
            }
            done_tx.send(()).unwrap();
        });
        done_rx.recv_timeout(Duration::from_secs(60)).expect("a receiver missed its disconnect");
    }
}
