//! Moving bytes into and out of rustls, for the server's and the client's record layers alike:
//! [`feed`] gives it received ciphertext and takes the plaintext out, [`drain_tls`] takes what
//! it has to send.

use bytes::BytesMut;
use rustls::ConnectionCommon;
use std::io::Read;

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
