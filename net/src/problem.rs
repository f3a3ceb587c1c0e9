//! Structured error answers (`docs/ERRORS.md`): a stable code, a message a user can act on,
//! and the request id, as JSON or as one line of text depending on the request's `Accept`.
//!
//! Internal details (a service's error text, I/O errors, paths) never go into an answer: the
//! caller logs them with the request id ([`Responder::request_id`]) and answers with a code.

use crate::{Error, Request, Responder, headers::Block};
use ringwire_protocol::http1::{self, HTTP_DATE_LEN, Reply, Response, ResponseBody, Version};

/// Whether an `Accept` field asks for a JSON error body.
///
/// JSON when one of the listed media ranges is `application/json` or
/// `application/problem+json` (case-insensitive, parameters ignored) with a q-value that is not
/// zero. Everything else is text: no `Accept`, `*/*`, `application/*`, `text/html`, ... (q-values
/// are not otherwise compared: listing JSON at all is enough).
pub fn wants_json(accept: Option<&[u8]>) -> bool {
    let Some(accept) = accept.and_then(|a| std::str::from_utf8(a).ok()) else {
        return false;
    };
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        let json = media.eq_ignore_ascii_case("application/json")
            || media.eq_ignore_ascii_case("application/problem+json");
        let refused = parts.any(|p| {
            p.trim()
                .split_once('=')
                .is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case("q") && zero_q(v.trim()))
        });
        json && !refused
    })
}

fn zero_q(v: &str) -> bool {
    v.parse::<f64>().is_ok_and(|q| q <= 0.0)
}

/// Answers `status` with the error `code` and `message` (see `docs/ERRORS.md`), as JSON or
/// text according to the request's `Accept` ([`wants_json`]), with the request id, plus
/// `headers` (e.g. `Retry-After`, `WWW-Authenticate`, `Allow`). The message must not carry
/// internal details: log those with [`Responder::request_id`] instead.
///
/// JSON: `{"error":{"code":..,"message":..,"request_id":..}}` with `Content-Type:
/// application/json`. Text: `<code>: <message> (request <id>)\n` with `Content-Type:
/// text/plain; charset=utf-8`.
pub fn send_error(
    req: &Request<'_>,
    res: &mut Responder<'_>,
    status: u16,
    code: &str,
    message: &str,
    headers: &[(&str, &[u8])],
) -> Result<(), Error> {
    write_error(
        wants_json(req.header("accept")),
        res,
        status,
        code,
        message,
        headers,
    )
}

/// `405` with code `http.method_not_allowed` and the route's methods in `Allow`.
pub fn method_not_allowed(
    req: &Request<'_>,
    res: &mut Responder<'_>,
    allow: &[u8],
) -> Result<(), Error> {
    let message = "this route does not take that method; see the Allow header";
    send_error(
        req,
        res,
        405,
        "http.method_not_allowed",
        message,
        &[("Allow", allow)],
    )
}

/// [`send_error`] for a caller that decided JSON or text itself.
pub fn write_error(
    json: bool,
    res: &mut Responder<'_>,
    status: u16,
    code: &str,
    message: &str,
    headers: &[(&str, &[u8])],
) -> Result<(), Error> {
    let (content_type, body) = error_body(json, code, message, res.request_id());
    let mut all: Vec<(&str, &[u8])> = Vec::with_capacity(headers.len() + 1);
    all.push(("Content-Type", content_type.as_bytes()));
    all.extend(
        headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("content-type")),
    );
    res.send(status, &all, body.as_bytes())
}

/// The content type and body of an error answer.
pub fn error_body(json: bool, code: &str, message: &str, id: &str) -> (&'static str, String) {
    if json {
        let body = serde_json::json!({
            "error": { "code": code, "message": message, "request_id": id }
        });
        ("application/json", body.to_string())
    } else {
        (
            "text/plain; charset=utf-8",
            format!("{code}: {message} (request {id})\n"),
        )
    }
}

/// The stable code of a rejected request, by the status the HTTP codec gives it.
pub fn http_code(status: u16) -> &'static str {
    match status {
        408 => "http.request_timeout",
        413 => "http.body_too_large",
        414 => "http.uri_too_long",
        431 => "http.header_too_large",
        501 => "http.not_implemented",
        505 => "http.version_not_supported",
        500 => "server.internal",
        _ => "http.bad_request",
    }
}

/// Appends a complete connection-level error answer (a head the codec refused, a head
/// timeout): text only, as there is no usable `Accept`, then `Connection: close`.
pub(crate) fn encode_connection_error(
    out: &mut Vec<u8>,
    status: u16,
    message: &str,
    date: &[u8; HTTP_DATE_LEN],
    server: Option<&str>,
    block: &Block,
    id: &str,
) {
    let (content_type, body) = error_body(false, http_code(status), message, id);
    let headers: &[(&str, &[u8])] = &[("Content-Type", content_type.as_bytes())];
    let response = Response {
        status,
        reason: None,
        body: ResponseBody::Length(body.len() as u64),
        headers,
        date,
        server,
    };
    let reply = Reply {
        version: Version::Http11,
        keep_alive: false,
        head_request: false,
    };
    if response.encode(reply, out).is_ok() {
        block.finish_head(out, headers, id);
        out.extend_from_slice(body.as_bytes());
    } else {
        // Only a bad server name can make the encoder refuse: the codec's own answer.
        http1::encode_error(out, &http1::Error::InvalidResponse, date, None);
    }
}

/// A request's id: the client's `X-Request-Id` if usable
/// ([`crate::access::client_request_id`]), else one the server made (32 hex digits, no
/// allocation).
#[derive(Debug, Clone, Copy)]
pub(crate) enum RequestId<'a> {
    Client(&'a str),
    Own([u8; 32]),
}

impl<'a> RequestId<'a> {
    /// A server-made id from its three parts: 48 bits of the process nonce, the core, and the
    /// core's request counter.
    pub(crate) fn own(nonce: u64, core: usize, n: u64) -> RequestId<'static> {
        let mut buf = [0u8; 32];
        let hex = |out: &mut [u8], mut v: u64| {
            for b in out.iter_mut().rev() {
                *b = b"0123456789abcdef"[(v & 0xf) as usize];
                v >>= 4;
            }
        };
        hex(&mut buf[..12], nonce & 0xffff_ffff_ffff);
        hex(&mut buf[12..16], core as u64 & 0xffff);
        hex(&mut buf[16..], n);
        RequestId::Own(buf)
    }

    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            RequestId::Client(s) => s,
            RequestId::Own(b) => std::str::from_utf8(b).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::SecurityHeaders;

    #[test]
    fn accept_decides_json_or_text() {
        let json = |a: &str| wants_json(Some(a.as_bytes()));
        assert!(json("application/json"));
        assert!(json("Application/JSON; charset=utf-8"));
        assert!(json("text/html, application/problem+json;q=0.5"));
        assert!(json("*/*, application/json"));
        assert!(!json("application/json;q=0"));
        assert!(!json("application/json; q=0.0, text/plain"));
        assert!(!json("*/*"));
        assert!(!json("application/*"));
        assert!(!json("text/html"));
        assert!(!json("application/jsonx"));
        assert!(!json(""));
        assert!(!wants_json(None));
    }

    #[test]
    fn bodies_have_code_message_and_id() {
        let (ct, body) = error_body(true, "kv.not_found", "no \"such\" key", "abc");
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "kv.not_found");
        assert_eq!(v["error"]["message"], "no \"such\" key");
        assert_eq!(v["error"]["request_id"], "abc");
        let (ct, body) = error_body(false, "kv.not_found", "no such key", "abc");
        assert_eq!(ct, "text/plain; charset=utf-8");
        assert_eq!(body, "kv.not_found: no such key (request abc)\n");
    }

    #[test]
    fn codec_statuses_have_codes() {
        assert_eq!(http_code(400), "http.bad_request");
        assert_eq!(http_code(431), "http.header_too_large");
        assert_eq!(http_code(414), "http.uri_too_long");
        assert_eq!(http_code(413), "http.body_too_large");
        assert_eq!(http_code(408), "http.request_timeout");
    }

    #[test]
    fn connection_errors_are_complete_text_answers() {
        let mut out = Vec::new();
        let h = SecurityHeaders::default();
        let date = http1::http_date(0);
        let block = h.for_path("");
        encode_connection_error(&mut out, 431, "too big", &date, Some("rw"), block, "r1");
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
        assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
        assert!(text.contains("\r\nX-Request-Id: r1\r\n"), "{text}");
        assert!(
            text.contains("\r\nX-Content-Type-Options: nosniff\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\nhttp.header_too_large: too big (request r1)\n"));
    }

    #[test]
    fn own_ids_are_32_hex_digits() {
        let id = RequestId::own(0xabc, 3, 0x10);
        assert_eq!(id.as_str(), "000000000abc00030000000000000010");
    }
}
