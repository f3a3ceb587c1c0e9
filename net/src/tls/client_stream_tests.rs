//! The client record layer against a rustls server on a plain thread, over real sockets, on
//! both backends: a large write in several chunks arrives byte-exact, a key update from the
//! server is honoured, a corrupt record makes the client fail and send its alert (through
//! `pending`, by the writer), and close_notify ends the stream. TLS 1.3 and 1.2.

use super::*;
use crate::tls::{
    ALPN_STREAM, Alpn, TlsServer, TlsSettings, client_config, load_roots, test_pki::Pki,
};
use ringwire_reactor::{Backend, Runtime};
use rustls::{AlertDescription, ProtocolVersion, ServerConnection, StreamOwned};
use std::{
    future::poll_fn,
    io::{Read, Write},
    net::TcpListener,
    thread,
    time::Duration,
};

/// More than [`WRITE_CHUNK`], and not a multiple of a record.
const BIG: usize = 3 * WRITE_CHUNK + 12_345;
const AFTER: &[u8] = b"after the key update";

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn backends(test: &str, f: impl Fn(Backend)) {
    f(Backend::Poll);
    if ringwire_reactor::testing::uring_or_skip(test) {
        f(Backend::Uring);
    }
}

/// A client configuration offering only `version`.
fn client(pki: &Pki, version: &'static rustls::SupportedProtocolVersion) -> Arc<ClientConfig> {
    if version == &rustls::version::TLS13 {
        return client_config(&pki.ca(), &[ALPN_STREAM]).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(load_roots(&pki.ca()).unwrap())
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_STREAM.to_vec()];
    Arc::new(config)
}

/// The server's side: reads BIG bytes, (TLS 1.3) updates its keys, sends AFTER, reads "ack";
/// then TLS 1.3: a corrupt record, and returns the alert the client answered with; TLS 1.2:
/// close_notify. Returns what it read.
fn serve(listener: TcpListener, pki: &Pki) -> thread::JoinHandle<(Vec<u8>, Option<String>)> {
    let (cert, key) = pki.leaf("server");
    let settings = TlsSettings {
        cert,
        key,
        client_ca: None,
    };
    let config = TlsServer::new(&settings).unwrap().config(Alpn::Stream);
    thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), sock);
        let mut got = vec![0; BIG];
        tls.read_exact(&mut got).unwrap();
        let tls13 = tls.conn.protocol_version() == Some(ProtocolVersion::TLSv1_3);
        if tls13 {
            tls.conn.refresh_traffic_keys().unwrap();
        }
        tls.write_all(AFTER).unwrap();
        tls.flush().unwrap();
        let mut ack = [0; 3];
        tls.read_exact(&mut ack).unwrap();
        assert_eq!(&ack, b"ack");
        if !tls13 {
            tls.conn.send_close_notify();
            while tls.conn.wants_write() {
                tls.conn.write_tls(&mut tls.sock).unwrap();
            }
            return (got, None);
        }
        // An application-data record that no key decrypts.
        let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x40];
        record.extend([0x5a; 0x40]);
        tls.sock.write_all(&record).unwrap();
        let mut rest = [0; 16];
        let alert = match tls.read(&mut rest) {
            Err(e) => e.to_string(),
            Ok(n) => panic!("the client sent {n} more bytes instead of an alert"),
        };
        (got, Some(alert))
    })
}

fn exchange(backend: Backend, version: &'static rustls::SupportedProtocolVersion) {
    let pki = Pki::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve(listener, &pki);
    let config = client(&pki, version);
    let big = pattern(BIG);
    let rt = Runtime::builder().backend(backend).build().unwrap();
    rt.block_on(async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = ClientTls::connect(&tcp, config, name).await.unwrap();
        assert_eq!(tls.negotiated().version, Some(version.version));
        assert_eq!(tls.negotiated().alpn.as_deref(), Some(ALPN_STREAM));
        tls.write_all(&tcp, &big).await.unwrap();
        let mut rx = BytesMut::new();
        while rx.len() < AFTER.len() {
            assert!(
                poll_fn(|cx| tls.poll_read(&tcp, cx, &mut rx))
                    .await
                    .unwrap()
            );
        }
        assert_eq!(&rx[..], AFTER);
        // After the server's key update, rustls sends ours ahead of this.
        tls.write_all(&tcp, b"ack").await.unwrap();
        rx.clear();
        let end = poll_fn(|cx| tls.poll_read(&tcp, cx, &mut rx)).await;
        if version == &rustls::version::TLS12 {
            assert!(!end.unwrap(), "close_notify ends the stream");
            assert!(rx.is_empty());
            return;
        }
        let e = end.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        // The alert waits for the writer, which is told, and sends it.
        poll_fn(|cx| tls.poll_pending(cx)).await;
        tls.write_all(&tcp, &[]).await.unwrap();
    });
    let (got, alert) = server.join().unwrap();
    assert!(got == big, "the server read other bytes than were written");
    if version == &rustls::version::TLS13 {
        let alert = alert.unwrap();
        let want = format!("{:?}", AlertDescription::BadRecordMac);
        assert!(alert.contains(&want), "{alert}");
    }
}

#[test]
fn tls13_chunks_key_update_and_alert() {
    backends("tls13_chunks_key_update_and_alert", |b| {
        exchange(b, &rustls::version::TLS13);
    });
}

#[test]
fn tls12_chunks_and_close_notify() {
    backends("tls12_chunks_and_close_notify", |b| {
        exchange(b, &rustls::version::TLS12);
    });
}
