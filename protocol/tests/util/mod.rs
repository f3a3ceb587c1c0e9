//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use ringwire_protocol::http1::{
    BodyDecoder, Error, Event, Framing, Limits, Parser, Status, Target, Version,
};

/// An owned copy of what a parsed head exposes, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub len: usize,
    pub method: String,
    pub target: String,
    pub path: String,
    pub query: Option<String>,
    pub version: Version,
    pub host: Option<String>,
    pub framing: Framing,
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub upgrade: Option<String>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub asterisk: bool,
    pub authority_form: bool,
}

pub fn parse_with(limits: Limits, input: &[u8]) -> Result<Option<Head>, Error> {
    let mut parser = Parser::new(limits);
    let head = match parser.parse(input)? {
        Status::Partial => return Ok(None),
        Status::Complete(h) => h,
    };
    Ok(Some(Head {
        len: head.len(),
        method: head.method().as_str().to_owned(),
        target: head.raw_target().to_owned(),
        path: head.path().to_owned(),
        query: head.query().map(str::to_owned),
        version: head.version(),
        host: head.host().map(str::to_owned),
        framing: head.framing(),
        keep_alive: head.keep_alive(),
        expect_continue: head.expect_continue(),
        upgrade: head.upgrade().map(str::to_owned),
        headers: head
            .headers()
            .map(|f| (f.name.to_owned(), f.value.to_vec()))
            .collect(),
        asterisk: head.target() == Target::Asterisk,
        authority_form: matches!(head.target(), Target::Authority(_)),
    }))
}

/// Parses a complete head with default limits; panics on Partial.
pub fn parse(input: &str) -> Result<Head, Error> {
    parse_with(Limits::default(), input.as_bytes())
        .map(|h| h.unwrap_or_else(|| panic!("Partial for {input:?}")))
}

/// The error a complete input must produce.
pub fn err(input: &str) -> Error {
    match parse(input) {
        Ok(h) => panic!("accepted {input:?}: {h:?}"),
        Err(e) => e,
    }
}

/// A minimal valid HTTP/1.1 head with `extra` header lines (each ending in CRLF).
pub fn req(extra: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: example.com\r\n{extra}\r\n")
}

/// Decodes a whole body given at once: the data and the bytes consumed up to `End`.
pub fn decode(framing: Framing, limits: &Limits, input: &[u8]) -> Result<(Vec<u8>, usize), Error> {
    let mut dec = BodyDecoder::new(framing, limits);
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let (n, ev) = dec.decode(&input[pos..])?;
        pos += n;
        match ev {
            Event::Data(d) => body.extend_from_slice(d),
            Event::End => return Ok((body, pos)),
            Event::NeedMore => panic!("NeedMore at {pos} of {}", input.len()),
        }
    }
}

pub fn chunked(input: &str) -> Result<Vec<u8>, Error> {
    decode(Framing::Chunked, &Limits::default(), input.as_bytes()).map(|(b, _)| b)
}

pub mod arb;
