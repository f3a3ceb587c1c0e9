use super::*;
use crate::tls::{
    client_config, client_config_with_identity,
    test_pki::{Pki, Validity, handshake, leaf_der},
};
use rustls::{
    ClientConfig, HandshakeKind, ProtocolVersion, ServerConnection, SupportedCipherSuite,
    crypto::KeyExchangeAlgorithm,
};
use std::path::Path;

fn server(pki: &Pki, client_ca: bool) -> TlsServer {
    let (cert, key) = pki.leaf("server");
    TlsServer::new(&TlsSettings {
        cert,
        key,
        client_ca: client_ca.then(|| pki.ca()),
    })
    .unwrap()
}

fn client(pki: &Pki, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    client_config(&pki.ca(), alpn).unwrap()
}

/// A client that speaks only TLS 1.2.
fn client_tls12(ca: &Path) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(load_roots(ca).unwrap())
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP.to_vec()];
    Arc::new(config)
}

fn peer_leaf(pair: &crate::tls::test_pki::Pair) -> Vec<u8> {
    pair.client.peer_certificates().unwrap()[0].to_vec()
}

#[test]
fn tls_server_is_shared_by_cores() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TlsServer>();
}

#[test]
fn http_listener_negotiates_http_or_stream_by_alpn() {
    let pki = Pki::new();
    let tls = server(&pki, false);
    let pair = handshake(&client(&pki, &[ALPN_HTTP]), &tls.config(Alpn::Http)).unwrap();
    assert_eq!(pair.server.alpn_protocol(), Some(ALPN_HTTP));
    assert_eq!(pair.client.alpn_protocol(), Some(ALPN_HTTP));
    assert_eq!(
        pair.server.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    assert_eq!(pair.server.handshake_kind(), Some(HandshakeKind::Full));
    let pair = handshake(&client(&pki, &[ALPN_STREAM]), &tls.config(Alpn::Http)).unwrap();
    assert_eq!(pair.server.alpn_protocol(), Some(ALPN_STREAM));
}

#[test]
fn stream_listener_offers_only_the_stream_protocol() {
    let pki = Pki::new();
    let tls = server(&pki, false);
    let both = client(&pki, &[ALPN_HTTP, ALPN_STREAM]);
    let pair = handshake(&both, &tls.config(Alpn::Stream)).unwrap();
    assert_eq!(pair.server.alpn_protocol(), Some(ALPN_STREAM));
    let http_only = client(&pki, &[ALPN_HTTP]);
    let err = handshake(&http_only, &tls.config(Alpn::Stream))
        .err()
        .unwrap();
    assert!(
        matches!(err, rustls::Error::NoApplicationProtocol),
        "{err:?}"
    );
}

#[test]
fn a_tls12_only_client_gets_tls12_with_an_ecdhe_aead_suite() {
    let pki = Pki::new();
    let tls = server(&pki, false);
    let pair = handshake(&client_tls12(&pki.ca()), &tls.config(Alpn::Http)).unwrap();
    assert_eq!(
        pair.server.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    assert_eq!(pair.server.alpn_protocol(), Some(ALPN_HTTP));
    let suite = format!(
        "{:?}",
        pair.server.negotiated_cipher_suite().unwrap().suite()
    );
    assert!(suite.starts_with("TLS_ECDHE_"), "{suite}");
}

#[test]
fn every_suite_is_aead_with_ecdhe_or_tls13() {
    let pki = Pki::new();
    let tls = server(&pki, false);
    for alpn in [Alpn::Http, Alpn::Stream] {
        let config = tls.config(alpn);
        let suites = &config.crypto_provider().cipher_suites;
        assert!(!suites.is_empty());
        for suite in suites {
            let name = format!("{:?}", suite.suite());
            let aead = name.contains("_GCM_") || name.contains("CHACHA20_POLY1305");
            assert!(aead, "{name} is not AEAD");
            match suite {
                SupportedCipherSuite::Tls13(_) => {}
                SupportedCipherSuite::Tls12(s) => {
                    assert_eq!(s.kx, KeyExchangeAlgorithm::ECDHE, "{name}");
                }
            }
        }
        assert_eq!(config.max_early_data_size, 0);
        assert!(config.enable_secret_extraction);
    }
}

/// A TLS ClientHello record offering `version` (no supported_versions extension, so this is
/// all a TLS 1.0/1.1 client says), with x25519, ECDSA P-256 and an ECDHE-ECDSA AES-GCM suite.
fn client_hello(version: [u8; 2]) -> Vec<u8> {
    let mut body = version.to_vec();
    body.extend([7u8; 32]); // random
    body.push(0); // session id
    body.extend([0, 2, 0xc0, 0x2b]); // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    body.extend([1, 0]); // compression: null
    let extensions: &[u8] = &[
        0, 0x0a, 0, 4, 0, 2, 0, 0x1d, // supported_groups: x25519
        0, 0x0b, 0, 2, 1, 0, // ec_point_formats: uncompressed
        0, 0x0d, 0, 4, 0, 2, 4, 3, // signature_algorithms: ecdsa_secp256r1_sha256
    ];
    body.extend((extensions.len() as u16).to_be_bytes());
    body.extend(extensions);
    let mut handshake = vec![1, 0];
    handshake.extend((body.len() as u16).to_be_bytes());
    handshake.extend(body);
    let mut record = vec![0x16, 3, 1];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

fn offer(tls: &TlsServer, hello: &[u8]) -> Result<(), rustls::Error> {
    let mut conn = ServerConnection::new(tls.config(Alpn::Http)).unwrap();
    conn.read_tls(&mut &hello[..]).unwrap();
    conn.process_new_packets().map(drop)
}

#[test]
fn tls10_and_tls11_are_refused() {
    let pki = Pki::new();
    let tls = server(&pki, false);
    // The same hello as TLS 1.2 is accepted: the version alone is what is refused.
    offer(&tls, &client_hello([3, 3])).unwrap();
    for old in [[3, 1], [3, 2]] {
        let err = offer(&tls, &client_hello(old)).unwrap_err();
        assert!(
            matches!(err, rustls::Error::PeerIncompatible(_)),
            "{old:?}: {err:?}"
        );
    }
}

#[test]
fn reload_with_a_bad_file_keeps_the_old_certificate() {
    let pki = Pki::new();
    let tls = server(&pki, false);
    let old = leaf_der(&pki.path("server.pem"));
    let client = client(&pki, &[ALPN_HTTP]);
    let (expired, _) = pki.leaf_with("expired", None, Validity::Expired);
    std::fs::copy(&expired, pki.path("server.pem")).unwrap();
    let err = tls.reload().unwrap_err();
    assert!(matches!(err, CertError::Expired { .. }), "{err:?}");
    assert!(err.to_string().contains("server.pem"), "{err}");
    std::fs::write(pki.path("server.pem"), "garbage").unwrap();
    assert!(matches!(tls.reload(), Err(CertError::NoCertificate { .. })));
    assert_eq!(
        tls.current_certificate()
            .end_entity_cert()
            .unwrap()
            .as_ref(),
        old
    );
    let pair = handshake(&client, &tls.config(Alpn::Http)).unwrap();
    assert_eq!(peer_leaf(&pair), old);
}

#[test]
fn reload_with_good_files_switches_new_handshakes_only() {
    let pki = Pki::new();
    let tls = server(&pki, false);
    let client = client(&pki, &[ALPN_HTTP]);
    let before = handshake(&client, &tls.config(Alpn::Http)).unwrap();
    let old = peer_leaf(&before);
    let (next_cert, next_key) = pki.leaf("next");
    std::fs::copy(&next_cert, pki.path("server.pem")).unwrap();
    std::fs::copy(&next_key, pki.path("server.key")).unwrap();
    tls.reload().unwrap();
    let new = leaf_der(&next_cert);
    assert_ne!(old, new);
    // Both listeners' configurations share the resolver.
    for alpn in [Alpn::Http, Alpn::Stream] {
        let fresh = client_config(&pki.ca(), &[ALPN_STREAM]).unwrap();
        let pair = handshake(&fresh, &tls.config(alpn)).unwrap();
        assert_eq!(peer_leaf(&pair), new);
    }
    assert_eq!(peer_leaf(&before), old);
    assert!(tls.certificate_not_after().is_some());
}

#[test]
fn tls13_tickets_resume_and_are_bound_to_the_server_key() {
    let pki = Pki::new();
    let tls = server(&pki, false);
    let client = client(&pki, &[ALPN_HTTP]);
    let first = handshake(&client, &tls.config(Alpn::Http)).unwrap();
    assert_eq!(first.client.handshake_kind(), Some(HandshakeKind::Full));
    let second = handshake(&client, &tls.config(Alpn::Http)).unwrap();
    assert_eq!(
        second.client.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    assert_eq!(second.client.handshake_kind(), Some(HandshakeKind::Resumed));
    assert_eq!(second.server.handshake_kind(), Some(HandshakeKind::Resumed));
    // Another process (another ticket key) cannot resume this client's tickets.
    let other = TlsServer::new(tls.settings()).unwrap();
    let third = handshake(&client, &other.config(Alpn::Http)).unwrap();
    assert_eq!(third.server.handshake_kind(), Some(HandshakeKind::Full));
}

#[test]
fn tls12_sessions_resume() {
    let pki = Pki::new();
    let tls = server(&pki, false);
    let client = client_tls12(&pki.ca());
    handshake(&client, &tls.config(Alpn::Http)).unwrap();
    let again = handshake(&client, &tls.config(Alpn::Http)).unwrap();
    assert_eq!(
        again.server.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    assert_eq!(again.server.handshake_kind(), Some(HandshakeKind::Resumed));
}

#[test]
fn a_client_certificate_from_the_client_ca_names_the_peer() {
    let pki = Pki::new();
    let tls = server(&pki, true);
    let (cert, key) = pki.leaf_with("alice", Some("alice"), Validity::Now);
    let alice = client_config_with_identity(&pki.ca(), &[ALPN_HTTP], &cert, &key).unwrap();
    let pair = handshake(&alice, &tls.config(Alpn::Http)).unwrap();
    assert_eq!(peer_identity(&pair.server).as_deref(), Some("alice"));
    // Without a common name, the DNS name identifies it.
    let (cert, key) = pki.leaf_with("nameless", None, Validity::Now);
    let nameless = client_config_with_identity(&pki.ca(), &[ALPN_HTTP], &cert, &key).unwrap();
    let pair = handshake(&nameless, &tls.config(Alpn::Http)).unwrap();
    assert_eq!(peer_identity(&pair.server).as_deref(), Some("localhost"));
    // A certificate is optional.
    let pair = handshake(&client(&pki, &[ALPN_HTTP]), &tls.config(Alpn::Http)).unwrap();
    assert_eq!(peer_identity(&pair.server), None);
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let tls = server(&pki, true);
    let stranger = Pki::new();
    let (cert, key) = stranger.leaf_with("mallory", Some("mallory"), Validity::Now);
    let mallory = client_config_with_identity(&pki.ca(), &[ALPN_HTTP], &cert, &key).unwrap();
    let err = handshake(&mallory, &tls.config(Alpn::Http)).err().unwrap();
    assert!(
        matches!(err, rustls::Error::InvalidCertificate(_)),
        "{err:?}"
    );
}

#[test]
fn without_a_client_ca_no_certificate_is_asked_for() {
    let pki = Pki::new();
    let tls = server(&pki, false);
    let (cert, key) = pki.leaf_with("alice", Some("alice"), Validity::Now);
    let alice = client_config_with_identity(&pki.ca(), &[ALPN_HTTP], &cert, &key).unwrap();
    let pair = handshake(&alice, &tls.config(Alpn::Http)).unwrap();
    assert_eq!(peer_identity(&pair.server), None);
}

#[test]
fn a_bad_client_ca_is_a_startup_error_naming_it() {
    let pki = Pki::new();
    let (cert, key) = pki.leaf("server");
    let ca = pki.path("empty-ca.pem");
    std::fs::write(&ca, "").unwrap();
    let err = TlsServer::new(&TlsSettings {
        cert,
        key,
        client_ca: Some(ca.clone()),
    })
    .unwrap_err();
    assert!(
        err.to_string().starts_with(&ca.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_ticket_from_one_listener_resumes_on_the_other() {
    // One ticket key for the process: both configurations (and so every core) share it.
    let pki = Pki::new();
    let tls = server(&pki, false);
    let client = client(&pki, &[ALPN_STREAM]);
    handshake(&client, &tls.config(Alpn::Http)).unwrap();
    let pair = handshake(&client, &tls.config(Alpn::Stream)).unwrap();
    assert_eq!(pair.server.alpn_protocol(), Some(ALPN_STREAM));
    assert_eq!(pair.server.handshake_kind(), Some(HandshakeKind::Resumed));
}
