//! Server-Sent Events framing for `GET /channels/{name}/events` (`docs/HTTP.md`, "Channels"):
//! pure functions that append one field group to a buffer, and the `Last-Event-ID` parser. No
//! I/O here; the handler writes what these produce.
//!
//! How a browser reads it back is the HTML standard's event-stream interpretation
//! (<https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>):
//! lines end at CRLF, LF or a lone CR, `data:` lines are joined with LF, and one space after
//! the colon is dropped. So a UTF-8 payload comes back exactly as published when its only line
//! breaks are LF; a lone CR or a CRLF in it comes back as an LF (the stream format has no way to
//! carry them). A payload that is not UTF-8 is sent as `event: binary` with its standard
//! base64 (with padding) as the data, and comes back byte for byte after decoding.

use base64::Engine as _;

/// The event type a non-UTF-8 payload is sent under; its data is standard base64.
pub const BINARY: &str = "binary";

/// Appends one message event: `id: <id>` (durable channels only), then one `data:` line per
/// line of `data` (or `event: binary` and one `data:` line of base64 when `data` is not UTF-8),
/// then the blank line that dispatches it.
pub fn event(out: &mut Vec<u8>, id: Option<u64>, data: &[u8]) {
    if let Some(id) = id {
        out.extend_from_slice(b"id: ");
        push_u64(out, id);
        out.push(b'\n');
    }
    if std::str::from_utf8(data).is_ok() {
        data_lines(out, data);
    } else {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(BINARY.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        let engine = base64::engine::general_purpose::STANDARD;
        let start = out.len();
        let len = base64::encoded_len(data.len(), true).expect("a payload in memory fits");
        out.resize(start + len, 0);
        let written = engine
            .encode_slice(data, &mut out[start..])
            .expect("the buffer has encoded_len bytes");
        debug_assert_eq!(written, len);
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Appends an event of type `event` (`gap`, `slow`) carrying `data` (one `data:` line per
/// line). `event` must be a non-empty name without line breaks or a colon.
pub fn named(out: &mut Vec<u8>, event: &str, data: &str) {
    debug_assert!(
        !event.is_empty() && !event.contains(['\r', '\n', ':']),
        "bad event name {event:?}"
    );
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.push(b'\n');
    data_lines(out, data.as_bytes());
    out.push(b'\n');
}

/// Appends the heartbeat: a comment, which `EventSource` ignores but which keeps proxies and
/// load balancers from closing an idle connection.
pub fn heartbeat(out: &mut Vec<u8>) {
    out.extend_from_slice(b": hb\n\n");
}

/// Appends `retry: <ms>`: how long a browser waits before it reconnects.
pub fn retry(out: &mut Vec<u8>, ms: u64) {
    out.extend_from_slice(b"retry: ");
    push_u64(out, ms);
    out.extend_from_slice(b"\n\n");
}

/// The sequence number in a `Last-Event-ID` header: ASCII digits only (surrounding spaces and
/// tabs allowed), at most `u64::MAX`. Anything else is `None`, and the request is served as if
/// the header were absent.
pub fn last_event_id(header: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(header).ok()?;
    let digits = text.trim_matches([' ', '\t']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One `data: <line>\n` per line of `text`, splitting where the HTML parser splits: at CRLF,
/// LF or a lone CR. An empty text (or a trailing line break) gives an empty last line, so the
/// browser's joined data ends exactly where the payload does.
fn data_lines(out: &mut Vec<u8>, text: &[u8]) {
    let mut rest = text;
    loop {
        out.extend_from_slice(b"data: ");
        match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            None => {
                out.extend_from_slice(rest);
                out.push(b'\n');
                return;
            }
            Some(i) => {
                out.extend_from_slice(&rest[..i]);
                out.push(b'\n');
                let crlf = rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n');
                rest = &rest[i + 1 + usize::from(crlf)..];
            }
        }
    }
}

fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests;
