//! Socket operations on both backends, against real loopback TCP.

mod util;

use ringwire_reactor::{
    BackendKind, Runtime, buf::IoBuf, loop_stats, net::TcpStream, spawn_local, time::timeout,
};
use std::{net::Shutdown, rc::Rc, time::Duration};
use util::{listener, pattern, read_exact, runtime};

both_backends! {
    fn connect_accept_write_read(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(128);
            let addr = l.local_addr().unwrap();
            let server = spawn_local(async move {
                let s = l.accept().await.unwrap();
                let (res, buf) = s.read(Vec::with_capacity(64)).await;
                assert_eq!(res.unwrap(), 5);
                s.write_all(buf).await.0.unwrap();
                s.peer_addr().unwrap()
            });
            let c = TcpStream::connect(addr).await.unwrap();
            assert_eq!(c.backend(), expected_kind(backend));
            c.set_nodelay(true).unwrap();
            c.write_all(b"hello".to_vec()).await.0.unwrap();
            assert_eq!(read_exact(&c, 5).await, b"hello");
            assert_eq!(server.await.unwrap(), c.local_addr().unwrap());
            assert_eq!(c.peer_addr().unwrap(), addr);
        });
    }
}

fn expected_kind(b: ringwire_reactor::Backend) -> BackendKind {
    match b {
        ringwire_reactor::Backend::Poll => BackendKind::Poll,
        _ => BackendKind::Uring,
    }
}

both_backends! {
    fn recv_sees_data_then_end_of_stream(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(128);
            let addr = l.local_addr().unwrap();
            let data = pattern(1, 100_000);
            let expect = data.clone();
            spawn_local(async move {
                let s = l.accept().await.unwrap();
                s.write_all(data).await.0.unwrap();
                s.close().await.unwrap();
            });
            let c = TcpStream::connect(addr).await.unwrap();
            let mut got = Vec::new();
            while let Some(buf) = c.recv().await.unwrap() {
                assert!(!buf.is_empty());
                got.extend_from_slice(&buf);
            }
            assert_eq!(got, expect);
            assert!(c.recv().await.unwrap().is_none(), "end of stream is sticky");
            assert_eq!(loop_stats().recv_buffers_in_use, 0, "every receive buffer went back");
        });
    }
}

both_backends! {
    fn writev_all_sends_every_buffer_in_order(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(128);
            let addr = l.local_addr().unwrap();
            // Big enough to overflow the socket buffers and force partial vectored writes.
            let parts = vec![pattern(2, 1 << 20), Vec::new(), pattern(3, 7), pattern(4, 3 << 20)];
            let expect: Vec<u8> = parts.concat();
            let total = expect.len();
            let reader = spawn_local(async move {
                let s = l.accept().await.unwrap();
                read_exact(&s, total).await
            });
            let c = TcpStream::connect(addr).await.unwrap();
            let (res, back) = c.writev_all(parts).await;
            res.unwrap();
            assert_eq!(back.len(), 4, "buffers come back");
            assert_eq!(reader.await.unwrap(), expect);
        });
    }
}

both_backends! {
    fn write_slices_without_copying(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(128);
            let addr = l.local_addr().unwrap();
            let reader = spawn_local(async move {
                let s = l.accept().await.unwrap();
                read_exact(&s, 5).await
            });
            let c = TcpStream::connect(addr).await.unwrap();
            let (res, slice) = c.write_all(b"xxhello".to_vec().slice(2..)).await;
            res.unwrap();
            assert_eq!(slice.into_inner(), b"xxhello");
            assert_eq!(reader.await.unwrap(), b"hello");
        });
    }
}

both_backends! {
    fn shutdown_write_half_closes(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(128);
            let addr = l.local_addr().unwrap();
            spawn_local(async move {
                let s = l.accept().await.unwrap();
                let got = read_exact(&s, usize::MAX).await;
                s.write_all(got).await.0.unwrap();
            });
            let c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"ping".to_vec()).await.0.unwrap();
            c.shutdown(Shutdown::Write).await.unwrap();
            assert_eq!(read_exact(&c, usize::MAX).await, b"ping", "the read half still works");
        });
    }
}

both_backends! {
    fn sendfile_transfers_ranges_of_a_file(backend) {
        let rt = runtime(backend);
        let data = pattern(5, (3 << 20) + 123);
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &data).unwrap();
        let file = Rc::new(file);
        rt.block_on(async {
            let l = listener(128);
            let addr = l.local_addr().unwrap();
            let f = file.clone();
            let len = data.len() as u64;
            spawn_local(async move {
                let s = l.accept().await.unwrap();
                assert_eq!(s.sendfile(&f, 0, len).await.unwrap(), len);
                assert_eq!(s.sendfile(&f, 1000, 10).await.unwrap(), 10);
                let err = s.sendfile(&f, len - 5, 10).await.unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
            });
            let c = TcpStream::connect(addr).await.unwrap();
            let got = read_exact(&c, data.len() + 10 + 5).await;
            assert_eq!(&got[..data.len()], &data[..]);
            assert_eq!(&got[data.len()..data.len() + 10], &data[1000..1010]);
            assert_eq!(&got[data.len() + 10..], &data[data.len() - 5..]);
        });
    }
}

both_backends! {
    fn recv_keeps_working_when_the_buffer_ring_runs_dry(backend) {
        // 8 receive buffers for 64 connections whose data is all held at once: io_uring must
        // fall back to pooled buffers (ENOBUFS) and lose nothing.
        let rt = Runtime::builder().backend(backend).recv_buffers(8, 512).build().unwrap();
        rt.block_on(async {
            let l = listener(1024);
            let addr = l.local_addr().unwrap();
            const N: usize = 64;
            let mut clients = Vec::new();
            for i in 0..N {
                let c = TcpStream::connect(addr).await.unwrap();
                c.write_all(pattern(i as u64, 300)).await.0.unwrap();
                clients.push(c);
            }
            let mut held = Vec::new();
            let mut servers = Vec::new();
            for _ in 0..N {
                servers.push(l.accept().await.unwrap());
            }
            for s in &servers {
                let buf = s.recv().await.unwrap().expect("data");
                held.push(buf);
            }
            assert!(held.iter().any(|b| !b.is_ring()) || backend == ringwire_reactor::Backend::Poll);
            let mut firsts: Vec<u8> = held.iter().map(|b| b[0]).collect();
            let mut want: Vec<u8> = (0..N).map(|i| pattern(i as u64, 1)[0]).collect();
            firsts.sort();
            want.sort();
            assert_eq!(firsts, want);
            assert!(loop_stats().recv_buffers_in_use >= N as u64);
            drop(held);
            assert_eq!(loop_stats().recv_buffers_in_use, 0);
        });
    }
}

both_backends! {
    fn completions_arrive_while_tasks_keep_yielding(backend) {
        // The run queue never empties here, so the loop never blocks in the kernel: I/O must
        // still complete through the non-blocking path of each turn.
        let rt = runtime(backend);
        rt.block_on(async {
            let stop = Rc::new(std::cell::Cell::new(false));
            let s2 = stop.clone();
            let spinner = spawn_local(async move {
                let mut turns = 0u64;
                while !s2.get() {
                    ringwire_reactor::yield_now().await;
                    turns += 1;
                }
                turns
            });
            let l = listener(128);
            let addr = l.local_addr().unwrap();
            spawn_local(async move {
                let s = l.accept().await.unwrap();
                s.write_all(b"done".to_vec()).await.0.unwrap();
            });
            let c = TcpStream::connect(addr).await.unwrap();
            let got = timeout(Duration::from_secs(5), read_exact(&c, 4)).await.expect("I/O starved");
            assert_eq!(got, b"done");
            stop.set(true);
            assert!(spinner.await.unwrap() > 0);
        });
    }
}

both_backends! {
    fn connect_to_a_closed_port_fails(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap()
            };
            let err = TcpStream::connect(port).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        });
    }
}

both_backends! {
    fn a_close_queued_behind_the_last_bytes_is_not_lost(backend) {
        // The peer's bytes and its FIN are both queued before the first receive. The short
        // read that takes the bytes must not leave the close waiting for an event that the
        // kernel already delivered (epoll clears readiness after a short read).
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(128);
            let addr = l.local_addr().unwrap();
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            let s = l.accept().await.unwrap();
            std::io::Write::write_all(&mut c, b"last words").unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            // Let the loop see both events before anything reads.
            ringwire_reactor::time::sleep(Duration::from_millis(50)).await;
            let first = s.recv().await.unwrap().expect("the bytes");
            assert_eq!(&first[..], b"last words");
            drop(first);
            let end = timeout(Duration::from_secs(2), s.recv()).await.expect("the close was lost");
            assert!(end.unwrap().is_none(), "end of stream after the bytes");
        });
    }
}
