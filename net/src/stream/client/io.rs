//! The socket side: the HTTP/1.1 upgrade, and the two background tasks. The reader owns
//! receiving (whole frames out of partial reads) and dispatches events; the writer flushes
//! whatever frames accumulated in the shared output buffer with one `write_all` at a time.

use super::error::ClientError;
use super::link::Link;
use super::state::State;
use crate::stream::UPGRADE_TOKEN;
use bytes::{Buf, Bytes, BytesMut};
use std::{cell::RefCell, future::poll_fn, io, net::SocketAddr, rc::Rc, task::Poll};

/// The longest 101 response head this client reads before giving up on the server.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

fn refused(message: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionRefused,
        ClientError::new(None, message),
    )
}

/// Asks the HTTP/1.1 server at the other end of `sock` to switch to the stream protocol.
/// Returns any bytes that followed the 101 response head (stream protocol already).
pub(crate) async fn upgrade(sock: &Link, addr: SocketAddr) -> io::Result<BytesMut> {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: upgrade\r\nUpgrade: {UPGRADE_TOKEN}\r\n\r\n"
    );
    sock.write_all(request.into_bytes()).await.0?;
    let mut head = BytesMut::new();
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > MAX_RESPONSE_HEAD {
            return Err(refused(format!(
                "the server at {addr} sent a response head over {MAX_RESPONSE_HEAD} bytes \
                 instead of 101 Switching Protocols"
            )));
        }
        if !sock.read(&mut head).await? {
            let hint = if looks_like_tls(&head) {
                " with a TLS alert: it speaks TLS on that port (connect with TLS, --tls)"
            } else {
                ""
            };
            return Err(refused(format!(
                "the server at {addr} closed the connection instead of answering the \
                 upgrade{hint}"
            )));
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    check_101(&text).map_err(|why| refused(format!("the server at {addr} {why}")))?;
    head.advance(end);
    Ok(head)
}

/// Checks a response head for `101` with our `Upgrade` token; the error says what came
/// instead.
fn check_101(head: &str) -> Result<(), String> {
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let mut parts = status.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!(
            "did not answer in HTTP/1.1 (got {:?}); is it an HTTP port?",
            truncate(status)
        ));
    }
    if code != "101" {
        return Err(format!(
            "refused the upgrade to {UPGRADE_TOKEN}: \"{}\" (is the stream protocol enabled \
             on that server?)",
            truncate(status)
        ));
    }
    let upgrade = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("upgrade"))
        .map(|(_, value)| value.trim());
    match upgrade {
        Some(v) if v.eq_ignore_ascii_case(UPGRADE_TOKEN) => Ok(()),
        other => Err(format!(
            "answered 101 but upgraded to {:?}, not {UPGRADE_TOKEN}",
            other.unwrap_or("nothing")
        )),
    }
}

/// Whether `bytes` start like a TLS record (an alert or a handshake message), as a TLS
/// server's answer to plaintext does.
pub(crate) fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, ..])
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The reader task: receives, decodes whole frames, keeps the partial tail for the next
/// receive, and stops at end of stream, on a socket error, or when the connection is over.
pub(crate) async fn read_loop(state: Rc<RefCell<State>>, sock: Rc<Link>, mut rx: BytesMut) {
    let mut first = !rx.is_empty();
    loop {
        if !first {
            match sock.read(&mut rx).await {
                Ok(true) => {}
                Ok(false) => return state.borrow_mut().on_eof(&rx),
                Err(e) => return state.borrow_mut().on_io_error(&e),
            }
        }
        first = false;
        let chunk = rx.split().freeze();
        let used = state.borrow_mut().on_input(&chunk);
        if state.borrow().dead.is_some() {
            return;
        }
        rx = keep_tail(chunk, used);
    }
}

/// The unread tail of `chunk` as the next receive buffer: the same allocation when no
/// payload slice still points into it, otherwise a copy of the (partial-frame) tail.
fn keep_tail(chunk: Bytes, used: usize) -> BytesMut {
    match chunk.try_into_mut() {
        Ok(mut all) => {
            all.advance(used);
            all
        }
        Err(chunk) => BytesMut::from(&chunk[used..]),
    }
}

/// How long the writer may take to send TLS's last words when the connection ends.
const LAST_WORDS: std::time::Duration = std::time::Duration::from_secs(1);

/// What the writer does next.
enum Next {
    /// Frames to write.
    Batch(Vec<u8>),
    /// TLS records of the link's own (produced while reading) to write.
    Control,
    /// The connection is over, or every handle is gone and all is flushed.
    Stop,
}

/// The writer task: flushes batches until the connection is over or every handle is gone;
/// on a deliberate close, ends the link (TLS close_notify) after the last batch.
pub(crate) async fn write_loop(state: Rc<RefCell<State>>, sock: Rc<Link>) {
    loop {
        let next = poll_fn(|cx| match state.borrow_mut().poll_output(cx) {
            Poll::Ready(Some(batch)) => Poll::Ready(Next::Batch(batch)),
            Poll::Ready(None) => Poll::Ready(Next::Stop),
            Poll::Pending => sock.poll_control(cx).map(|()| Next::Control),
        })
        .await;
        let (res, batch) = match next {
            Next::Batch(batch) => sock.write_all(batch).await,
            Next::Control => (sock.flush().await, Vec::new()),
            Next::Stop => {
                if matches!(*sock, Link::Tls(..)) {
                    // Best effort, bounded: the server learns why the connection ends. A
                    // deliberate end says close_notify; a failed one sends what rustls
                    // queued when the reader failed (the alert after a bad record).
                    let last_words = async {
                        if state.borrow().ended_by_client() {
                            let _ = sock.shutdown().await;
                        } else {
                            let _ = sock.flush().await;
                        }
                    };
                    let _ = ringwire_reactor::time::timeout(LAST_WORDS, last_words).await;
                }
                return;
            }
        };
        let mut st = state.borrow_mut();
        if let Err(e) = res {
            st.on_io_error(&e);
            return;
        }
        st.recycle(batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_answers_are_checked() {
        let ok = "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\
                  UPGRADE:  ringwire-stream/1 \r\n\r\n";
        assert_eq!(check_101(ok), Ok(()));
        let e = check_101("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").unwrap_err();
        assert!(e.contains("404 Not Found") && e.contains("refused"), "{e}");
        let e = check_101("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n").unwrap_err();
        assert!(e.contains("h2c"), "{e}");
        let e = check_101("\x01\x00garbage\r\n\r\n").unwrap_err();
        assert!(e.contains("HTTP/1.1"), "{e}");
    }

    #[test]
    fn the_tail_keeps_its_buffer_unless_a_payload_holds_it() {
        let tail = keep_tail(Bytes::from(b"0123456789".to_vec()), 7);
        assert_eq!(&tail[..], b"789");
        let chunk = Bytes::from(b"0123456789".to_vec());
        let held = chunk.slice(0..2);
        let tail = keep_tail(chunk, 4);
        assert_eq!(&tail[..], b"456789");
        assert_eq!(&held[..], b"01");
    }
}
