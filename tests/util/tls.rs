//! TLS for the integration tests: a test PKI made per test with rcgen in a temporary directory
//! (never checked-in keys), a server started with it, and a rustls client over a std socket.

use super::{Response, Server, read_response};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType, date_time_ymd,
};
use rustls::{ClientConfig, ClientConnection, StreamOwned, pki_types::CertificateDer};
use std::{
    io::{BufReader, Read, Write},
    net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

/// Validity of a leaf certificate.
#[derive(Clone, Copy)]
pub enum Validity {
    Now,
    Expired,
    Future,
}

/// One signing CA.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }
}

/// A server CA (`ca.pem`), a client CA (`client-ca.pem`) and a server leaf (`server.pem`,
/// `server.key`) for `localhost` and 127.0.0.1, in a temporary directory. Keys are ECDSA
/// P-256 (rcgen's default).
pub struct Pki {
    pub dir: tempfile::TempDir,
    ca: Ca,
    client_ca: Ca,
}

impl Pki {
    pub fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
            ca: Ca::new("ringwire test CA"),
            client_ca: Ca::new("ringwire test client CA"),
        };
        std::fs::write(pki.ca(), pki.ca.cert.pem()).unwrap();
        std::fs::write(pki.client_ca(), pki.client_ca.cert.pem()).unwrap();
        pki.leaf("server", "ringwire test server", Validity::Now);
        pki
    }

    /// A path in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA that signs server certificates.
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// The CA that signs client certificates.
    pub fn client_ca(&self) -> PathBuf {
        self.path("client-ca.pem")
    }

    /// The good server certificate and key.
    pub fn server(&self) -> (PathBuf, PathBuf) {
        (self.path("server.pem"), self.path("server.key"))
    }

    /// Writes `name.pem` and `name.key`: a server certificate with subject CN `cn` for
    /// `localhost` and 127.0.0.1, signed by the server CA.
    pub fn leaf(&self, name: &str, cn: &str, validity: Validity) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        match validity {
            Validity::Now => {}
            Validity::Expired => {
                params.not_before = date_time_ymd(2019, 1, 1);
                params.not_after = date_time_ymd(2020, 1, 2);
            }
            Validity::Future => params.not_before = date_time_ymd(2100, 3, 4),
        }
        self.sign(name, cn, params, &self.ca)
    }

    /// Writes `name.key`: a fresh key that belongs to no certificate.
    pub fn stray_key(&self, name: &str) -> PathBuf {
        let path = self.path(&format!("{name}.key"));
        std::fs::write(&path, KeyPair::generate().unwrap().serialize_pem()).unwrap();
        path
    }

    /// Writes `name.pem` and `name.key`: a client certificate with subject CN `cn`, signed by
    /// the client CA, or by a CA of its own (one the server does not know) if `!trusted`.
    pub fn client(&self, name: &str, cn: &str, trusted: bool) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if trusted {
            self.sign(name, cn, params, &self.client_ca)
        } else {
            self.sign(name, cn, params, &Ca::new("a CA nobody trusts"))
        }
    }

    fn sign(
        &self,
        name: &str,
        cn: &str,
        mut params: CertificateParams,
        ca: &Ca,
    ) -> (PathBuf, PathBuf) {
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
        let (cert_path, key_path) = (
            self.path(&format!("{name}.pem")),
            self.path(&format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }
}

/// The leaf certificate (DER) a PEM file holds.
pub fn leaf_der(cert: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_file_iter(cert)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// Replaces `to` by a copy of `from` atomically (a rename), so the server never reads half a
/// file.
pub fn replace(from: &Path, to: &Path) {
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

/// `ringwire serve` with the PKI's server certificate on both listeners, and `args`.
pub fn start(io: &str, pki: &Pki, args: &[&str]) -> Server {
    let (cert, key) = pki.server();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let mut all = vec!["--tls-cert", cert, "--tls-key", key];
    all.extend_from_slice(args);
    let s = Server::start(io, &all);
    assert!(s.log().contains("listening on https://"), "{}", s.log());
    s
}

/// Runs `ringwire serve` expecting it not to start: (exit code, stderr).
pub fn start_fails(io: &str, args: &[&str]) -> (Option<i32>, String) {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(["serve", "--io", io, "--listen", "127.0.0.1:0"])
        .args(["--admin", "127.0.0.1:0", "--stream-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data.path())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("ringwire kept running with {args:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A client configuration trusting the PKI's server CA, offering `alpn`.
pub fn client(pki: &Pki, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    ringwire_net::tls::client_config(&pki.ca(), alpn).unwrap()
}

/// [`client`] without session resumption: every handshake is full and sees the server's
/// current certificate (a resumed session keeps the certificate it was made with).
pub fn client_full(pki: &Pki, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut config = (*client(pki, alpn)).clone();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// A client configuration that also presents `name.pem`/`name.key`.
pub fn client_with_cert(pki: &Pki, name: &str) -> Arc<ClientConfig> {
    let (cert, key) = (
        pki.path(&format!("{name}.pem")),
        pki.path(&format!("{name}.key")),
    );
    ringwire_net::tls::client_config_with_identity(&pki.ca(), &[b"http/1.1"], &cert, &key).unwrap()
}

/// An HTTP/1.1 client connection over TLS; reads buffer across pipelined responses.
pub struct Conn {
    pub r: BufReader<StreamOwned<ClientConnection, TcpStream>>,
}

impl Conn {
    /// Connects and completes the handshake (server name `localhost`).
    pub fn open(addr: SocketAddr, config: &Arc<ClientConfig>) -> std::io::Result<Conn> {
        let sock = TcpStream::connect(addr)?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))?;
        sock.set_write_timeout(Some(Duration::from_secs(10)))?;
        sock.set_nodelay(true)?;
        let conn = ClientConnection::new(config.clone(), "localhost".try_into().unwrap())
            .map_err(std::io::Error::other)?;
        let mut tls = StreamOwned::new(conn, sock);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(Conn {
            r: BufReader::with_capacity(64 * 1024, tls),
        })
    }

    pub fn tls(&mut self) -> &mut StreamOwned<ClientConnection, TcpStream> {
        self.r.get_mut()
    }

    /// The raw socket under the TLS session.
    pub fn sock(&mut self) -> &mut TcpStream {
        &mut self.r.get_mut().sock
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let tls = self.tls();
        tls.write_all(bytes)?;
        tls.flush()
    }

    /// Reads one response.
    pub fn response(&mut self) -> Option<Response> {
        read_response(&mut self.r, false)
    }

    /// `GET path` (keep-alive) and its response.
    pub fn get(&mut self, path: &str) -> Option<Response> {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
            .ok()?;
        self.response()
    }

    /// `GET path` with an extra header line (`Name: value`).
    pub fn get_with(&mut self, path: &str, header: &str) -> Option<Response> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{header}\r\n\r\n");
        self.send(req.as_bytes()).ok()?;
        self.response()
    }

    /// The server's leaf certificate (DER).
    pub fn peer_leaf(&mut self) -> Vec<u8> {
        self.tls().conn.peer_certificates().unwrap()[0].to_vec()
    }
}

/// Bytes a fresh client would send first: one real ClientHello record (or more).
pub fn client_hello(config: &Arc<ClientConfig>) -> Vec<u8> {
    let mut conn = ClientConnection::new(config.clone(), "localhost".try_into().unwrap()).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// How a connection that sent something the server must refuse ended.
#[derive(Debug, PartialEq)]
pub enum Ending {
    /// EOF or reset, after these bytes.
    Closed(Vec<u8>),
    /// Still open after the limit.
    Open,
}

/// Sends `bytes` on a new plain TCP connection (then half-closes it if `fin`) and reads until
/// the server closes it or `limit` passes.
pub fn send_raw(addr: SocketAddr, bytes: &[u8], fin: bool, limit: Duration) -> Ending {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // The server may close before all is written: that is a fine ending too.
    let _ = s.write_all(bytes);
    if fin {
        let _ = s.shutdown(Shutdown::Write);
    }
    read_until_closed(&mut s, limit)
}

/// Reads from `s` until EOF or an error other than a timeout, at most `limit`.
pub fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Ending {
    let end = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => return Ending::Closed(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Ending::Closed(got),
        }
    }
    Ending::Open
}

/// Runs `openssl s_client` against `addr` with `args` (stdin closed, so it ends after the
/// handshake): (exit success, stdout + stderr).
pub fn s_client(addr: SocketAddr, pki: &Pki, args: &[&str]) -> (bool, String) {
    let out = Command::new("timeout")
        .args(["20", "openssl", "s_client", "-connect"])
        .arg(addr.to_string())
        .args(["-servername", "localhost", "-CAfile"])
        .arg(pki.ca())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl must be installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The sample `name` (labels as printed) on the admin `/metrics`; 0 if absent.
pub fn metric(server: &Server, name: &str) -> f64 {
    super::edge::metric(server, name)
}

/// `ringwire_tls_handshakes_total{result="..."}`.
pub fn handshakes(server: &Server, result: &str) -> f64 {
    metric(
        server,
        &format!("ringwire_tls_handshakes_total{{result=\"{result}\"}}"),
    )
}

/// Waits until the log contains `needle` (at most 10 s); the log.
pub fn wait_log(server: &Server, needle: &str) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let log = server.log();
        if log.contains(needle) {
            return log;
        }
        assert!(Instant::now() < end, "no `{needle}` in the log:\n{log}");
        thread::sleep(Duration::from_millis(20));
    }
}
