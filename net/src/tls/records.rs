//! Moving bytes into and out of rustls, for the server's and the client's record layers alike:
//! [`feed`] gives it received ciphertext and takes the plaintext out, [`drain_tls`] takes what
//! it has to send.

use super::stream::HandshakeError;
use bytes::BytesMut;
use ringwire_reactor::net::TcpStream;
use rustls::ConnectionCommon;
use std::io::{self, Read};

/// Somewhere decrypted bytes are appended.
pub(super) trait Plain {
    /// Appends up to `n` bytes that `fill` writes into a slice of that size; `fill` says how
    /// many it wrote.
    fn append(&mut self, n: usize, fill: impl FnOnce(&mut [u8]) -> usize);
}

impl Plain for Vec<u8> {
    fn append(&mut self, n: usize, fill: impl FnOnce(&mut [u8]) -> usize) {
        let start = self.len();
        self.resize(start + n, 0);
        let got = fill(&mut self[start..]);
        self.truncate(start + got);
    }
}

impl Plain for BytesMut {
    fn append(&mut self, n: usize, fill: impl FnOnce(&mut [u8]) -> usize) {
        let start = self.len();
        self.resize(start + n, 0);
        let got = fill(&mut self[start..]);
        self.truncate(start + got);
    }
}

/// Runs a handshake (either side) on `tcp` to its end: each flight rustls has is written
/// before the next is read; plaintext that arrives with the peer's last flight goes to
/// `early`. `Ok(true)`: the peer's close_notify came with it too. On a protocol error the
/// alert rustls queued is sent (best effort) before the error returns. The caller bounds it
/// in time.
pub(super) async fn handshake<D>(
    tcp: &TcpStream,
    conn: &mut ConnectionCommon<D>,
    early: &mut impl Plain,
) -> Result<bool, HandshakeError> {
    let mut peer_closed = false;
    loop {
        if conn.wants_write() {
            let mut out = Vec::new();
            drain_tls(conn, &mut out);
            let (res, _) = tcp.write_all(out).await;
            res.map_err(HandshakeError::Io)?;
        }
        if !conn.is_handshaking() {
            return Ok(peer_closed);
        }
        let Some(bytes) = tcp.recv().await.map_err(HandshakeError::Io)? else {
            return Err(HandshakeError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection during the TLS handshake",
            )));
        };
        match feed(conn, &bytes, early) {
            Ok(closed) => peer_closed |= closed,
            Err(e) => {
                let mut out = Vec::new();
                drain_tls(conn, &mut out);
                if !out.is_empty() {
                    let _ = tcp.write_all(out).await;
                }
                return Err(HandshakeError::Tls(e));
            }
        }
    }
}

/// Moves everything rustls wants to send into `out`.
pub(super) fn drain_tls<D>(conn: &mut ConnectionCommon<D>, out: &mut Vec<u8>) {
    while conn.wants_write() {
        // Writing into a Vec cannot fail.
        if conn.write_tls(out).is_err() {
            break;
        }
    }
}

/// Gives `bytes` (ciphertext) to rustls and appends the plaintext they carried to `plain`.
/// `Ok(true)`: the peer sent close_notify (bytes after it are dropped, as TLS requires).
pub(super) fn feed<D>(
    conn: &mut ConnectionCommon<D>,
    mut bytes: &[u8],
    plain: &mut impl Plain,
) -> Result<bool, rustls::Error> {
    let mut stalled = false;
    while !bytes.is_empty() {
        // An error here means rustls's buffers are full: processing below drains them.
        let consumed = conn.read_tls(&mut bytes).unwrap_or(0);
        let state = conn.process_new_packets()?;
        let n = state.plaintext_bytes_to_read();
        if n > 0 {
            plain.append(n, |buf| conn.reader().read(buf).unwrap_or(0));
        }
        if state.peer_has_closed() {
            return Ok(true);
        }
        if consumed == 0 {
            if stalled {
                return Err(rustls::Error::General(
                    "the TLS receive buffers would not drain".into(),
                ));
            }
            stalled = true;
        } else {
            stalled = false;
        }
    }
    Ok(false)
}
