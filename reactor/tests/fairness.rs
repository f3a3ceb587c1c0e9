//! One busy socket must not take its core: a receiver that does not consume holds a bounded
//! share of the provided-buffer ring (and loses no byte when its receive is paused and
//! re-armed), and a task whose socket is always readable still lets the others run.

mod util;

use ringwire_reactor::{Runtime, loop_stats, net::TcpStream, spawn_local, time::sleep, yield_now};
use std::{
    cell::Cell,
    io::Write,
    rc::Rc,
    thread,
    time::{Duration, Instant},
};
use util::{listener, pattern, read_exact};

both_backends! {
    fn a_receiver_that_does_not_consume_holds_a_bounded_share_of_buffers(backend) {
        // 512 slots of 4 KiB: 2 MiB unread would take every slot without a per-receiver bound.
        let rt = Runtime::builder()
            .backend(backend)
            .recv_buffers(512, 4096)
            .build()
            .expect("runtime");
        rt.block_on(async {
            let l = listener(16);
            let addr = l.local_addr().unwrap();
            let data = pattern(7, 4 << 20);
            let expect = data.clone();
            let writer = spawn_local(async move {
                let c = TcpStream::connect(addr).await.unwrap();
                c.write_all(data).await.0.unwrap();
                c
            });
            let s = l.accept().await.unwrap();
            // The first receive arms the socket's receive; then the task looks away while the
            // peer sends megabytes.
            let mut got = s.recv().await.unwrap().expect("first bytes").to_vec();
            let mut held = 0;
            for _ in 0..20 {
                sleep(Duration::from_millis(10)).await;
                held = held.max(loop_stats().recv_buffers_in_use);
            }
            // The bound: 16 waiting (a 32nd of the ring) plus what one loop turn delivers.
            assert!(
                held <= 128,
                "one receiver that does not consume holds {held} of 512 buffers"
            );
            // Nothing was lost or reordered while its receive was paused and re-armed.
            got.extend(read_exact(&s, expect.len() - got.len()).await);
            assert!(got == expect, "the received bytes differ from the sent ones");
            drop(writer.await.unwrap());
        });
    }
}

/// How long the greedy reader below reads at most: far longer than 20 timer ticks of 1 ms take
/// on a loaded machine, so only a starved timer makes it run that long.
const GREEDY_FOR: Duration = Duration::from_secs(20);
/// What the peer sends before it closes: the reader's socket then stays readable (at end of
/// stream) without depending on how the peer thread is scheduled.
const FLOOD: usize = 8 << 20;

both_backends! {
    fn a_task_whose_socket_is_always_readable_lets_the_others_run(backend) {
        // Small receive buffers: each read fills its buffer, so the socket never reads as
        // drained while the peer floods it; once the peer has closed, every receive is ready
        // at once (end of stream). Without a per-turn I/O budget, the reader below never
        // yields then, and the timer starves until the deadline.
        let rt = Runtime::builder()
            .backend(backend)
            .recv_buffers(512, 512)
            .build()
            .expect("runtime");
        rt.block_on(async {
            let l = listener(16);
            let addr = l.local_addr().unwrap();
            let flood = thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                let chunk = vec![b'x'; 1 << 16];
                for _ in 0..FLOOD / chunk.len() {
                    c.write_all(&chunk).unwrap();
                }
            });
            let s = l.accept().await.unwrap();
            let ticks = Rc::new(Cell::new(0));
            let read = Rc::new(Cell::new(0usize));
            let eofs = Rc::new(Cell::new(0usize));
            // Reads until the ticker below is done, or (if it is starved) until a wall-clock
            // deadline. Bounded by time, not bytes: however fast loopback is, a ticker that
            // gets turns has ample time for its 20 ticks of 1 ms. The deadline is read from
            // the OS clock, not the loop's, which a starved loop never advances.
            let give_up = Instant::now() + GREEDY_FOR;
            let greedy = {
                let (ticks, read, eofs) = (ticks.clone(), read.clone(), eofs.clone());
                spawn_local(async move {
                    while ticks.get() < 20 && Instant::now() < give_up {
                        match s.recv().await {
                            Ok(Some(buf)) => read.set(read.get() + buf.len()),
                            // End of stream keeps the socket readable: keep receiving.
                            Ok(None) => eofs.set(eofs.get() + 1),
                            Err(e) => panic!("receive failed: {e}"),
                        }
                    }
                })
            };
            // Once the greedy reader is going, a timer and this task must still get turns.
            while read.get() < 1 << 20 {
                yield_now().await;
            }
            let from = read.get();
            let ticker = {
                let ticks = ticks.clone();
                spawn_local(async move {
                    for _ in 0..20 {
                        sleep(Duration::from_millis(1)).await;
                        ticks.set(ticks.get() + 1);
                    }
                })
            };
            greedy.await.unwrap();
            let read = read.get() - from;
            eprintln!(
                "{backend:?}: {} of 20 ticks while the greedy task read {read} bytes and {} ends \
                 of stream",
                ticks.get(),
                eofs.get()
            );
            assert_eq!(ticks.get(), 20, "the timer starved beside a busy socket ({read} bytes read)");
            drop(ticker);
            flood.join().unwrap();
        });
    }
}
