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

/// Where a stream of TLS records stands after the bytes seen so far: inside a record's
/// 5-byte header, inside its body, or exactly between two records. Handing the record layer
/// to the kernel (kTLS) is only sound between records: rustls keeps a partial record to
/// itself, and the kernel would read the rest as the start of a new one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RecordCursor {
    header: [u8; 5],
    header_have: usize,
    body_left: usize,
}

impl RecordCursor {
    /// Moves past `bytes`, the next bytes of the stream.
    pub(super) fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len());
                self.body_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (5 - self.header_have).min(bytes.len());
            self.header[self.header_have..self.header_have + n].copy_from_slice(&bytes[..n]);
            self.header_have += n;
            bytes = &bytes[n..];
            if self.header_have == 5 {
                self.header_have = 0;
                self.body_left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
            }
        }
    }

    /// Whether the bytes so far end exactly at the end of a record.
    pub(super) fn at_boundary(&self) -> bool {
        self.header_have == 0 && self.body_left == 0
    }
}

/// Runs a handshake (either side) on `tcp` to its end: each flight rustls has is written
/// before the next is read; plaintext that arrives with the peer's last flight goes to
/// `early`, and `cursor` follows the records received. `Ok(true)`: the peer's close_notify
/// came with it too. On a protocol error the alert rustls queued is sent (best effort) before
/// the error returns. The caller bounds it in time.
pub(super) async fn handshake<D>(
    tcp: &TcpStream,
    conn: &mut ConnectionCommon<D>,
    early: &mut impl Plain,
    cursor: &mut RecordCursor,
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
        cursor.advance(&bytes);
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

/// The plaintext decrypted before the connection's first receive (with the handshake's last
/// flight), handed out once.
pub(super) fn take_early(
    early: &std::cell::RefCell<Vec<u8>>,
) -> Option<ringwire_reactor::buf::RecvBuf> {
    let mut early = early.borrow_mut();
    (!early.is_empty()).then(|| std::mem::take(&mut *early).into())
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

#[cfg(test)]
mod tests {
    use super::RecordCursor;
    use proptest::prelude::*;

    fn record(len: usize, fill: u8) -> Vec<u8> {
        let mut r = vec![23, 3, 3];
        r.extend_from_slice(&(len as u16).to_be_bytes());
        r.extend(std::iter::repeat_n(fill, len));
        r
    }

    proptest! {
        /// Fed in any pieces, the cursor is at a boundary exactly where a record ends.
        #[test]
        fn boundaries_are_exactly_record_ends(
            lens in proptest::collection::vec(0usize..600, 1..12),
            cuts in proptest::collection::vec(1usize..200, 1..40),
        ) {
            let mut stream = Vec::new();
            let mut ends = vec![0usize];
            for (i, len) in lens.iter().enumerate() {
                stream.extend(record(*len, i as u8));
                ends.push(stream.len());
            }
            let mut cursor = RecordCursor::default();
            let mut at = 0;
            let mut cuts = cuts.into_iter().cycle();
            while at < stream.len() {
                let n = cuts.next().unwrap().min(stream.len() - at);
                cursor.advance(&stream[at..at + n]);
                at += n;
                prop_assert_eq!(cursor.at_boundary(), ends.contains(&at), "at byte {}", at);
            }
        }
    }

    #[test]
    fn a_header_cut_in_two_is_not_a_boundary() {
        let mut c = RecordCursor::default();
        assert!(c.at_boundary());
        c.advance(&[23, 3, 3, 0]);
        assert!(!c.at_boundary());
        c.advance(&[2]);
        assert!(!c.at_boundary());
        c.advance(b"hi");
        assert!(c.at_boundary());
    }
}
