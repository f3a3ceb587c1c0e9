//! `writev_all` with more parts than one system call may carry (IOV_MAX, 1024): the reactor
//! caps each call and continues, over real loopback sockets, on both backends.

mod util;

use ringwire_reactor::{net::TcpStream, spawn_local, time::timeout};
use std::time::Duration;
use util::{listener, pattern, read_exact, runtime};

/// `n` chunks of 1 to 97 bytes cut from one pattern, and the pattern itself.
fn chunks(seed: u64, n: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
    let sizes: Vec<usize> = (0..n).map(|i| 1 + (i * 37 + seed as usize) % 97).collect();
    let all = pattern(seed, sizes.iter().sum());
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    for s in sizes {
        out.push(all[at..at + s].to_vec());
        at += s;
    }
    (out, all)
}

both_backends! {
    fn more_than_iov_max_small_chunks_arrive_whole_and_in_order(backend) {
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(16);
            let addr = l.local_addr().unwrap();
            let (parts, expect) = chunks(3, 3000);
            let total = expect.len();
            let writer = spawn_local(async move {
                let s = l.accept().await.unwrap();
                let (res, back) = s.writev_all(parts).await;
                res.expect("writev_all of 3000 parts");
                back.len()
            });
            let c = TcpStream::connect(addr).await.unwrap();
            let got = timeout(Duration::from_secs(20), read_exact(&c, total)).await.unwrap();
            assert_eq!(got.len(), total);
            assert!(got == expect, "bytes differ from what was written");
            assert_eq!(writer.await.unwrap(), 3000, "every buffer handed back");
        });
    }
}

both_backends! {
    fn many_parts_with_partial_writes_when_the_peer_reads_slowly(backend) {
        // 4100 parts of 1 KiB: more than the socket buffers hold, so calls end mid-part and
        // the next call must resume inside a part, past the first 1024 of the rest.
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(16);
            let addr = l.local_addr().unwrap();
            let all = pattern(9, 4100 * 1024);
            let parts: Vec<Vec<u8>> = all.chunks(1024).map(<[u8]>::to_vec).collect();
            assert_eq!(parts.len(), 4100);
            let writer = spawn_local(async move {
                let s = l.accept().await.unwrap();
                s.writev_all(parts).await.0.expect("writev_all of 4100 parts")
            });
            let c = TcpStream::connect(addr).await.unwrap();
            // Let the writer fill the socket buffers first.
            ringwire_reactor::time::sleep(Duration::from_millis(50)).await;
            let got = timeout(Duration::from_secs(30), read_exact(&c, all.len())).await.unwrap();
            assert!(got == all, "bytes differ from what was written");
            writer.await.unwrap();
        });
    }
}
