//! The server record layer's cut-stream guard, over real sockets on both backends: a write
//! of ciphertext that does not complete (its future dropped at a deadline while the client
//! reads nothing) may have cut a record on the wire, so every later write fails with
//! `BrokenPipe` and the closing `shutdown` sends no close_notify after the cut record.

use super::*;
use crate::tls::{ALPN_HTTP, Alpn, TlsServer, TlsSettings, client_config, test_pki::Pki};
use ringwire_reactor::{Backend, Runtime, time};
use rustls::{ClientConnection, StreamOwned};
use std::{io::Read, net::TcpListener, sync::mpsc, thread, time::Duration};

fn run(backend: Backend) {
    let pki = Pki::new();
    let (cert, key) = pki.leaf("server");
    let settings = TlsSettings {
        cert,
        key,
        client_ca: None,
    };
    let config = TlsServer::new(&settings).unwrap().config(Alpn::Http);
    let client_config = client_config(&pki.ca(), &[ALPN_HTTP]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, read_now) = mpsc::channel::<()>();
    // The client: handshakes, then reads nothing until told, then reads to the end.
    let client = thread::spawn(move || {
        let sock = std::net::TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let conn = ClientConnection::new(client_config, "localhost".try_into().unwrap()).unwrap();
        let mut tls = StreamOwned::new(conn, sock);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        read_now.recv().unwrap();
        let mut all = Vec::new();
        let end = tls.read_to_end(&mut all);
        (all.len(), end.map(drop).map_err(|e| e.to_string()))
    });
    let rt = Runtime::builder().backend(backend).build().unwrap();
    let big = vec![0x42u8; 8 << 20];
    rt.block_on(async {
        let listener = ringwire_reactor::net::TcpListener::from_std(listener).unwrap();
        let tcp = listener.accept().await.unwrap();
        let tls = TlsState::accept(&tcp, config).await.unwrap();
        // 8 MiB to a client that reads nothing: the socket buffers fill, the write stalls.
        let stalled = time::timeout(Duration::from_millis(300), tls.write_all(&tcp, big)).await;
        assert!(
            stalled.is_err(),
            "the write should stall on a client that reads nothing"
        );
        let (res, _) = time::timeout(
            Duration::from_secs(5),
            tls.write_all(&tcp, b"more".to_vec()),
        )
        .await
        .expect("a write after a cut record must fail at once, not wait");
        let err = res.expect_err("a write after a cut record must fail");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
        go.send(()).unwrap();
        tls.shutdown(&tcp, Shutdown::Write).await.unwrap();
        drop(tcp);
    });
    let (read, end) = client.join().unwrap();
    assert!(
        read < 8 << 20,
        "the client got the whole body ({read} bytes)"
    );
    // No close_notify follows the cut record: the client sees a broken stream, not an end.
    assert!(end.is_err(), "the stream ended cleanly after a cut record");
}

#[test]
fn a_cut_write_breaks_the_stream_for_good() {
    run(Backend::Poll);
    if ringwire_reactor::testing::uring_or_skip("a_cut_write_breaks_the_stream_for_good") {
        run(Backend::Uring);
    }
}
