//! The few X.509 fields rustls does not expose: the validity dates, the subject's common name
//! and the DNS names of a certificate.
//!
//! RustCrypto's `x509-cert` crate (0.2, on `der` 0.7) parses the certificate; this module only
//! picks fields out of its result. It checks no signature: rustls and webpki verify
//! certificates; the fields read here are for error messages, the startup date check and the
//! identity of a client certificate that rustls has already verified.

use x509_cert::{
    Certificate,
    der::{
        Any, DateTime, Decode, Tag, Tagged,
        asn1::{BmpString, Ia5String, PrintableString, TeletexString},
        oid::db::rfc4519::COMMON_NAME,
    },
    ext::pkix::{SubjectAltName, name::GeneralName},
};

/// What this module reads from one certificate.
#[derive(Debug)]
pub(crate) struct CertFields {
    /// `notBefore`.
    pub not_before: DateTime,
    /// `notAfter`.
    pub not_after: DateTime,
    /// The whole parsed certificate, for the subject and the extensions.
    cert: Certificate,
}

/// Reads the fields of `cert` (DER: one whole certificate, nothing after it). The error is the
/// `der` crate's reason.
pub(crate) fn parse(cert: &[u8]) -> x509_cert::der::Result<CertFields> {
    let cert = Certificate::from_der(cert)?;
    let validity = &cert.tbs_certificate.validity;
    Ok(CertFields {
        not_before: validity.not_before.to_date_time(),
        not_after: validity.not_after.to_date_time(),
        cert,
    })
}

impl CertFields {
    /// The subject's common name, else the first DNS name: who a client certificate names.
    pub fn identity(&self) -> Option<String> {
        self.common_name()
            .or_else(|| self.dns_names().into_iter().next())
    }

    /// The first `commonName` of the subject whose value is a string type this module reads.
    pub fn common_name(&self) -> Option<String> {
        self.cert
            .tbs_certificate
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .filter(|atv| atv.oid == COMMON_NAME)
            .find_map(|atv| text(&atv.value))
    }

    /// The `dNSName` entries of the subjectAltName extension, in order; none when the extension
    /// is absent, repeated or malformed.
    pub fn dns_names(&self) -> Vec<String> {
        let Ok(Some((_critical, SubjectAltName(names)))) =
            self.cert.tbs_certificate.get::<SubjectAltName>()
        else {
            return Vec::new();
        };
        names
            .into_iter()
            .filter_map(|name| match name {
                GeneralName::DnsName(dns) => Some(dns.to_string()),
                _ => None,
            })
            .collect()
    }
}

/// A directory string as text: UTF8String, PrintableString, TeletexString (the choices of
/// `x509-cert`'s `DirectoryString`), IA5String or BMPString. Others (UniversalString) are
/// skipped.
fn text(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::Utf8String => value.decode_as::<String>().ok(),
        Tag::PrintableString => value
            .decode_as::<PrintableString>()
            .ok()
            .map(|s| s.to_string()),
        Tag::TeletexString => value
            .decode_as::<TeletexString>()
            .ok()
            .map(|s| s.to_string()),
        Tag::Ia5String => value.decode_as::<Ia5String>().ok().map(|s| s.to_string()),
        Tag::BmpString => value.decode_as::<BmpString>().ok().map(|s| s.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate with `CN=leaf.test` and the DNS names `a.test`, `b.test`.
    fn cert_der() -> Vec<u8> {
        let mut params =
            rcgen::CertificateParams::new(vec!["a.test".to_owned(), "b.test".to_owned()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "leaf.test");
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_names_and_dates() {
        let fields = parse(&cert_der()).unwrap();
        assert_eq!(fields.common_name().as_deref(), Some("leaf.test"));
        assert_eq!(fields.dns_names(), ["a.test", "b.test"]);
        assert_eq!(fields.identity().as_deref(), Some("leaf.test"));
        assert!(fields.not_before < fields.not_after);
    }

    #[test]
    fn truncated_or_garbage_der_is_an_error() {
        let der = cert_der();
        // Every proper prefix, the empty one included, is an error (and no panic).
        for len in 0..der.len() {
            assert!(parse(&der[..len]).is_err(), "prefix of {len} bytes parsed");
        }
        // Trailing bytes after the certificate.
        let mut longer = der.clone();
        longer.push(0);
        assert!(parse(&longer).is_err());
        // Not DER at all, and a SEQUENCE header claiming more than there is.
        assert!(parse(b"-----BEGIN CERTIFICATE-----").is_err());
        assert!(parse(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01]).is_err());
        // Every single-byte corruption either fails or parses; none panics.
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0xff;
            if let Ok(fields) = parse(&bad) {
                let _ = (fields.identity(), fields.dns_names());
            }
        }
    }
}
