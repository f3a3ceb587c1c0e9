//! The stream client over TLS, as a whole: when the server sends a record that does not
//! decrypt, the client fails and its alert still reaches the server (the writer flushes what
//! rustls queued when the reader failed, bounded in time), on both backends.

use crate::{
    stream::client::Client,
    tls::{ALPN_STREAM, Alpn, TlsServer, TlsSettings, client_config, test_pki::Pki},
};
use ringwire_reactor::{Backend, Runtime};
use rustls::{AlertDescription, ServerConnection, StreamOwned};
use std::{
    io::{Read, Write},
    net::TcpListener,
    thread,
    time::Duration,
};

/// A TLS server that completes the handshake, reads the client's first bytes (its HELLO),
/// answers with a record no key decrypts, and returns how its next read ended.
fn corrupting_server(listener: TcpListener, pki: &Pki) -> thread::JoinHandle<String> {
    let (cert, key) = pki.leaf("server");
    let settings = TlsSettings {
        cert,
        key,
        client_ca: None,
    };
    let config = TlsServer::new(&settings).unwrap().config(Alpn::Stream);
    thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), sock);
        let mut hello = [0; 256];
        assert!(tls.read(&mut hello).unwrap() > 0, "the client's HELLO");
        let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x40];
        record.extend([0x5a; 0x40]);
        tls.sock.write_all(&record).unwrap();
        let mut buf = [0; 256];
        loop {
            match tls.read(&mut buf) {
                Err(e) => return e.to_string(),
                Ok(0) => return "the client closed without an alert".to_string(),
                Ok(_) => {}
            }
        }
    })
}

fn run(backend: Backend) {
    let pki = Pki::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = corrupting_server(listener, &pki);
    let config = client_config(&pki.ca(), &[ALPN_STREAM]).unwrap();
    let rt = Runtime::builder().backend(backend).build().unwrap();
    rt.block_on(async {
        let Err(err) = Client::connect_tls(addr, "localhost", config).await else {
            panic!("a corrupt record must fail the connection");
        };
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
        // Let the writer task run to its end.
        ringwire_reactor::time::sleep(Duration::from_millis(200)).await;
    });
    let ended = server.join().unwrap();
    let want = format!("{:?}", AlertDescription::BadRecordMac);
    assert!(ended.contains(&want), "the server saw no alert: {ended}");
}

#[test]
fn a_corrupt_record_is_answered_with_an_alert() {
    run(Backend::Poll);
    if ringwire_reactor::testing::uring_or_skip("a_corrupt_record_is_answered_with_an_alert") {
        run(Backend::Uring);
    }
}
