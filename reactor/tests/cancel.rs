//! Cancellation safety: futures dropped while the kernel works on their buffers must never
//! let it write into freed or reused memory, lose accepted connections, or leak descriptors.
//!
//! The kernel's writes are invisible to ASan and valgrind, so the check is direct: after the
//! in-flight reads are dropped, fresh "canary" buffers of the same size are allocated (where
//! freed read buffers would be reused by the allocator) and filled with a known byte; then the
//! peers send data. A driver that freed a buffer early could see its canary overwritten.
//!
//! On io_uring with DEFER_TASKRUN the cancel SQE is processed at the start of the next enter,
//! before deferred receive work could copy data, so this black-box test rarely sees the race
//! even with a broken driver. The ownership rule itself is proven white-box by
//! `sys::uring::op::tests::an_abandoned_read_keeps_its_buffer_until_its_completion_arrives`,
//! which fails if a dropped op's buffer is freed before its completion arrives.

mod util;

use ringwire_reactor::{
    loop_stats,
    net::TcpStream,
    spawn_local,
    time::{sleep, timeout},
    yield_now,
};
use std::{sync::Mutex, time::Duration};
use util::{listener, open_fds, runtime};

/// Descriptor counts are process-wide: run these tests one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const BUF: usize = 4096;

both_backends! {
    fn dropped_reads_never_write_into_freed_memory(backend) {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(1024);
            let addr = l.local_addr().unwrap();
            const PAIRS: usize = 128;
            let mut clients = Vec::new();
            let mut servers = Vec::new();
            for _ in 0..PAIRS {
                clients.push(TcpStream::connect(addr).await.unwrap());
                servers.push(std::rc::Rc::new(l.accept().await.unwrap()));
            }
            // Background load on the same core while reads are dropped.
            let load = spawn_local(async move {
                let a = TcpStream::connect(addr).await.unwrap();
                let b = l.accept().await.unwrap();
                for i in 0..2_000u32 {
                    a.write_all(i.to_le_bytes().to_vec()).await.0.unwrap();
                    let (res, _) = b.read(Vec::with_capacity(64)).await;
                    res.unwrap();
                }
            });
            for round in 0..20u8 {
                let reads: Vec<_> = servers
                    .iter()
                    .map(|s| {
                        let s = s.clone();
                        spawn_local(async move { s.read(vec![0u8; BUF]).await.0.ok() })
                    })
                    .collect();
                // Let every read reach the kernel, then drop them all in flight.
                yield_now().await;
                sleep(Duration::from_millis(1)).await;
                reads.into_iter().for_each(|r| r.abort());
                yield_now().await;
                let canaries: Vec<Vec<u8>> = (0..PAIRS).map(|_| vec![0x5A; BUF]).collect();
                for c in &clients {
                    c.write_all(vec![0xE0 | (round & 0xF); BUF]).await.0.unwrap();
                }
                sleep(Duration::from_millis(5)).await;
                for (i, canary) in canaries.iter().enumerate() {
                    assert!(canary.iter().all(|&b| b == 0x5A), "round {round}: canary {i} was written into");
                }
                // Drain what the cancelled reads did not take, so each round starts clean.
                for s in &servers {
                    while let Ok(Ok(Some(_))) = timeout(Duration::from_millis(2), s.recv()).await {}
                }
            }
            load.await.unwrap();
        });
    }
}

both_backends! {
    fn dropped_accepts_lose_no_connection_and_leak_no_descriptor(backend) {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let before = open_fds();
        {
            let rt = runtime(backend);
            rt.block_on(async {
                let l = listener(1024);
                let addr = l.local_addr().unwrap();
                const N: usize = 100;
                let connector = spawn_local(async move {
                    let mut v = Vec::new();
                    for _ in 0..N {
                        v.push(TcpStream::connect(addr).await.unwrap());
                        yield_now().await;
                    }
                    v
                });
                // Accepts that time out at once are dropped in flight, over and over.
                let mut got = Vec::new();
                while got.len() < N {
                    match timeout(Duration::from_micros(50), l.accept()).await {
                        Ok(s) => got.push(s.unwrap()),
                        Err(_) => yield_now().await,
                    }
                }
                let clients = connector.await.unwrap();
                assert_eq!(got.len(), N, "every connection was accepted exactly once");
                // More connections the application never accepts, then drop the listener with
                // its multishot accept still armed: those sockets must be closed, not leaked.
                let mut extra = Vec::new();
                for _ in 0..10 {
                    extra.push(TcpStream::connect(addr).await.unwrap());
                }
                sleep(Duration::from_millis(20)).await;
                drop(l);
                drop((got, clients, extra));
                sleep(Duration::from_millis(20)).await;
            });
        }
        // The runtime is gone: every socket it owned, queued or not, is closed.
        let after = open_fds();
        assert!(after <= before, "descriptors leaked: {before} before, {after} after");
    }
}

both_backends! {
    fn dropping_streams_mid_receive_returns_every_buffer(backend) {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(1024);
            let addr = l.local_addr().unwrap();
            for _ in 0..50 {
                let c = TcpStream::connect(addr).await.unwrap();
                let s = l.accept().await.unwrap();
                let r = spawn_local(async move {
                    let first = s.recv().await.unwrap();
                    drop(first);
                    // Dropped with its multishot receive armed and data still arriving.
                    let _ = s.recv().await;
                });
                c.write_all(vec![1u8; 64 << 10]).await.0.unwrap();
                yield_now().await;
                r.abort();
                drop(c);
            }
            sleep(Duration::from_millis(30)).await;
            assert_eq!(loop_stats().recv_buffers_in_use, 0, "buffers of dropped receives came back");
        });
    }
}
