//! 5,000 concurrent connections through an echo server, every byte checked, on both backends.

mod util;

use ringwire_reactor::{Runtime, net::TcpStream, spawn_local, time::timeout};
use std::{
    cell::Cell,
    rc::Rc,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};
use util::{Gate, listener, pattern, read_exact};

const CONNECTIONS: usize = 5_000;

/// The two backends' runs would need 20,000 descriptors at once: run them one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

both_backends! {
    fn five_thousand_concurrent_echo_connections(backend) {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let limit = util::raise_nofile();
        assert!(limit >= 2 * CONNECTIONS as u64 + 200, "RLIMIT_NOFILE hard limit {limit} is too low for this test");
        let accepted = Arc::new(AtomicUsize::new(0));
        let (addr_tx, addr_rx) = mpsc::channel();
        let acc = accepted.clone();
        let server = thread::spawn(move || {
            let rt = Runtime::builder().backend(backend).build().unwrap();
            let h = rt.handle();
            rt.block_on(async move {
                let l = listener(8192);
                addr_tx.send((l.local_addr().unwrap(), h)).unwrap();
                loop {
                    let s = match l.accept().await {
                        Ok(s) => s,
                        Err(e) => panic!("accept failed: {e}"),
                    };
                    acc.fetch_add(1, Ordering::Relaxed);
                    spawn_local(async move {
                        while let Ok(Some(buf)) = s.recv().await {
                            if s.write_all(buf).await.0.is_err() {
                                break;
                            }
                        }
                    });
                }
            })
        });
        let (addr, _server_handle) = addr_rx.recv().unwrap();
        let rt = Runtime::builder().backend(backend).build().unwrap();
        let checked = rt.block_on(async move {
            let gate = Gate::default();
            let connected = Rc::new(Cell::new(0usize));
            let tasks: Vec<_> = (0..CONNECTIONS)
                .map(|i| {
                    let (gate, connected) = (gate.clone(), connected.clone());
                    spawn_local(async move {
                        let c = TcpStream::connect(addr).await.expect("connect");
                        connected.set(connected.get() + 1);
                        if connected.get() == CONNECTIONS {
                            gate.open();
                        }
                        // Every connection is open at this point: all 5,000 at once.
                        gate.wait().await;
                        let len = 1 + (i * 7919) % 16384;
                        let data = pattern(i as u64, len);
                        let (res, data) = c.write_all(data).await;
                        res.expect("write");
                        let back = read_exact(&c, len).await;
                        assert!(back == data, "connection {i}: echoed bytes differ");
                        len
                    })
                })
                .collect();
            let mut bytes = 0;
            for t in tasks {
                bytes += timeout(Duration::from_secs(120), t).await.expect("stalled").unwrap();
            }
            bytes
        });
        assert!(checked > CONNECTIONS);
        assert_eq!(accepted.load(Ordering::Relaxed), CONNECTIONS);
        drop(server); // the server thread keeps accepting; the process exit ends it
    }
}
