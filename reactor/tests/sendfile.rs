//! File transfer to a peer that is not reading yet: it waits without failing, and the socket's
//! other operations still wait for the peer afterwards (on io_uring the transfer leaves the
//! socket non-blocking, so that a splice into a full socket never parks a kernel worker).

mod util;

use ringwire_reactor::{net::TcpStream, spawn_local, time::sleep};
use std::{
    io::{Read, Write},
    rc::Rc,
    thread,
    time::Duration,
};
use util::{listener, pattern, runtime};

const FILE_LEN: usize = 4 << 20;
const AFTER_LEN: usize = 8 << 20;

both_backends! {
    fn a_file_transfer_to_a_stalled_peer_waits_and_leaves_the_socket_usable(backend) {
        let data = pattern(11, FILE_LEN);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let file = Rc::new(file);
        let after = pattern(12, AFTER_LEN);
        let rt = runtime(backend);
        rt.block_on(async {
            let l = listener(16);
            let addr = l.local_addr().unwrap();
            // The peer reads nothing for a while, then everything, then answers one byte.
            let (expect_file, expect_after) = (data.clone(), after.clone());
            let peer = thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                thread::sleep(Duration::from_millis(300));
                let mut got = vec![0u8; FILE_LEN + AFTER_LEN];
                c.read_exact(&mut got).unwrap();
                assert!(got[..FILE_LEN] == expect_file[..], "file bytes differ");
                assert!(got[FILE_LEN..] == expect_after[..], "bytes after the file differ");
                thread::sleep(Duration::from_millis(300));
                c.write_all(b"!").unwrap();
                c
            });
            let s: TcpStream = l.accept().await.unwrap();
            let ticker = spawn_local(async {
                for _ in 0..10 {
                    sleep(Duration::from_millis(10)).await;
                }
            });
            let sent = s.sendfile(&file, 0, FILE_LEN as u64).await.unwrap();
            assert_eq!(sent, FILE_LEN as u64);
            // A write into a full socket and a read before the peer sends must wait, not fail.
            s.write_all(after).await.0.unwrap();
            let (n, buf) = s.read(Vec::with_capacity(8)).await;
            assert_eq!(n.expect("a read waits for the peer"), 1);
            assert_eq!(buf, b"!");
            ticker.await.unwrap();
            drop(peer.join().unwrap());
        });
    }
}
