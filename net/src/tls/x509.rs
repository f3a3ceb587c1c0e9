//! The few X.509 fields rustls does not expose: the validity dates, the subject's common name
//! and the DNS names of a certificate.
//!
//! This only *reads* a certificate's structure with the `der` crate's reader (already in the
//! build through `pkcs8`); it checks no signature. rustls and webpki verify certificates; the
//! fields read here are for error messages, the startup date check and the identity of a
//! client certificate that rustls has already verified.

use der::{
    Decode, Header, Reader, SliceReader, Tag, TagNumber, Tagged,
    asn1::{AnyRef, GeneralizedTime, UtcTime},
};

/// `id-at-commonName` (2.5.4.3), the contents of its OBJECT IDENTIFIER.
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// `id-ce-subjectAltName` (2.5.29.17).
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// What this module reads from one certificate.
#[derive(Debug)]
pub(crate) struct CertFields<'a> {
    /// `notBefore`.
    pub not_before: der::DateTime,
    /// `notAfter`.
    pub not_after: der::DateTime,
    /// The subject `Name`, DER (tag and length included).
    subject: &'a [u8],
    /// The `[3] extensions` field, DER, when present.
    extensions: Option<&'a [u8]>,
}

/// Reads the fields of `cert` (DER). The error is the `der` crate's reason.
pub(crate) fn parse(cert: &[u8]) -> der::Result<CertFields<'_>> {
    let mut reader = SliceReader::new(cert)?;
    let fields = reader.sequence(|cert| {
        let fields = cert.sequence(|tbs| {
            if tbs.peek_tag()? == context(0, true) {
                tbs.tlv_bytes()?; // version
            }
            tbs.tlv_bytes()?; // serialNumber
            tbs.tlv_bytes()?; // signature
            tbs.tlv_bytes()?; // issuer
            let (not_before, not_after) = tbs.sequence(|v| Ok((time(v)?, time(v)?)))?;
            let subject = tbs.tlv_bytes()?;
            tbs.tlv_bytes()?; // subjectPublicKeyInfo
            let mut extensions = None;
            while !tbs.is_finished() {
                let tag = tbs.peek_tag()?;
                let tlv = tbs.tlv_bytes()?;
                if tag == context(3, true) {
                    extensions = Some(tlv);
                }
            }
            Ok(CertFields {
                not_before,
                not_after,
                subject,
                extensions,
            })
        })?;
        cert.tlv_bytes()?; // signatureAlgorithm
        cert.tlv_bytes()?; // signatureValue
        Ok(fields)
    })?;
    reader.finish(fields)
}

impl CertFields<'_> {
    /// The subject's common name, else the first DNS name: who a client certificate names.
    pub fn identity(&self) -> Option<String> {
        self.common_name()
            .or_else(|| self.dns_names().into_iter().next())
    }

    /// The first `commonName` of the subject, if it is a string type.
    pub fn common_name(&self) -> Option<String> {
        let mut reader = SliceReader::new(self.subject).ok()?;
        let mut found = None;
        reader
            .sequence(|name| {
                while !name.is_finished() {
                    let set = Header::decode(name)?;
                    set.tag.assert_eq(Tag::Set)?;
                    name.read_nested(set.length, |rdn| {
                        while !rdn.is_finished() {
                            rdn.sequence(|atv| {
                                let oid = AnyRef::decode(atv)?;
                                let value = AnyRef::decode(atv)?;
                                if found.is_none()
                                    && oid.tag() == Tag::ObjectIdentifier
                                    && oid.value() == OID_COMMON_NAME
                                {
                                    found = text(value);
                                }
                                Ok(())
                            })?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .ok()?;
        found
    }

    /// The `dNSName` entries of the subjectAltName extension, in order.
    pub fn dns_names(&self) -> Vec<String> {
        let Some(ext) = self.extensions else {
            return Vec::new();
        };
        let mut names = Vec::new();
        let _ = SliceReader::new(ext).and_then(|mut reader| {
            let outer = Header::decode(&mut reader)?;
            reader.read_nested(outer.length, |r| {
                r.sequence(|exts| {
                    while !exts.is_finished() {
                        exts.sequence(|ext| {
                            let oid = AnyRef::decode(ext)?;
                            if ext.peek_tag()? == Tag::Boolean {
                                ext.tlv_bytes()?; // critical
                            }
                            let value = AnyRef::decode(ext)?;
                            if oid.value() == OID_SUBJECT_ALT_NAME {
                                SliceReader::new(value.value())?.sequence(|general_names| {
                                    while !general_names.is_finished() {
                                        let name = AnyRef::decode(general_names)?;
                                        if name.tag() == context(2, false) {
                                            if let Ok(s) = std::str::from_utf8(name.value()) {
                                                names.push(s.to_owned());
                                            }
                                        }
                                    }
                                    Ok(())
                                })?;
                            }
                            Ok(())
                        })?;
                    }
                    Ok(())
                })
            })
        });
        names
    }
}

/// A context-specific tag `[number]`.
fn context(number: u8, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number: TagNumber::new(number),
    }
}

/// An X.509 `Time`: UTCTime (years up to 2049) or GeneralizedTime.
fn time<'a, R: Reader<'a>>(r: &mut R) -> der::Result<der::DateTime> {
    if r.peek_tag()? == Tag::UtcTime {
        Ok(UtcTime::decode(r)?.to_date_time())
    } else {
        Ok(GeneralizedTime::decode(r)?.to_date_time())
    }
}

/// A directory string as text (UTF8String, PrintableString, IA5String; others are skipped).
fn text(value: AnyRef<'_>) -> Option<String> {
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            std::str::from_utf8(value.value()).ok().map(str::to_owned)
        }
        _ => None,
    }
}
