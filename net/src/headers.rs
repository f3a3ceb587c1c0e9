//! Security headers: fields added to every response the server writes, configurable, with
//! per-route overrides by path prefix.
//!
//! The fields are encoded once, when the configuration is built, into one byte block per
//! route prefix; a response appends its block to the head with one copy. A field the service
//! sets itself (say `/echo`'s `X-Content-Type-Options`) wins over the block's.

use std::fmt;

/// One route's overrides: requests whose path starts with `prefix` get these fields (a
/// `None` value removes the field). Text form (config): `PREFIX;Name=value;Name2=`, where an
/// empty value removes the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteHeaders {
    /// The path prefix, e.g. `/static/`.
    pub prefix: String,
    /// Fields to set (`Some`) or remove (`None`), in order.
    pub fields: Vec<(String, Option<String>)>,
}

impl RouteHeaders {
    /// Parses `PREFIX;Name=value;Name2=`.
    pub fn parse(text: &str) -> Result<RouteHeaders, String> {
        let mut parts = text.trim().split(';');
        let prefix = parts.next().unwrap_or_default().trim();
        if !prefix.starts_with('/') {
            return Err(format!(
                "{text:?}: a route starts with a path prefix such as /static/, then ;Name=value"
            ));
        }
        let mut fields = Vec::new();
        for part in parts {
            let Some((name, value)) = part.split_once('=') else {
                return Err(format!(
                    "{text:?}: {part:?} is not Name=value (Name= removes it)"
                ));
            };
            let (name, value) = (name.trim(), value.trim());
            check_field(name, value)?;
            fields.push((
                name.to_string(),
                (!value.is_empty()).then(|| value.to_string()),
            ));
        }
        if fields.is_empty() {
            return Err(format!("{text:?}: no Name=value after the prefix"));
        }
        Ok(RouteHeaders {
            prefix: prefix.to_string(),
            fields,
        })
    }
}

impl fmt::Display for RouteHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix)?;
        for (name, value) in &self.fields {
            write!(f, ";{name}={}", value.as_deref().unwrap_or(""))?;
        }
        Ok(())
    }
}

/// The security header fields of every response, with per-route overrides.
///
/// The default: `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
/// `X-Frame-Options: DENY` on every response, no routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityHeaders {
    defaults: Vec<(String, String)>,
    routes: Vec<RouteHeaders>,
    /// `(prefix, block)`, longest prefix first; the last is `""` (the defaults alone).
    blocks: Vec<(String, Block)>,
}

/// Encoded `Name: value\r\n` lines and where each name is, to skip a field the service sets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Block {
    bytes: Vec<u8>,
    /// `(start, name end, line end)` of each line in `bytes`.
    lines: Vec<(usize, usize, usize)>,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        let defaults = [
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
        ];
        let defaults = defaults.map(|(n, v)| (n.to_string(), v.to_string()));
        SecurityHeaders::new(defaults.to_vec(), Vec::new()).expect("valid defaults")
    }
}

/// Fields the server writes itself, refused in the configuration.
const RESERVED: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "date",
    "server",
    "x-request-id",
    "content-type",
];

fn check_field(name: &str, value: &str) -> Result<(), String> {
    let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("{name:?} is not a header field name"));
    }
    if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
        return Err(format!(
            "{name} is written by the server and cannot be configured"
        ));
    }
    if !value
        .bytes()
        .all(|c| c == b' ' || c == b'\t' || c.is_ascii_graphic())
    {
        return Err(format!("the value of {name} must be printable ASCII"));
    }
    Ok(())
}

impl SecurityHeaders {
    /// No security fields at all.
    pub fn none() -> Self {
        SecurityHeaders::new(Vec::new(), Vec::new()).expect("empty is valid")
    }

    /// `defaults` on every response, changed by every route whose prefix the path starts with
    /// (shorter prefixes first, so a longer one has the last word). Refuses a field name that is
    /// not a token, a field the server writes itself, or a value that is not printable ASCII.
    pub fn new(
        defaults: Vec<(String, String)>,
        routes: Vec<RouteHeaders>,
    ) -> Result<SecurityHeaders, String> {
        for (name, value) in &defaults {
            check_field(name, value)?;
        }
        for route in &routes {
            for (name, value) in &route.fields {
                check_field(name, value.as_deref().unwrap_or(""))?;
            }
        }
        let mut prefixes: Vec<&str> = routes.iter().map(|r| r.prefix.as_str()).collect();
        prefixes.push("");
        prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
        prefixes.dedup();
        let blocks = prefixes
            .iter()
            .map(|p| (p.to_string(), compile(&defaults, &routes, p)))
            .collect();
        Ok(SecurityHeaders {
            defaults,
            routes,
            blocks,
        })
    }

    /// The default fields.
    pub fn defaults(&self) -> &[(String, String)] {
        &self.defaults
    }

    /// The per-route overrides.
    pub fn routes(&self) -> &[RouteHeaders] {
        &self.routes
    }

    /// The block for a request to `path`: the longest matching route prefix's.
    pub(crate) fn for_path(&self, path: &str) -> &Block {
        let found = self
            .blocks
            .iter()
            .find(|(p, _)| path.starts_with(p.as_str()));
        &found.expect("the empty prefix matches every path").1
    }

    /// The fields a response to `path` gets, as `(name, value)` (for tests and docs).
    pub fn fields_for(&self, path: &str) -> Vec<(String, String)> {
        let block = self.for_path(path);
        block
            .lines
            .iter()
            .map(|&(start, name_end, end)| {
                let text = |r: std::ops::Range<usize>| {
                    String::from_utf8_lossy(&block.bytes[r]).into_owned()
                };
                (text(start..name_end), text(name_end + 2..end - 2))
            })
            .collect()
    }
}

/// The fields for `prefix`: the defaults, then each route that `prefix` starts with, shortest
/// first.
fn compile(defaults: &[(String, String)], routes: &[RouteHeaders], prefix: &str) -> Block {
    let mut fields: Vec<(String, String)> = defaults.to_vec();
    let mut matching: Vec<&RouteHeaders> = routes
        .iter()
        .filter(|r| prefix.starts_with(r.prefix.as_str()))
        .collect();
    matching.sort_by_key(|r| r.prefix.len());
    for route in matching {
        for (name, value) in &route.fields {
            fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            if let Some(v) = value {
                fields.push((name.clone(), v.clone()));
            }
        }
    }
    let mut block = Block::default();
    for (name, value) in fields {
        let start = block.bytes.len();
        block.bytes.extend_from_slice(name.as_bytes());
        let name_end = block.bytes.len();
        block.bytes.extend_from_slice(b": ");
        block.bytes.extend_from_slice(value.as_bytes());
        block.bytes.extend_from_slice(b"\r\n");
        block.lines.push((start, name_end, block.bytes.len()));
    }
    block
}

impl Block {
    /// Appends the block to a head `out` whose last bytes are its final CRLF, then the
    /// `X-Request-Id` field, then the final CRLF again. A field the service set itself (in
    /// `service`) is left out of the block.
    pub(crate) fn finish_head(&self, out: &mut Vec<u8>, service: &[(&str, &[u8])], id: &str) {
        self.finish_head_traced(out, service, (id, None));
    }

    /// [`Block::finish_head`], and a `traceparent` field (`ids.1`) unless the service set one.
    pub(crate) fn finish_head_traced(
        &self,
        out: &mut Vec<u8>,
        service: &[(&str, &[u8])],
        (id, traceparent): (&str, Option<&[u8]>),
    ) {
        debug_assert!(out.ends_with(b"\r\n\r\n"));
        out.truncate(out.len() - 2);
        let name_of = |&(start, name_end, _): &(usize, usize, usize)| &self.bytes[start..name_end];
        let clash = |n: &str| {
            self.lines
                .iter()
                .any(|l| n.as_bytes().eq_ignore_ascii_case(name_of(l)))
        };
        if service.iter().any(|(n, _)| clash(n)) {
            for line in &self.lines {
                let name = name_of(line);
                if !service
                    .iter()
                    .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
                {
                    out.extend_from_slice(&self.bytes[line.0..line.2]);
                }
            }
        } else {
            out.extend_from_slice(&self.bytes);
        }
        if !id.is_empty()
            && !service
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("x-request-id"))
        {
            out.extend_from_slice(b"X-Request-Id: ");
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(tp) = traceparent {
            if !service
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("traceparent"))
            {
                out.extend_from_slice(b"traceparent: ");
                out.extend_from_slice(tp);
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_nosniff_no_referrer_deny() {
        let h = SecurityHeaders::default();
        assert_eq!(
            h.fields_for("/anything"),
            pairs(&[
                ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"),
                ("X-Frame-Options", "DENY"),
            ])
        );
        assert!(SecurityHeaders::none().fields_for("/").is_empty());
    }

    #[test]
    fn routes_override_and_remove_longest_prefix_last() {
        let routes = vec![
            RouteHeaders::parse("/static/;Content-Security-Policy=default-src 'self'").unwrap(),
            RouteHeaders::parse("/static/embed/;X-Frame-Options=;Referrer-Policy=same-origin")
                .unwrap(),
        ];
        let h =
            SecurityHeaders::new(SecurityHeaders::default().defaults().to_vec(), routes).unwrap();
        assert_eq!(h.fields_for("/plaintext").len(), 3);
        let s = h.fields_for("/static/a.html");
        assert!(s.contains(&(
            "Content-Security-Policy".into(),
            "default-src 'self'".into()
        )));
        assert_eq!(s.len(), 4);
        let e = h.fields_for("/static/embed/x");
        assert!(e.contains(&(
            "Content-Security-Policy".into(),
            "default-src 'self'".into()
        )));
        assert!(e.contains(&("Referrer-Policy".into(), "same-origin".into())));
        assert!(!e.iter().any(|(n, _)| n == "X-Frame-Options"));
    }

    #[test]
    fn route_text_round_trips_and_bad_text_is_refused() {
        let text = "/kv/;X-Frame-Options=;Cache-Control=no-store";
        assert_eq!(RouteHeaders::parse(text).unwrap().to_string(), text);
        for bad in [
            "kv;A=b",
            "/kv/",
            "/kv/;A",
            "/kv/;Bad Name=x",
            "/kv/;Server=x",
            "/kv/;A=\u{1}",
        ] {
            assert!(RouteHeaders::parse(bad).is_err(), "{bad}");
        }
        let bad = pairs(&[("Content-Length", "1")]);
        assert!(SecurityHeaders::new(bad, Vec::new()).is_err());
    }

    #[test]
    fn the_block_goes_before_the_final_crlf_and_yields_to_the_service() {
        let h = SecurityHeaders::default();
        let mut out = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n".to_vec();
        h.for_path("/").finish_head(&mut out, &[("A", b"b")], "id1");
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with("X-Frame-Options: DENY\r\nX-Request-Id: id1\r\n\r\n"),
            "{text}"
        );
        let mut out = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        let service: &[(&str, &[u8])] = &[
            ("x-content-type-options", b"nosniff"),
            ("X-Request-Id", b"mine"),
        ];
        h.for_path("/").finish_head(&mut out, service, "id1");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nReferrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n\r\n"
        );
    }
}
