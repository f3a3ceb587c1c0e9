//! Test certificates made with rcgen in a temporary directory (never checked-in keys), and an
//! in-memory handshake between a rustls client and server (no sockets).

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
    date_time_ymd,
};
use rustls::{ClientConfig, ClientConnection, ConnectionCommon, ServerConfig, ServerConnection};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};
use tempfile::TempDir;

/// A CA and files under a temporary directory.
pub(crate) struct Pki {
    pub dir: TempDir,
    ca: Certificate,
    ca_key: KeyPair,
}

/// Validity of a leaf made by [`Pki::leaf_with`].
#[derive(Clone, Copy)]
pub(crate) enum Validity {
    Now,
    Expired,
    Future,
}

impl Pki {
    /// A fresh CA (`ca.pem` in the directory).
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "ringwire test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca, ca_key }
    }

    /// The CA file.
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// A path in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `name`.pem and `name`.key: a certificate for `localhost` signed by the CA.
    pub fn leaf(&self, name: &str) -> (PathBuf, PathBuf) {
        self.leaf_with(name, Some(name), Validity::Now)
    }

    /// A leaf with subject CN `cn` (if any), DNS name `localhost`, and the given validity.
    pub fn leaf_with(
        &self,
        name: &str,
        cn: Option<&str>,
        validity: Validity,
    ) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        match validity {
            Validity::Now => {}
            Validity::Expired => {
                params.not_before = date_time_ymd(2019, 1, 1);
                params.not_after = date_time_ymd(2020, 1, 2);
            }
            Validity::Future => params.not_before = date_time_ymd(2100, 3, 4),
        }
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let (cert_path, key_path) = (
            self.path(&format!("{name}.pem")),
            self.path(&format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }
}

/// The leaf certificate (DER) a file holds.
pub(crate) fn leaf_der(cert: &Path) -> Vec<u8> {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::pem_file_iter(cert)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// A client and server connection that completed a handshake over memory.
pub(crate) struct Pair {
    pub client: ClientConnection,
    pub server: ServerConnection,
}

/// Connects `client` to `server` (server name `localhost`) and runs the handshake, and the
/// ticket flight after it, to the end.
pub(crate) fn handshake(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
) -> Result<Pair, rustls::Error> {
    let mut pair = Pair {
        client: ClientConnection::new(client.clone(), "localhost".try_into().unwrap())?,
        server: ServerConnection::new(server.clone())?,
    };
    for _ in 0..16 {
        transfer(&mut pair.client, &mut pair.server)?;
        transfer(&mut pair.server, &mut pair.client)?;
        if !pair.client.is_handshaking()
            && !pair.server.is_handshaking()
            && !pair.client.wants_write()
            && !pair.server.wants_write()
        {
            return Ok(pair);
        }
    }
    panic!("the handshake did not finish in 16 flights");
}

/// Moves everything `from` has to send into `to`, which processes it.
pub(crate) fn transfer<A, B>(
    from: &mut ConnectionCommon<A>,
    to: &mut ConnectionCommon<B>,
) -> Result<(), rustls::Error> {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut bytes = &buf[..];
    while !bytes.is_empty() {
        to.read_tls(&mut bytes).unwrap();
        to.process_new_packets()?;
    }
    Ok(())
}
