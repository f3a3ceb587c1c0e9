//! Loading a certificate chain and its private key, and CA certificates, from PEM files.
//!
//! Every failure is a [`CertError`] that names the file and says what is wrong with it, so a
//! bad file is a clear startup or reload error. A loaded pair is checked before it is used:
//! the key must belong to the leaf certificate, and the leaf must be valid now (wall clock).

use super::x509;
use rustls::{
    RootCertStore,
    sign::CertifiedKey,
    {Error as TlsError, InconsistentKeys},
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::{
    fmt, fs, io,
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

/// Why a certificate, key or CA file could not be used. `Display` names the file.
#[derive(Debug)]
pub enum CertError {
    /// The file could not be read (missing, permissions, ...).
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The file has PEM markers but a section is broken (no END line, bad base64).
    BadPem {
        /// The file.
        path: PathBuf,
        /// The PEM parser's reason.
        reason: String,
    },
    /// The file holds no `CERTIFICATE` PEM section.
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A certificate in the file is not a well-formed X.509 certificate.
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        reason: String,
    },
    /// The file holds no private key (PKCS#8, PKCS#1 or SEC1 PEM section).
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key's type or parameters are not supported by the crypto provider.
    UnsupportedKey {
        /// The file.
        path: PathBuf,
        /// rustls's reason.
        reason: String,
    },
    /// The private key does not belong to the leaf certificate.
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// The leaf certificate's `notAfter` is in the past.
    Expired {
        /// The certificate file.
        path: PathBuf,
        /// `notAfter`, RFC 3339 (`2020-01-01T00:00:00Z`).
        not_after: String,
    },
    /// The leaf certificate's `notBefore` is in the future.
    NotYetValid {
        /// The certificate file.
        path: PathBuf,
        /// `notBefore`, RFC 3339.
        not_before: String,
    },
    /// The TLS configuration could not be built from valid files (a client CA that rustls
    /// cannot use, a failed random number generator for the ticket key).
    Setup {
        /// The file involved, if any.
        path: Option<PathBuf>,
        /// rustls's reason.
        reason: String,
    },
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable { path, source } => {
                write!(f, "{}: cannot read the file: {source}", path.display())
            }
            Self::BadPem { path, reason } => {
                write!(f, "{}: malformed PEM: {reason}", path.display())
            }
            Self::NoCertificate { path } => write!(
                f,
                "{}: no certificate in it (expected a PEM `-----BEGIN CERTIFICATE-----` section)",
                path.display()
            ),
            Self::BadCertificate { path, reason } => {
                write!(f, "{}: malformed certificate: {reason}", path.display())
            }
            Self::NoPrivateKey { path } => write!(
                f,
                "{}: no private key in it (expected a PEM PKCS#8, RSA or EC PRIVATE KEY section)",
                path.display()
            ),
            Self::UnsupportedKey { path, reason } => write!(
                f,
                "{}: unsupported private key ({reason}); use ECDSA P-256/P-384, Ed25519 or RSA",
                path.display()
            ),
            Self::KeyMismatch { key, cert } => write!(
                f,
                "{}: the private key does not match the certificate in {}",
                key.display(),
                cert.display()
            ),
            Self::Expired { path, not_after } => write!(
                f,
                "{}: the certificate has expired (not after {not_after})",
                path.display()
            ),
            Self::NotYetValid { path, not_before } => write!(
                f,
                "{}: the certificate is not yet valid (not before {not_before})",
                path.display()
            ),
            Self::Setup {
                path: Some(path),
                reason,
            } => write!(f, "{}: {reason}", path.display()),
            Self::Setup { path: None, reason } => write!(f, "TLS setup failed: {reason}"),
        }
    }
}

impl std::error::Error for CertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unreadable { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Loads the certificate chain in `cert` (leaf first) and the private key in `key` (PEM
/// files; they may be the same file), with the ring provider.
///
/// Refuses a key that does not match the leaf certificate, and a leaf that is expired or not
/// yet valid by the wall clock now.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, CertError> {
    let chain = load_certs(cert)?;
    check_validity(cert, &chain[0], SystemTime::now())?;
    let key_der = load_key(key)?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key_der).map_err(|e| {
        CertError::UnsupportedKey {
            path: key.to_owned(),
            reason: e.to_string(),
        }
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // `Unknown`: the key cannot say its public key, so there is nothing to compare.
        Ok(()) | Err(TlsError::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(TlsError::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            return Err(CertError::KeyMismatch {
                key: key.to_owned(),
                cert: cert.to_owned(),
            });
        }
        Err(e) => {
            return Err(CertError::BadCertificate {
                path: cert.to_owned(),
                reason: e.to_string(),
            });
        }
    }
    Ok(Arc::new(certified))
}

/// Loads the CA certificates in `ca` (PEM) as trust roots. Every certificate in the file must
/// be usable as a trust anchor.
pub fn load_roots(ca: &Path) -> Result<RootCertStore, CertError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca)? {
        roots.add(cert).map_err(|e| CertError::BadCertificate {
            path: ca.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// The `notAfter` date of a DER certificate, RFC 3339, if it parses.
pub(crate) fn not_after(cert: &CertificateDer<'_>) -> Option<String> {
    x509::parse(cert).ok().map(|f| f.not_after.to_string())
}

/// All `CERTIFICATE` sections of a PEM file, at least one, each a well-formed certificate.
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(path, e))?;
    if certs.is_empty() {
        return Err(CertError::NoCertificate {
            path: path.to_owned(),
        });
    }
    for cert in &certs {
        x509::parse(cert).map_err(|e| CertError::BadCertificate {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(certs)
}

/// The first private key in a PEM file.
fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => CertError::NoPrivateKey {
            path: path.to_owned(),
        },
        e => bad_pem(path, e),
    })
}

/// Refuses a certificate outside its validity period at `now`.
fn check_validity(
    path: &Path,
    cert: &CertificateDer<'_>,
    now: SystemTime,
) -> Result<(), CertError> {
    let fields = x509::parse(cert).map_err(|e| CertError::BadCertificate {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if now < fields.not_before.to_system_time() {
        return Err(CertError::NotYetValid {
            path: path.to_owned(),
            not_before: fields.not_before.to_string(),
        });
    }
    if now > fields.not_after.to_system_time() {
        return Err(CertError::Expired {
            path: path.to_owned(),
            not_after: fields.not_after.to_string(),
        });
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    fs::read(path).map_err(|source| CertError::Unreadable {
        path: path.to_owned(),
        source,
    })
}

fn bad_pem(path: &Path, e: rustls_pki_types::pem::Error) -> CertError {
    CertError::BadPem {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
#[path = "certs_tests.rs"]
mod tests;
