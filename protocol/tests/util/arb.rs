//! proptest strategies for valid requests, and their encoding.

use proptest::collection::vec;
use proptest::prelude::*;

/// A request as a client would build it; `encode` gives its wire form.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub http10: bool,
    pub host: Option<String>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub connection: Option<&'static str>,
    pub body: Vec<u8>,
    /// Chunk sizes (summing to the body length) when sent chunked, with an extension flag.
    pub chunks: Option<(Vec<usize>, bool)>,
}

const RESERVED: [&str; 6] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "expect",
    "upgrade",
];

impl Req {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{} {}", self.method, self.path).into_bytes();
        if let Some(q) = &self.query {
            out.extend_from_slice(format!("?{q}").as_bytes());
        }
        out.extend_from_slice(if self.http10 {
            b" HTTP/1.0\r\n"
        } else {
            b" HTTP/1.1\r\n"
        });
        for (name, value) in self.all_headers() {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        match &self.chunks {
            None => out.extend_from_slice(&self.body),
            Some((sizes, ext)) => {
                let mut at = 0;
                for &n in sizes {
                    let e = if *ext { ";ext=\"v\"" } else { "" };
                    out.extend_from_slice(format!("{n:X}{e}\r\n").as_bytes());
                    out.extend_from_slice(&self.body[at..at + n]);
                    out.extend_from_slice(b"\r\n");
                    at += n;
                }
                out.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
            }
        }
        out
    }

    /// The header fields in wire order, as the parser should report them.
    pub fn all_headers(&self) -> Vec<(String, Vec<u8>)> {
        let mut h = Vec::new();
        if let Some(host) = &self.host {
            h.push(("Host".to_owned(), host.clone().into_bytes()));
        }
        h.extend(self.headers.iter().cloned());
        if self.chunks.is_some() {
            h.push(("Transfer-Encoding".to_owned(), b"chunked".to_vec()));
        } else if !self.body.is_empty() {
            h.push((
                "Content-Length".to_owned(),
                self.body.len().to_string().into_bytes(),
            ));
        }
        if let Some(c) = self.connection {
            h.push(("Connection".to_owned(), c.as_bytes().to_vec()));
        }
        h
    }

    pub fn keep_alive(&self) -> bool {
        match (self.http10, self.connection) {
            (_, Some("close")) => false,
            (true, c) => c == Some("keep-alive"),
            (false, _) => true,
        }
    }
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PUT".to_owned()),
        Just("DELETE".to_owned()),
        Just("PATCH".to_owned()),
        "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,10}",
    ]
    .prop_filter("asterisk/authority forms need their methods", |m| {
        m != "CONNECT" && m != "OPTIONS"
    })
}

fn field_value() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![8 => 0x21u8..=0x7e, 1 => 0x80u8..=0xff, 1 => Just(b' '), 1 => Just(b'\t')],
        0..24,
    )
    .prop_map(|v| {
        let ws = |b: &u8| *b == b' ' || *b == b'\t';
        let start = v.iter().position(|b| !ws(b)).unwrap_or(v.len());
        let end = v.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
        v[start..end].to_vec()
    })
}

fn header() -> impl Strategy<Value = (String, Vec<u8>)> {
    ("[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", field_value()).prop_filter("reserved", |(n, _)| {
        !RESERVED.iter().any(|r| n.eq_ignore_ascii_case(r))
    })
}

pub fn request() -> impl Strategy<Value = Req> {
    (
        method(),
        "(/([a-zA-Z0-9._~!$&'()*+,;=:@-]|%[0-9a-fA-F]{2}){0,6}){1,4}",
        proptest::option::of("[!\"$-~]{0,16}"),
        any::<bool>(),
        proptest::option::of("[a-z0-9.-]{0,12}(:[0-9]{1,4})?"),
        vec(header(), 0..8),
        proptest::option::of(prop_oneof![Just("close"), Just("keep-alive")]),
        vec(any::<u8>(), 0..80),
        proptest::option::of((vec(1usize..20, 0..8), any::<bool>())),
    )
        .prop_map(
            |(method, path, query, http10, host, headers, connection, body, chunks)| {
                let host = if http10 {
                    host
                } else {
                    Some(host.unwrap_or_default())
                };
                let (body, chunks) = match chunks {
                    Some((sizes, ext)) if !http10 => {
                        let total: usize = sizes.iter().sum();
                        let body: Vec<u8> = body.iter().cycle().take(total).copied().collect();
                        let sizes = if body.len() == total {
                            sizes
                        } else {
                            vec![body.len()]
                        };
                        let sizes = sizes.into_iter().filter(|&n| n > 0).collect();
                        (body, Some((sizes, ext)))
                    }
                    _ => (body, None),
                };
                Req {
                    method,
                    path,
                    query,
                    http10,
                    host,
                    headers,
                    connection,
                    body,
                    chunks,
                }
            },
        )
}
