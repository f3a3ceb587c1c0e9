//! `TcpStream::quiesce_recv`: stopping io_uring's armed receive hands back exactly the bytes
//! it already took, in order, and leaves every later byte in the socket (what a switch to
//! kTLS needs). On both backends, against real loopback TCP.

mod util;

use ringwire_reactor::{BackendKind, loop_stats, net::TcpStream, spawn_local, time::sleep};
use std::{net::Shutdown, time::Duration};
use util::{listener, pattern, runtime};

/// Everything `c` receives until the end of the stream.
async fn rest(c: &TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    while let Some(buf) = c.recv().await.unwrap() {
        got.extend_from_slice(&buf);
    }
    got
}

both_backends! {
    fn quiesce_returns_what_was_taken_and_keeps_the_order(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(16);
            let addr = l.local_addr().unwrap();
            let data = pattern(7, 200_000);
            let expect = data.clone();
            let c = TcpStream::connect(addr).await.unwrap();
            let s = l.accept().await.unwrap();
            let writer = spawn_local(async move {
                // The first piece, then the rest in pieces while the reader is not reading.
                s.write_all(data[..1000].to_vec()).await.0.unwrap();
                sleep(Duration::from_millis(50)).await;
                for piece in data[1000..].chunks(20_000) {
                    s.write_all(piece.to_vec()).await.0.unwrap();
                }
                s.shutdown(Shutdown::Write).await.unwrap();
                s
            });
            let mut got = c.recv().await.unwrap().unwrap().to_vec();
            // io_uring's receive stays armed: while this task sleeps, the kernel fills ring
            // buffers for it.
            sleep(Duration::from_millis(200)).await;
            let (taken, eof) = c.quiesce_recv().await.unwrap();
            let taken_len: usize = taken.iter().map(|b| b.len()).sum();
            for b in &taken {
                got.extend_from_slice(b);
            }
            drop(taken);
            match c.backend() {
                BackendKind::Uring => assert!(taken_len > 0, "the armed receive took nothing"),
                _ => assert_eq!(taken_len, 0, "a readiness backend never reads ahead"),
            }
            if !eof {
                got.extend_from_slice(&rest(&c).await);
            }
            assert_eq!(got.len(), expect.len());
            assert!(got == expect, "bytes lost, repeated or reordered");
            drop(writer.await.unwrap());
            assert_eq!(loop_stats().recv_buffers_in_use, 0, "every receive buffer went back");
        });
    }
}

both_backends! {
    fn after_quiesce_nothing_is_read_ahead(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(16);
            let addr = l.local_addr().unwrap();
            let c = TcpStream::connect(addr).await.unwrap();
            let s = l.accept().await.unwrap();
            s.write_all(b"first".to_vec()).await.0.unwrap();
            assert_eq!(&c.recv().await.unwrap().unwrap()[..], b"first");
            let (taken, eof) = c.quiesce_recv().await.unwrap();
            assert!(taken.is_empty() && !eof);
            // Bytes that arrive now must stay in the socket: a second quiesce finds nothing.
            s.write_all(b"second".to_vec()).await.0.unwrap();
            sleep(Duration::from_millis(100)).await;
            let (taken, eof) = c.quiesce_recv().await.unwrap();
            assert!(taken.is_empty() && !eof, "a receive was still in flight");
            // And the next receive gets them.
            assert_eq!(&c.recv().await.unwrap().unwrap()[..], b"second");
        });
    }
}

both_backends! {
    fn quiesce_reports_the_end_of_stream_it_saw(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(16);
            let addr = l.local_addr().unwrap();
            let c = TcpStream::connect(addr).await.unwrap();
            let s = l.accept().await.unwrap();
            s.write_all(b"a".to_vec()).await.0.unwrap();
            assert_eq!(&c.recv().await.unwrap().unwrap()[..], b"a");
            s.write_all(b"bc".to_vec()).await.0.unwrap();
            s.shutdown(Shutdown::Write).await.unwrap();
            sleep(Duration::from_millis(100)).await;
            let (taken, eof) = c.quiesce_recv().await.unwrap();
            let mut got: Vec<u8> = taken.iter().flat_map(|b| b.to_vec()).collect();
            match c.backend() {
                BackendKind::Uring => assert!(eof, "the armed receive saw the end"),
                _ => assert!(taken.is_empty() && !eof),
            }
            if !eof {
                got.extend_from_slice(&rest(&c).await);
            }
            assert_eq!(got, b"bc");
        });
    }
}

both_backends! {
    fn a_listener_quiesce_returns_what_it_accepted_ahead(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(16);
            let addr = l.local_addr().unwrap();
            let _first = std::net::TcpStream::connect(addr).unwrap();
            // The first accept arms io_uring's multishot accept, which goes on accepting.
            let _s0 = l.accept().await.unwrap();
            let _clients: Vec<_> = (0..3)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            sleep(Duration::from_millis(100)).await;
            let taken = l.quiesce().await;
            match backend {
                ringwire_reactor::Backend::Poll => assert!(taken.is_empty(), "epoll accepts ahead"),
                _ => assert_eq!(taken.len(), 3, "io_uring had accepted the three"),
            }
            // Nothing is accepted ahead any more: a new client stays in the listen queue...
            let _late = std::net::TcpStream::connect(addr).unwrap();
            sleep(Duration::from_millis(50)).await;
            assert!(l.quiesce().await.is_empty(), "an accept was still armed");
            // ...and every client is accepted exactly once.
            for _ in 0..(4 - taken.len()) {
                l.accept().await.unwrap();
            }
            let extra = ringwire_reactor::time::timeout(Duration::from_millis(100), l.accept()).await;
            assert!(extra.is_err(), "a connection was accepted twice");
        });
    }
}
