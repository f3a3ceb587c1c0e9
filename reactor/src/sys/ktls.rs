//! Kernel TLS (kTLS): the system calls that hand a connected socket's TLS record layer to the
//! kernel after a user-space handshake (`Documentation/networking/tls.rst`).
//!
//! 1. `setsockopt(SOL_TCP, TCP_ULP, "tls")` attaches the `tls` upper-layer protocol; it fails
//!    with `ENOENT` where the kernel has no `tls` module, and nothing has changed then.
//! 2. `setsockopt(SOL_TLS, TLS_TX | TLS_RX, crypto_info)` gives it the traffic keys, the
//!    fixed IV and the next record sequence number of each direction. From then on `write`,
//!    `sendfile` and io_uring's sends are encrypted by the kernel, and reads return plaintext.
//! 3. A record that is not application data (an alert, a TLS 1.3 KeyUpdate) makes a plain
//!    read fail with `EIO`; `recvmsg` with room for a control message returns it with its
//!    type (`TLS_GET_RECORD_TYPE`). Sending one works the same way (`TLS_SET_RECORD_TYPE`).

use super::unix::cvt;
use std::{io, mem, os::fd::RawFd};

/// TLS record content types (RFC 8446 §5.1).
pub mod record {
    /// An alert.
    pub const ALERT: u8 = 21;
    /// A handshake message (after the handshake: a KeyUpdate or a NewSessionTicket).
    pub const HANDSHAKE: u8 = 22;
    /// Application data.
    pub const APPLICATION_DATA: u8 = 23;
}

/// The traffic secrets of one direction, as a TLS library extracts them after a handshake.
#[derive(Clone, PartialEq, Eq)]
pub enum Cipher {
    /// AES-128-GCM: the key and the 12-byte IV (4-byte salt, then 8 bytes).
    Aes128Gcm {
        /// The traffic key.
        key: [u8; 16],
        /// The IV.
        iv: [u8; 12],
    },
    /// AES-256-GCM.
    Aes256Gcm {
        /// The traffic key.
        key: [u8; 32],
        /// The IV.
        iv: [u8; 12],
    },
    /// ChaCha20-Poly1305 (the whole 12-byte IV is the nonce base; no salt).
    Chacha20Poly1305 {
        /// The traffic key.
        key: [u8; 32],
        /// The IV.
        iv: [u8; 12],
    },
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print keys.
        f.write_str(match self {
            Cipher::Aes128Gcm { .. } => "Aes128Gcm",
            Cipher::Aes256Gcm { .. } => "Aes256Gcm",
            Cipher::Chacha20Poly1305 { .. } => "Chacha20Poly1305",
        })
    }
}

/// What the kernel needs to take over one direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoInfo {
    /// TLS 1.3 (`true`) or 1.2.
    pub tls13: bool,
    /// The sequence number of the next record in this direction.
    pub seq: u64,
    /// The cipher and its secrets.
    pub cipher: Cipher,
}

/// Which direction [`set_crypto`] configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Records the socket sends.
    Tx,
    /// Records the socket receives.
    Rx,
}

/// The kernel's `struct tls12_crypto_info_*` for `info`, as bytes (the structs are packed
/// byte arrays after a 4-byte header, so their layout is the field order with no padding).
pub fn crypto_info_bytes(info: &CryptoInfo) -> Vec<u8> {
    let version = if info.tls13 {
        libc::TLS_1_3_VERSION
    } else {
        libc::TLS_1_2_VERSION
    };
    let seq = info.seq.to_be_bytes();
    let (cipher_type, iv, key, salt): (u16, &[u8], &[u8], &[u8]) = match &info.cipher {
        Cipher::Aes128Gcm { key, iv } => (libc::TLS_CIPHER_AES_GCM_128, &iv[4..], key, &iv[..4]),
        Cipher::Aes256Gcm { key, iv } => (libc::TLS_CIPHER_AES_GCM_256, &iv[4..], key, &iv[..4]),
        Cipher::Chacha20Poly1305 { key, iv } => {
            (libc::TLS_CIPHER_CHACHA20_POLY1305, &iv[..], key, &[][..])
        }
    };
    let mut out = Vec::with_capacity(4 + iv.len() + key.len() + salt.len() + seq.len());
    out.extend_from_slice(&version.to_ne_bytes());
    out.extend_from_slice(&cipher_type.to_ne_bytes());
    out.extend_from_slice(iv);
    out.extend_from_slice(key);
    out.extend_from_slice(salt);
    out.extend_from_slice(&seq);
    out
}

/// The size of the kernel's struct for each cipher (checked against `libc`'s definitions).
fn expected_len(cipher: &Cipher) -> usize {
    match cipher {
        Cipher::Aes128Gcm { .. } => mem::size_of::<libc::tls12_crypto_info_aes_gcm_128>(),
        Cipher::Aes256Gcm { .. } => mem::size_of::<libc::tls12_crypto_info_aes_gcm_256>(),
        Cipher::Chacha20Poly1305 { .. } => {
            mem::size_of::<libc::tls12_crypto_info_chacha20_poly1305>()
        }
    }
}

fn setsockopt(fd: RawFd, level: i32, name: i32, value: &[u8]) -> io::Result<()> {
    // SAFETY: `value` is a live slice of exactly `value.len()` bytes, which is all the kernel
    // reads; `fd` is a descriptor number (a wrong one fails with EBADF/ENOTSOCK, nothing more).
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Attaches the `tls` ULP to the connected TCP socket `fd`. `ENOENT`: the kernel has none.
pub fn enable_ulp(fd: RawFd) -> io::Result<()> {
    setsockopt(fd, libc::SOL_TCP, libc::TCP_ULP, b"tls")
}

/// Gives the kernel one direction's keys (after [`enable_ulp`]).
pub fn set_crypto(fd: RawFd, direction: Direction, info: &CryptoInfo) -> io::Result<()> {
    let bytes = crypto_info_bytes(info);
    debug_assert_eq!(bytes.len(), expected_len(&info.cipher));
    let name = match direction {
        Direction::Tx => libc::TLS_TX,
        Direction::Rx => libc::TLS_RX,
    };
    let result = setsockopt(fd, libc::SOL_TLS, name, &bytes);
    // The buffer held keys: clear it before it is freed.
    let mut bytes = bytes;
    bytes.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&bytes);
    result
}

/// Whether a read error on a socket with `TLS_RX` means the next record is not application
/// data (`EIO`): read it with [`recv_record`].
pub fn is_control_record(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EIO)
}

/// Space for one `int`-sized control message.
const CMSG_SPACE: usize = 64;

/// Receives one record's plaintext (non-blocking) and its content type: what a socket with
/// `TLS_RX` holds when a plain read failed with `EIO`. `Ok((0, _))`: end of stream.
pub fn recv_record(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, u8)> {
    let mut control = [0u64; CMSG_SPACE / 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is "no name, no iovecs, no control".
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = CMSG_SPACE as _;
    // SAFETY: `msg` points to `iov` (which describes `buf`, live and writable for its length)
    // and to `control` (CMSG_SPACE writable, 8-aligned bytes); all outlive the call.
    let n = cvt(unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) })?;
    let mut record_type = record::APPLICATION_DATA;
    // SAFETY: `msg` was filled by recvmsg: CMSG_FIRSTHDR/CMSG_NXTHDR walk only the
    // `msg_controllen` bytes the kernel wrote into `control`, and a header they return lies
    // inside it, with its data (`cmsg_len` checked to cover one byte) following it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let header = &*cmsg;
            if header.cmsg_level == libc::SOL_TLS
                && header.cmsg_type == libc::TLS_GET_RECORD_TYPE
                && header.cmsg_len as usize >= libc::CMSG_LEN(1) as usize
            {
                record_type = *libc::CMSG_DATA(cmsg);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, record_type))
}

/// Sends one record of `record_type` holding `payload` (non-blocking; an alert is two bytes,
/// and a socket send buffer with no room for them fails with `EAGAIN`).
pub fn send_record(fd: RawFd, record_type: u8, payload: &[u8]) -> io::Result<usize> {
    let mut control = [0u64; CMSG_SPACE / 8];
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut _,
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is "no name, no iovecs, no control".
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(1) } as _;
    // SAFETY: `control` is 8-aligned and CMSG_SPACE(1) <= 64 bytes long, so the first header
    // and its one data byte lie inside it; the kernel only reads `payload` through `iov`.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_TLS;
        (*cmsg).cmsg_type = libc::TLS_SET_RECORD_TYPE;
        (*cmsg).cmsg_len = libc::CMSG_LEN(1) as _;
        *libc::CMSG_DATA(cmsg) = record_type;
    }
    // SAFETY: as above: every pointer in `msg` is to live locals or `payload`.
    let n = cvt(unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) })?;
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(cipher: Cipher, tls13: bool) -> CryptoInfo {
        CryptoInfo {
            tls13,
            seq: 0x0102_0304_0506_0708,
            cipher,
        }
    }

    #[test]
    fn layouts_match_the_kernel_structs() {
        let iv: [u8; 12] = std::array::from_fn(|i| 0xa0 + i as u8);
        for cipher in [
            Cipher::Aes128Gcm { key: [1; 16], iv },
            Cipher::Aes256Gcm { key: [2; 32], iv },
            Cipher::Chacha20Poly1305 { key: [3; 32], iv },
        ] {
            assert_eq!(
                crypto_info_bytes(&info(cipher.clone(), true)).len(),
                expected_len(&cipher),
                "{cipher:?}"
            );
        }
    }

    #[test]
    fn aes_gcm_splits_the_iv_into_salt_and_nonce() {
        let iv: [u8; 12] = std::array::from_fn(|i| i as u8);
        let b = crypto_info_bytes(&info(Cipher::Aes128Gcm { key: [9; 16], iv }, true));
        // SAFETY: the struct is plain bytes and `b` has exactly its size (checked above).
        let s: libc::tls12_crypto_info_aes_gcm_128 =
            unsafe { std::ptr::read_unaligned(b.as_ptr().cast()) };
        assert_eq!(s.info.version, libc::TLS_1_3_VERSION);
        assert_eq!(s.info.cipher_type, libc::TLS_CIPHER_AES_GCM_128);
        assert_eq!(s.salt, [0, 1, 2, 3]);
        assert_eq!(s.iv, [4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(s.key, [9; 16]);
        assert_eq!(s.rec_seq, [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn chacha_keeps_the_whole_iv_and_tls12_says_so() {
        let iv: [u8; 12] = std::array::from_fn(|i| 0x10 + i as u8);
        let b = crypto_info_bytes(&info(Cipher::Chacha20Poly1305 { key: [7; 32], iv }, false));
        // SAFETY: as above.
        let s: libc::tls12_crypto_info_chacha20_poly1305 =
            unsafe { std::ptr::read_unaligned(b.as_ptr().cast()) };
        assert_eq!(s.info.version, libc::TLS_1_2_VERSION);
        assert_eq!(s.info.cipher_type, libc::TLS_CIPHER_CHACHA20_POLY1305);
        assert_eq!(s.iv, iv);
        assert_eq!(s.key, [7; 32]);
    }

    #[test]
    fn ulp_on_a_socket_either_works_or_names_why() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        use std::os::fd::AsRawFd;
        match enable_ulp(client.as_raw_fd()) {
            Ok(()) => {}
            // No `tls` module: ENOENT, the case of machines without kTLS.
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}"),
        }
    }
}
