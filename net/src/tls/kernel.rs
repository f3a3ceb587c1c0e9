//! kTLS: after rustls's handshake, the kernel takes over the record layer, so writes,
//! `writev` and `sendfile` of a TLS connection are the plain socket calls again (and
//! `sendfile` stays zero-copy); reads return plaintext.
//!
//! The switch ([`to_kernel`]) must happen exactly between two records:
//! 1. stop receiving ahead (io_uring keeps a receive armed, which may already hold ciphertext
//!    the handshake did not read) and give what it took to rustls;
//! 2. check that everything received ends on a record boundary (rustls would otherwise keep
//!    a partial record to itself) and that rustls has nothing left to send;
//! 3. attach the `tls` ULP (where the kernel has none, nothing changed: the connection stays
//!    in user space);
//! 4. take the traffic secrets and sequence numbers out of rustls and give them to the kernel.
//!
//! After the switch, a record that is not application data makes a read fail with `EIO`; it
//! is read with its type: close_notify ends the stream, other alerts and handshake messages
//! (a TLS 1.3 KeyUpdate: the kernel path does not rekey) end the connection with an error.

use super::{
    records::{feed, take_early},
    stream::TlsState,
};
use crate::tls::Negotiated;
use ringwire_reactor::{
    buf::{BufResult, IoBuf, RecvBuf},
    ktls::{Cipher, CryptoInfo, Direction, is_control_record, record},
    net::TcpStream,
};
use rustls::{ConnectionTrafficSecrets, ProtocolVersion};
use std::{
    cell::{Cell, RefCell},
    io,
    net::Shutdown,
    rc::Rc,
    task::{Context, Poll},
};

/// The largest plaintext of one TLS record (what one control-record read needs).
const MAX_RECORD: usize = 16 * 1024;

/// A TLS connection whose records the kernel encrypts and decrypts.
pub struct KernelTls {
    /// Plaintext rustls decrypted before the switch, handed out first.
    early: RefCell<Vec<u8>>,
    /// The peer sent close_notify or closed the socket.
    closed: Cell<bool>,
    negotiated: Negotiated,
}

/// How a switch to kTLS ended.
pub enum Switch {
    /// The kernel runs the record layer.
    Kernel(KernelTls),
    /// Nothing changed: the connection stays with rustls, for this reason.
    User(Box<TlsState>, String),
    /// The switch failed after rustls gave up its secrets: the connection cannot go on.
    Failed(io::Error),
}

/// Hands `tls`'s record layer on `tcp` to the kernel, if it can be done soundly now (right
/// after the handshake, before anything else was read).
pub async fn to_kernel(tls: TlsState, tcp: &TcpStream) -> Switch {
    let mut p = tls.into_parts();
    let (taken, eof) = match tcp.quiesce_recv().await {
        Ok(taken) => taken,
        Err(e) => return Switch::Failed(e),
    };
    for bytes in &taken {
        p.cursor.advance(bytes);
        match feed(&mut p.conn, bytes, &mut p.early) {
            Ok(closed) => p.closed |= closed,
            Err(e) => return Switch::Failed(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }
    drop(taken);
    let stay = |p, why: &str| Switch::User(Box::new(TlsState::from_parts(p)), why.to_string());
    if eof || p.closed {
        p.closed = true;
        return stay(p, "the peer closed before the switch");
    }
    if !p.cursor.at_boundary() {
        return stay(p, "a TLS record was still arriving");
    }
    if p.broken || !p.pending.is_empty() || p.conn.wants_write() {
        // The handshake writes its last flight before it ends, so this is an alert or a
        // ticket rustls produced from the bytes just fed: let rustls send it.
        return stay(p, "rustls still had records to send");
    }
    if let Some(why) = kernel_refuses(p.negotiated.version, p.conn.negotiated_cipher_suite()) {
        return stay(p, why);
    }
    if let Err(e) = tcp.ktls_enable_ulp() {
        return stay(p, &format!("setsockopt(TCP_ULP, \"tls\"): {e}"));
    }
    let tls13 = p.negotiated.version == Some(ProtocolVersion::TLSv1_3);
    let negotiated = p.negotiated.clone();
    let early = std::mem::take(&mut p.early);
    let secrets = match p.conn.dangerous_extract_secrets() {
        Ok(secrets) => secrets,
        Err(e) => return Switch::Failed(io::Error::other(format!("rustls kept its secrets: {e}"))),
    };
    for (direction, (seq, secrets)) in [(Direction::Tx, secrets.tx), (Direction::Rx, secrets.rx)] {
        let Some(cipher) = cipher(secrets) else {
            return Switch::Failed(io::Error::other(
                "rustls gave a key of an unexpected length for its cipher",
            ));
        };
        let info = CryptoInfo { tls13, seq, cipher };
        if let Err(e) = tcp.ktls_set_crypto(direction, &info) {
            return Switch::Failed(io::Error::new(
                e.kind(),
                format!("setsockopt(SOL_TLS, {direction:?}): {e}"),
            ));
        }
    }
    Switch::Kernel(KernelTls {
        early: RefCell::new(early),
        closed: Cell::new(false),
        negotiated,
    })
}

/// Why the kernel must not take this session, if it must not. TLS 1.2 with AES-GCM: the
/// kernel sends `crypto_info.iv` as the first record's explicit nonce and adds one per record,
/// while rustls used `iv XOR seq` for the records it sent (the handshake's Finished among
/// them): no starting value keeps the kernel's nonces clear of rustls's for every IV, and a
/// repeated GCM nonce under one key gives the key away. TLS 1.3 and ChaCha20 derive each
/// nonce from the sequence number on both sides.
fn kernel_refuses(
    version: Option<ProtocolVersion>,
    suite: Option<rustls::SupportedCipherSuite>,
) -> Option<&'static str> {
    use rustls::CipherSuite as C;
    let suite = suite?.suite();
    let chacha = matches!(
        suite,
        C::TLS13_CHACHA20_POLY1305_SHA256
            | C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
            | C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
    );
    match version {
        Some(ProtocolVersion::TLSv1_3) => None,
        Some(ProtocolVersion::TLSv1_2) if chacha => None,
        Some(ProtocolVersion::TLSv1_2) => Some(
            "TLS 1.2 with AES-GCM stays in user space: the kernel's explicit nonces could repeat rustls's",
        ),
        _ => Some("a TLS version the kernel path does not handle"),
    }
}

/// rustls's secrets in the kernel's terms; `None` for a key or IV of an unexpected length.
fn cipher(secrets: ConnectionTrafficSecrets) -> Option<Cipher> {
    fn array<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
        bytes.try_into().ok()
    }
    Some(match secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv } => Cipher::Aes128Gcm {
            key: array(key.as_ref())?,
            iv: array(iv.as_ref())?,
        },
        ConnectionTrafficSecrets::Aes256Gcm { key, iv } => Cipher::Aes256Gcm {
            key: array(key.as_ref())?,
            iv: array(iv.as_ref())?,
        },
        ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => Cipher::Chacha20Poly1305 {
            key: array(key.as_ref())?,
            iv: array(iv.as_ref())?,
        },
        // The enum is non-exhaustive; rustls's ring provider has no other AEAD.
        _ => return None,
    })
}

impl KernelTls {
    /// What the handshake negotiated.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// Decrypted bytes, `Ok(None)` once the peer has closed (close_notify or end of stream).
    pub fn poll_recv(
        &self,
        tcp: &TcpStream,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<RecvBuf>>> {
        if let Some(early) = take_early(&self.early) {
            return Poll::Ready(Ok(Some(early)));
        }
        loop {
            if self.closed.get() {
                return Poll::Ready(Ok(None));
            }
            match tcp.poll_recv(cx) {
                Poll::Ready(Ok(None)) => self.closed.set(true),
                Poll::Ready(Err(e)) if is_control_record(&e) => match self.control_record(tcp) {
                    Ok(Some(plain)) => return Poll::Ready(Ok(Some(plain))),
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Err(e)),
                },
                other => return other,
            }
        }
    }

    /// Reads the record a plain read refused: close_notify closes, data is data, anything
    /// else is an error. `Ok(None)`: nothing to hand out (yet).
    fn control_record(&self, tcp: &TcpStream) -> io::Result<Option<RecvBuf>> {
        let mut buf = vec![0u8; MAX_RECORD];
        let (n, kind) = match tcp.ktls_recv_record(&mut buf) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        buf.truncate(n);
        match kind {
            _ if n == 0 => self.closed.set(true),
            record::APPLICATION_DATA => return Ok(Some(RecvBuf::from(buf))),
            // close_notify: level 1 (warning) or any level, description 0.
            record::ALERT if buf.get(1) == Some(&0) => self.closed.set(true),
            record::ALERT => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the peer sent TLS alert {}",
                        buf.get(1).copied().unwrap_or(0)
                    ),
                ));
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "a TLS record of type {other} after kTLS took over (a key update \
                         or ticket: the kernel path does not rekey)"
                    ),
                ));
            }
        }
        Ok(None)
    }

    /// Writes all of `buf` (the kernel encrypts it).
    pub async fn write_all<B: IoBuf>(&self, tcp: &TcpStream, buf: B) -> BufResult<(), B> {
        tcp.write_all(buf).await
    }

    /// Writes all of `bufs`, in order.
    pub async fn writev_all<B: IoBuf>(
        &self,
        tcp: &TcpStream,
        bufs: Vec<B>,
    ) -> BufResult<(), Vec<B>> {
        tcp.writev_all(bufs).await
    }

    /// Sends `len` bytes of `file` from `offset`: zero-copy, the kernel encrypts.
    pub async fn sendfile(
        &self,
        tcp: &TcpStream,
        file: &Rc<std::fs::File>,
        offset: u64,
        len: u64,
    ) -> io::Result<u64> {
        tcp.sendfile(file, offset, len).await
    }

    /// Sends close_notify (best effort: two bytes, if the socket has room), then shuts the
    /// socket's `how` side down.
    pub async fn shutdown(&self, tcp: &TcpStream, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            // Alert level warning (1), description close_notify (0).
            let _ = tcp.ktls_send_record(record::ALERT, &[1, 0]);
        }
        tcp.shutdown(how).await
    }
}

#[cfg(test)]
mod tests {
    use super::kernel_refuses;
    use rustls::{ProtocolVersion, crypto::ring::cipher_suite as cs};

    #[test]
    fn tls12_aes_gcm_stays_in_user_space_and_the_rest_may_go() {
        let v12 = Some(ProtocolVersion::TLSv1_2);
        let v13 = Some(ProtocolVersion::TLSv1_3);
        for suite in [
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ] {
            assert!(kernel_refuses(v12, Some(suite)).is_some(), "{suite:?}");
        }
        assert_eq!(
            kernel_refuses(v12, Some(cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)),
            None
        );
        for suite in [
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ] {
            assert_eq!(kernel_refuses(v13, Some(suite)), None, "{suite:?}");
        }
    }
}
