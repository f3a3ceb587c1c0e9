use super::*;
use crate::tls::test_pki::{Pki, Validity, leaf_der};

#[test]
fn a_good_pair_loads() {
    let pki = Pki::new();
    let (cert, key) = pki.leaf("server");
    let loaded = load_certified_key(&cert, &key).unwrap();
    assert_eq!(loaded.end_entity_cert().unwrap().as_ref(), leaf_der(&cert));
    assert_eq!(loaded.cert.len(), 1);
}

#[test]
fn cert_and_key_may_share_one_file() {
    let pki = Pki::new();
    let (cert, key) = pki.leaf("server");
    let both = pki.path("both.pem");
    let mut pem = fs::read(&cert).unwrap();
    pem.extend(fs::read(&key).unwrap());
    fs::write(&both, pem).unwrap();
    load_certified_key(&both, &both).unwrap();
}

#[test]
fn a_key_of_another_certificate_is_refused_naming_the_key() {
    let pki = Pki::new();
    let (cert, _) = pki.leaf("server");
    let (_, other_key) = pki.leaf("other");
    let err = load_certified_key(&cert, &other_key).unwrap_err();
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&other_key.display().to_string()), "{msg}");
    assert!(msg.contains("does not match"), "{msg}");
}

#[test]
fn an_expired_certificate_is_refused_naming_the_file_and_date() {
    let pki = Pki::new();
    let (cert, key) = pki.leaf_with("old", Some("old"), Validity::Expired);
    let err = load_certified_key(&cert, &key).unwrap_err();
    assert!(matches!(err, CertError::Expired { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&cert.display().to_string()), "{msg}");
    assert!(
        msg.contains("expired (not after 2020-01-02T00:00:00Z)"),
        "{msg}"
    );
}

#[test]
fn a_certificate_not_yet_valid_is_refused_with_its_date() {
    let pki = Pki::new();
    let (cert, key) = pki.leaf_with("new", Some("new"), Validity::Future);
    let err = load_certified_key(&cert, &key).unwrap_err();
    assert!(matches!(err, CertError::NotYetValid { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&cert.display().to_string()), "{msg}");
    // 2100 is past UTCTime's range: this also reads a GeneralizedTime.
    assert!(
        msg.contains("not yet valid (not before 2100-03-04T00:00:00Z)"),
        "{msg}"
    );
}

#[test]
fn a_missing_file_is_unreadable_with_the_os_reason() {
    let pki = Pki::new();
    let (cert, _) = pki.leaf("server");
    let missing = pki.path("nope.key");
    let err = load_certified_key(&cert, &missing).unwrap_err();
    assert!(matches!(err, CertError::Unreadable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&missing.display().to_string()), "{msg}");
    assert!(msg.contains("No such file"), "{msg}");
}

#[test]
fn garbage_and_empty_files_say_what_is_missing() {
    let pki = Pki::new();
    let (cert, key) = pki.leaf("server");
    let garbage = pki.path("garbage.pem");
    fs::write(&garbage, b"\x00\x01 this is not PEM \xff\n").unwrap();
    let empty = pki.path("empty.pem");
    fs::write(&empty, b"").unwrap();
    for bad in [&garbage, &empty] {
        let err = load_certified_key(bad, &key).unwrap_err();
        assert!(matches!(err, CertError::NoCertificate { .. }), "{err:?}");
        assert!(err.to_string().starts_with(&bad.display().to_string()));
        let err = load_certified_key(&cert, bad).unwrap_err();
        assert!(matches!(err, CertError::NoPrivateKey { .. }), "{err:?}");
        assert!(err.to_string().starts_with(&bad.display().to_string()));
    }
}

#[test]
fn a_broken_pem_section_is_malformed() {
    let pki = Pki::new();
    let (_, key) = pki.leaf("server");
    let cut = pki.path("cut.pem");
    fs::write(&cut, "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
    let err = load_certified_key(&cut, &key).unwrap_err();
    assert!(matches!(err, CertError::BadPem { .. }), "{err:?}");
    let junk = pki.path("junk.pem");
    fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = load_certified_key(&junk, &key).unwrap_err();
    assert!(matches!(err, CertError::BadCertificate { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&junk.display().to_string()));
}

#[test]
fn an_unsupported_key_is_refused() {
    let pki = Pki::new();
    let (cert, _) = pki.leaf("server");
    // A well-formed PKCS#8 section whose contents are no key ring can use.
    let bad = pki.path("bad.key");
    fs::write(
        &bad,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = load_certified_key(&cert, &bad).unwrap_err();
    assert!(matches!(err, CertError::UnsupportedKey { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&bad.display().to_string()));
}

#[test]
fn roots_load_from_a_ca_file() {
    let pki = Pki::new();
    assert_eq!(load_roots(&pki.ca()).unwrap().len(), 1);
    let empty = pki.path("empty.pem");
    fs::write(&empty, b"").unwrap();
    assert!(matches!(
        load_roots(&empty).unwrap_err(),
        CertError::NoCertificate { .. }
    ));
}

#[test]
fn validity_is_checked_against_the_given_time() {
    let pki = Pki::new();
    let (cert, _) = pki.leaf_with("old", None, Validity::Expired);
    let der = CertificateDer::from(leaf_der(&cert));
    let at = |secs: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    // 2019-06-01, inside [2019-01-01, 2020-01-02].
    check_validity(&cert, &der, at(1_559_347_200)).unwrap();
    assert!(matches!(
        check_validity(&cert, &der, at(1_514_764_800)), // 2018-01-01
        Err(CertError::NotYetValid { .. })
    ));
    assert_eq!(not_after(&der).as_deref(), Some("2020-01-02T00:00:00Z"));
}
