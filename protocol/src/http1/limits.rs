//! Size limits applied while parsing, each with the status code its violation maps to.

/// The most header fields one request may carry, whatever [`Limits::max_headers`] says.
///
/// The parser tokenizes into an uninitialised array of this many slots on the stack (8 KiB),
/// which costs nothing to set up and keeps the common path free of heap allocation.
pub const MAX_HEADERS_CAP: usize = 256;

/// Limits on what a client may send. Every field has a default suited to a public server.
///
/// A violation is reported as soon as the bytes seen so far prove it, even when the message is
/// still incomplete, so a slow client cannot make the caller's buffer grow without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line, without its CRLF. Exceeding it gives 414 URI Too Long.
    pub max_request_line: usize,
    /// Longest request head: request line, header fields and the empty line (and any empty
    /// lines before the request line). Exceeding it gives 431.
    pub max_head: usize,
    /// Most header fields in one head, and most trailer fields after a chunked body.
    /// Exceeding it gives 431. Values above [`MAX_HEADERS_CAP`] act as that cap.
    pub max_headers: usize,
    /// Largest request body. A larger Content-Length gives 413 before any body byte is read;
    /// a chunked body gives 413 as soon as the announced chunk sizes add up past it.
    pub max_body: u64,
    /// Largest trailer section after a chunked body, CRLFs included. Exceeding it gives 431.
    pub max_trailer: usize,
    /// Longest chunk-size line (size and extensions, without CRLF). Exceeding it gives 400:
    /// extensions carry nothing this server uses, so a long one is only a way to waste work.
    pub max_chunk_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_head: 16 * 1024,
            max_headers: 100,
            max_body: 1024 * 1024,
            max_trailer: 4 * 1024,
            max_chunk_line: 1024,
        }
    }
}

impl Limits {
    /// The limits the parser actually enforces: header count capped at [`MAX_HEADERS_CAP`],
    /// head size at `u32::MAX` (field offsets are stored as `u32`), and the request line at
    /// the head size (a line cannot be longer than the head that contains it).
    pub fn effective(&self) -> Limits {
        let max_head = self.max_head.min(u32::MAX as usize);
        Limits {
            max_head,
            max_request_line: self.max_request_line.min(max_head),
            max_headers: self.max_headers.min(MAX_HEADERS_CAP),
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_caps_headers_and_line() {
        let l = Limits {
            max_headers: 10_000,
            max_request_line: 100,
            max_head: 50,
            ..Limits::default()
        }
        .effective();
        assert_eq!(l.max_headers, MAX_HEADERS_CAP);
        assert_eq!(l.max_request_line, 50);
        assert_eq!(Limits::default().effective(), Limits::default());
    }
}
