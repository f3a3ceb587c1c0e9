//! Entry point for the `tls_server` fuzz target (`fuzz/`), also run on stable Rust over the
//! checked-in seeds by `net/tests/fuzz_corpus.rs`: random bytes into the server side of TLS
//! through the same `feed` the connection loop uses, before and after a handshake. It panics
//! when an invariant breaks; a refused input is never a failure. Not a stable API.
//!
//! The first byte picks the case:
//! - 0: the bytes are the client's first flight (a ClientHello, or garbage);
//! - 1: after a completed handshake, the bytes arrive raw on the socket (forged records);
//! - 2: after a completed handshake, the bytes are application data the client encrypts:
//!   exactly those bytes come out as plaintext, however the ciphertext is split.

use super::records::{drain_tls, feed};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection,
    crypto::ring::default_provider,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
};
use std::{
    io::Write,
    sync::{Arc, OnceLock},
};

/// A self-signed P-256 certificate for `fuzz.invalid`, valid until 2126: a fixture for this
/// target only, whose key protects nothing.
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBwTCCAWigAwIBAgIURhFsCyXKbk7oDEnRi8JV93rtHI0wCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMZnV6ei5pbnZhbGlkMCAXDTI2MTEzMDIxNDAxNFoYDzIxMjYx
MTA2MjE0MDE0WjAXMRUwEwYDVQQDDAxmdXp6LmludmFsaWQwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAR3cW7z6ofoijK4JEzWukwepglS25f/iWSeZWXtWWaeLcAZ
d/+UDYFN/K/DjG1Yvi4k2lSrhEk06UOaMWJHg/XVo4GPMIGMMB0GA1UdDgQWBBSj
vo1et34rLm6p+z4kDA6OSjaRkzAfBgNVHSMEGDAWgBSjvo1et34rLm6p+z4kDA6O
SjaRkzAXBgNVHREEEDAOggxmdXp6LmludmFsaWQwDAYDVR0TAQH/BAIwADAOBgNV
HQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEwCgYIKoZIzj0EAwIDRwAw
RAIgchQZYmqEyVFI3h46nyd+Bv9LSlFTqOIuW41HWpPWxOoCICvXqiKWWPKM1JF/
yWSvM6U4/nsoxQtd+WWNk41cHAm2
-----END CERTIFICATE-----";
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgI6muOmuRAR7arOeK
7LrME9KHauyIEy2HZc/3RvXoHGihRANCAAR3cW7z6ofoijK4JEzWukwepglS25f/
iWSeZWXtWWaeLcAZd/+UDYFN/K/DjG1Yvi4k2lSrhEk06UOaMWJHg/XV
-----END PRIVATE KEY-----";

fn configs() -> &'static (Arc<ServerConfig>, Arc<ClientConfig>) {
    static CONFIGS: OnceLock<(Arc<ServerConfig>, Arc<ClientConfig>)> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let cert = CertificateDer::from_pem_slice(CERT.as_bytes()).expect("fixture certificate");
        let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).expect("fixture key");
        let provider = Arc::new(default_provider());
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .expect("fixture pair");
        let mut roots = RootCertStore::empty();
        roots.add(cert).expect("fixture root");
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    })
}

/// Moves what `from` has to send into `to` through [`feed`] (server side) or rustls (client).
fn handshake() -> (ClientConnection, ServerConnection) {
    let (server_config, client_config) = configs();
    let name = ServerName::try_from("fuzz.invalid").expect("name");
    let mut client = ClientConnection::new(client_config.clone(), name).expect("client");
    let mut server = ServerConnection::new(server_config.clone()).expect("server");
    for _ in 0..10 {
        let mut flight = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut flight).expect("to a Vec");
        }
        let mut plain = Vec::new();
        feed(&mut server, &flight, &mut plain).expect("a real client's flight");
        assert!(plain.is_empty(), "no application data in a handshake");
        let mut back = Vec::new();
        drain_tls(&mut server, &mut back);
        let mut slice = &back[..];
        while !slice.is_empty() {
            client.read_tls(&mut slice).expect("server flight");
            client
                .process_new_packets()
                .expect("server flight processes");
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            return (client, server);
        }
    }
    panic!("the in-memory handshake did not complete");
}

/// See the module documentation.
pub fn tls_server(data: &[u8]) {
    let Some((&case, rest)) = data.split_first() else {
        return;
    };
    let mut plain = Vec::new();
    match case % 3 {
        0 => {
            let mut server = ServerConnection::new(configs().0.clone()).expect("server");
            // Garbage fails or waits for more; either way feed returns.
            let _ = feed(&mut server, rest, &mut plain);
            assert!(plain.is_empty(), "no plaintext before a handshake");
        }
        1 => {
            let (_, mut server) = handshake();
            let _ = feed(&mut server, rest, &mut plain);
            // Forged records cannot carry data: rustls refuses what does not authenticate.
            assert!(
                plain.is_empty() || rest.is_empty(),
                "forged records gave plaintext"
            );
        }
        _ => {
            let (mut client, mut server) = handshake();
            client.writer().write_all(rest).expect("client buffers it");
            let mut records = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut records).expect("to a Vec");
            }
            // Split where the data says, to exercise partial records.
            let cut = usize::from(rest.first().copied().unwrap_or(0)) % (records.len() + 1);
            let (a, b) = records.split_at(cut);
            feed(&mut server, a, &mut plain).expect("the first part of real records");
            feed(&mut server, b, &mut plain).expect("the rest of real records");
            assert_eq!(plain, rest, "the plaintext is exactly what the client sent");
        }
    }
}
