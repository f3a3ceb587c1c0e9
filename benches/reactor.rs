//! Reactor benchmarks: what a task, a wake, a timer and a cross-core message cost.
//! Run: `cargo bench -p ringwire --bench reactor`.
//!
//! Each bench measures inside one `block_on` (criterion's `iter_custom`), so runtime set-up
//! is paid once and the figure is the steady-state cost per operation. Runtimes use the
//! default backend (io_uring where the kernel allows it, else epoll); the printed name says
//! which.

use std::{
    future::{Future, poll_fn, ready},
    pin::Pin,
    sync::{Arc, Mutex, mpsc},
    task::Poll,
    time::{Duration, Instant},
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringwire_reactor::{
    Runtime, channel,
    launcher::{Cores, Launcher, available_cpus},
    spawn_local,
    time::{Sleep, sleep, timeout},
    yield_now,
};

fn runtime() -> Runtime {
    let rt = Runtime::new().expect("a runtime on this machine");
    eprintln!("reactor bench backend: {}", rt.backend());
    rt
}

fn executor(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("executor");
    g.throughput(Throughput::Elements(1));
    // One at a time: spawn, one loop turn to run it, join. The turn is part of the price.
    g.bench_function("spawn_join_empty_task", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    spawn_local(async {}).await.expect("empty task");
                }
                start.elapsed()
            })
        })
    });
    // A hundred per turn: the per-task cost once the loop turn is shared.
    g.throughput(Throughput::Elements(100));
    g.bench_function("spawn_100_then_join", |b| {
        let mut handles = Vec::with_capacity(100);
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    handles.extend((0..100).map(|_| spawn_local(async {})));
                    for h in handles.drain(..) {
                        h.await.expect("empty task");
                    }
                }
                start.elapsed()
            })
        })
    });
    // A task that wakes itself goes to the back of the queue and runs on the next turn:
    // the wake, the re-queue and the turn, which is what every yielding task pays.
    g.throughput(Throughput::Elements(1));
    g.bench_function("yield_round_trip", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                spawn_local(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        yield_now().await;
                    }
                    start.elapsed()
                })
                .await
                .expect("yielding task")
            })
        })
    });
    g.finish();
}

/// Polls a timer once, which registers it, and returns it still pending.
async fn armed(mut s: Sleep) -> Sleep {
    poll_fn(|cx| {
        assert!(Pin::new(&mut s).poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    s
}

fn timers(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("timer");
    g.throughput(Throughput::Elements(1));
    // The common case of a per-request deadline: the work finishes on its first poll, so
    // the timer is never registered.
    g.bench_function("timeout_around_ready_future", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let start = Instant::now();
                for i in 0..iters {
                    let v = timeout(Duration::from_secs(10), ready(i)).await;
                    std::hint::black_box(v.expect("ready future"));
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("sleep_create_drop", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    drop(std::hint::black_box(sleep(Duration::from_secs(10))));
                }
                start.elapsed()
            })
        })
    });
    // Registered, then cancelled by drop: the timer set's insert and remove, the waker
    // clone, with 0 and with 10 000 other live timers (one idle timeout per connection).
    for live in [0usize, 10_000] {
        g.bench_function(format!("insert_cancel/{live}_live"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async move {
                    let mut others = Vec::with_capacity(live);
                    for i in 0..live {
                        others.push(armed(sleep(Duration::from_secs(60 + i as u64))).await);
                    }
                    let start = Instant::now();
                    for _ in 0..iters {
                        drop(armed(sleep(Duration::from_secs(30))).await);
                    }
                    let t = start.elapsed();
                    drop(others);
                    t
                })
            })
        });
    }
    g.finish();
}

/// What one bench core runs: built on its own thread, since a core's futures are `!Send`.
type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// Runs two jobs on two cores, pinned to two CPUs where the machine has two.
fn on_two_cores(jobs: [Job; 2]) -> Cores<()> {
    let cpus = available_cpus();
    let jobs = Arc::new(Mutex::new(jobs.map(Some)));
    let mut launcher = Launcher::new(2).name("bench-core");
    if !cpus.is_empty() {
        launcher = launcher.cpus(cpus.iter().copied().cycle().take(2).collect());
    }
    launcher
        .launch(move |info| {
            let job = jobs.lock().expect("jobs")[info.index].take();
            job.expect("one job per core")()
        })
        .expect("two cores")
}

fn cross_core(c: &mut Criterion) {
    let mut g = c.benchmark_group("cross_core");
    g.throughput(Throughput::Elements(1));

    // Core 0 times `iters` round trips when told to; core 1 sends back whatever arrives.
    // Each leg is a send from another thread: remote wake, eventfd, the parked core's loop.
    let (cmd_tx, cmd_rx) = channel::channel::<u64>();
    let (done_tx, done_rx) = mpsc::channel::<Duration>();
    let (ping_tx, ping_rx) = channel::channel::<u64>();
    let (pong_tx, pong_rx) = channel::channel::<u64>();
    let cores = on_two_cores([
        Box::new(move || {
            Box::pin(async move {
                while let Some(iters) = cmd_rx.recv().await {
                    let start = Instant::now();
                    for i in 0..iters {
                        ping_tx.send(i).expect("core 1 is listening");
                        pong_rx.recv().await.expect("core 1 answers");
                    }
                    done_tx.send(start.elapsed()).expect("bench thread waits");
                }
            })
        }),
        Box::new(move || {
            Box::pin(async move {
                while let Some(v) = ping_rx.recv().await {
                    pong_tx.send(v).expect("core 0 is listening");
                }
            })
        }),
    ]);
    eprintln!(
        "cross-core bench: backend {}, cpus {:?}",
        cores.backends()[0],
        available_cpus()
    );
    g.bench_function("channel_round_trip", |b| {
        b.iter_custom(|iters| {
            cmd_tx.send(iters).expect("core 0 runs");
            done_rx.recv().expect("core 0 reports")
        })
    });
    // Closing the command channel ends core 0, which closes the ping channel and ends core 1.
    drop(cmd_tx);
    cores
        .join()
        .into_iter()
        .for_each(|r| r.expect("core exits"));

    // The floor this machine sets: the same ping-pong between the same two pinned threads
    // through blocking std channels (a futex wake per leg), no reactor involved. On a VM most
    // of either figure is waking an idle virtual CPU.
    let (cmd_tx, cmd_rx) = mpsc::channel::<u64>();
    let (done_tx, done_rx) = mpsc::channel::<Duration>();
    let (ping_tx, ping_rx) = mpsc::channel::<u64>();
    let (pong_tx, pong_rx) = mpsc::channel::<u64>();
    let cores = on_two_cores([
        Box::new(move || {
            Box::pin(async move {
                while let Ok(iters) = cmd_rx.recv() {
                    let start = Instant::now();
                    for i in 0..iters {
                        ping_tx.send(i).expect("thread 1 is listening");
                        pong_rx.recv().expect("thread 1 answers");
                    }
                    done_tx.send(start.elapsed()).expect("bench thread waits");
                }
            })
        }),
        Box::new(move || {
            Box::pin(async move {
                while let Ok(v) = ping_rx.recv() {
                    pong_tx.send(v).expect("thread 0 is listening");
                }
            })
        }),
    ]);
    g.bench_function("std_mpsc_round_trip_baseline", |b| {
        b.iter_custom(|iters| {
            cmd_tx.send(iters).expect("thread 0 runs");
            done_rx.recv().expect("thread 0 reports")
        })
    });
    drop(cmd_tx);
    cores
        .join()
        .into_iter()
        .for_each(|r| r.expect("core exits"));

    // The same channel without a thread hop: the receiver is never parked, so this is the
    // queue and the waker registration alone.
    let rt = runtime();
    g.bench_function("channel_send_recv_same_core", |b| {
        let (tx, rx) = channel::channel::<u64>();
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    tx.send(i).expect("open");
                    rx.recv().await.expect("a message");
                }
                start.elapsed()
            })
        })
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
    targets = executor, timers, cross_core
}
criterion_main!(benches);
