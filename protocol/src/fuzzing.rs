//! Fuzz entry points with their invariants, shared by `fuzz/` (cargo-fuzz, nightly) and
//! `tests/fuzz_corpus.rs` (every checked-in seed, on stable). Each function panics when an
//! invariant breaks; rejecting the input is never a failure.
//!
//! Not a stable API: it exists so the fuzzers and the corpus test run the very same code.

pub mod channels;
pub mod fields;
pub mod kv;
pub mod stream;

pub use channels::channels_request;
pub use fields::{http1_range, http1_static_path, http1_traceparent};
pub use kv::kv_request;
pub use stream::{stream_conn, stream_frame};

use crate::http1::{
    BodyDecoder, CHUNK_END, ChunkHeader, Error, Event, Framing, LAST_CHUNK, Limits, Parser,
    RequestHead, Status, encode_error, http_date,
};

/// The checked-in seeds of fuzz target `target` (`fuzz/corpus/<target>/`, sorted by name).
/// Panics if the directory is missing.
pub fn seeds(target: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f, data)
        })
        .collect()
}

/// Runs every seed of `target` (at least 10) through `check`, as the stable seed tests of
/// every crate do; panics naming the seed that broke an invariant. Returns the seeds.
pub fn run_corpus(target: &str, check: fn(&[u8])) -> Vec<Vec<u8>> {
    let seeds = seeds(target);
    assert!(seeds.len() >= 10, "{target}: only {} seeds", seeds.len());
    seeds
        .into_iter()
        .map(|(file, data)| {
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(result.is_ok(), "{target} failed on seed {}", file.display());
            data
        })
        .collect()
}

/// The limits every target runs under: the defaults, and tight ones so the limit paths
/// (414, 431, 413, trailer and chunk-line limits) are reached by small inputs.
pub fn limit_sets() -> [Limits; 2] {
    [
        Limits::default(),
        Limits {
            max_request_line: 40,
            max_head: 160,
            max_headers: 4,
            max_body: 64,
            max_trailer: 24,
            max_chunk_line: 12,
        },
    ]
}

/// An owned picture of a parse result, to compare results from different feedings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadOutcome {
    /// More bytes needed.
    Partial,
    /// A head of this many bytes, described.
    Complete(usize, String),
    /// Rejected.
    Error(Error),
}

/// Parses `buf` once and describes the result, checking that every view lies inside `buf`.
pub fn parse_once(parser: &mut Parser, buf: &[u8]) -> HeadOutcome {
    let limits = *parser.limits();
    match parser.parse(buf) {
        Ok(Status::Partial) => HeadOutcome::Partial,
        Ok(Status::Complete(head)) => {
            assert!(head.len() <= buf.len() && head.len() <= limits.max_head);
            assert!(head.header_count() <= limits.max_headers);
            if let Framing::Length(n) = head.framing() {
                assert!(n <= limits.max_body);
            }
            let inside = |s: &[u8]| {
                let (a, b) = (buf.as_ptr() as usize, s.as_ptr() as usize);
                b >= a && b + s.len() <= a + head.len()
            };
            assert!(inside(head.raw_target().as_bytes()));
            let path = head.path();
            assert!(inside(path.as_bytes()) || matches!(path, "/" | "*" | ""));
            assert!(head.query().is_none_or(|q| inside(q.as_bytes())));
            for f in head.headers() {
                assert!(inside(f.name.as_bytes()) && inside(f.value));
            }
            HeadOutcome::Complete(head.len(), describe(&head))
        }
        Err(e) => {
            let mut out = Vec::new();
            let keep = encode_error(&mut out, &e, &http_date(0), Some("ringwire"));
            assert!(out.starts_with(b"HTTP/1.1 ") && keep != e.must_close());
            HeadOutcome::Error(e)
        }
    }
}

/// A textual description of everything the head exposes.
pub fn describe(head: &RequestHead<'_>) -> String {
    let mut s = format!(
        "{} {:?} {:?} host={:?} framing={:?} ka={} expect={} upgrade={:?}",
        head.method().as_str(),
        head.target(),
        head.version(),
        head.host(),
        head.framing(),
        head.keep_alive(),
        head.expect_continue(),
        head.upgrade(),
    );
    for f in head.headers() {
        s.push_str(&format!("\n{}: {}", f.name, f.value.escape_ascii()));
    }
    s
}

/// Split points to test for an input of `len` bytes: all of them for short inputs, an
/// evenly spread and a pseudo-random handful otherwise (fuzzing speed matters too).
pub fn split_points(data: &[u8]) -> Vec<usize> {
    let len = data.len();
    if len <= 64 {
        return (0..=len).collect();
    }
    let mut points: Vec<usize> = (0..=16).map(|i| i * len / 16).collect();
    let mut x = seed(data);
    for _ in 0..16 {
        x = xorshift(x);
        points.push((x % (len as u64 + 1)) as usize);
    }
    points
}

fn seed(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) | 1
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// Target `http1_head`: the head parser never panics, keeps its views inside the input,
/// gives the same verdict however the bytes are split, and accepts its own re-encoding.
pub fn http1_head(data: &[u8]) {
    for limits in limit_sets() {
        let mut parser = Parser::new(limits);
        let full = parse_once(&mut parser, data);
        for p in split_points(data) {
            let prefix = parse_once(&mut parser, &data[..p]);
            match (&full, &prefix) {
                (_, HeadOutcome::Partial) => {
                    if let HeadOutcome::Complete(n, _) = full {
                        assert!(p < n, "prefix {p} holds the whole head but got Partial");
                    }
                }
                (HeadOutcome::Complete(n, _), _) => {
                    assert!(
                        p >= *n && prefix == full,
                        "prefix {p}: {prefix:?} vs {full:?}"
                    )
                }
                _ => assert_eq!(prefix, full, "prefix {p}"),
            }
        }
        if let HeadOutcome::Complete(n, _) = full {
            assert_eq!(parse_once(&mut parser, &data[..n]), full);
        }
    }
}

/// The terminal state of a body decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyOutcome {
    /// Input ran out first.
    NeedMore,
    /// Body complete after this many input bytes.
    End(usize),
    /// Rejected.
    Error(Error),
}

/// Decodes `data` fed in pieces that end at `cuts`; returns the body bytes and the outcome.
pub fn decode_split(
    framing: Framing,
    limits: &Limits,
    data: &[u8],
    cuts: &[usize],
) -> (Vec<u8>, BodyOutcome) {
    let mut dec = BodyDecoder::new(framing, limits);
    let mut body = Vec::new();
    let mut pos = 0;
    let mut pending = Vec::new();
    let ends = cuts
        .iter()
        .copied()
        .filter(|&c| c <= data.len())
        .chain([data.len()]);
    let mut fed = 0;
    for end in ends {
        if end < fed {
            continue;
        }
        pending.extend_from_slice(&data[fed..end]);
        fed = end;
        loop {
            match dec.decode(&pending) {
                Ok((n, ev)) => {
                    assert!(n <= pending.len());
                    if let Event::Data(d) = ev {
                        assert!(!d.is_empty() && d.len() <= n);
                        assert_eq!(d.as_ptr(), pending[n - d.len()..].as_ptr());
                        body.extend_from_slice(d);
                    }
                    let done = match ev {
                        Event::Data(_) => false,
                        Event::NeedMore => {
                            assert_eq!(n, pending.len(), "NeedMore left input unconsumed");
                            true
                        }
                        Event::End => {
                            assert!(dec.is_finished());
                            return (body, BodyOutcome::End(pos + n));
                        }
                    };
                    pending.drain(..n);
                    pos += n;
                    if done {
                        break;
                    }
                }
                Err(e) => {
                    assert_eq!(dec.decode(b"x"), Err(e), "errors must stick");
                    return (body, BodyOutcome::Error(e));
                }
            }
        }
    }
    (body, BodyOutcome::NeedMore)
}

/// Target `http1_chunked`: the chunked decoder never panics, yields slices of its input,
/// gives the same body and verdict however the bytes are split, and decodes what the chunk
/// encoder produces from that body.
pub fn http1_chunked(data: &[u8]) {
    for limits in limit_sets() {
        let whole = decode_split(Framing::Chunked, &limits, data, &[]);
        let bytewise: Vec<usize> = (0..data.len()).collect();
        assert_eq!(
            decode_split(Framing::Chunked, &limits, data, &bytewise),
            whole
        );
        for p in split_points(data) {
            assert_eq!(
                decode_split(Framing::Chunked, &limits, data, &[p]),
                whole,
                "split {p}"
            );
        }
        let (body, _) = &whole;
        let mut encoded = Vec::new();
        for piece in body.chunks(7) {
            encoded.extend_from_slice(ChunkHeader::new(piece.len() as u64).as_bytes());
            encoded.extend_from_slice(piece);
            encoded.extend_from_slice(CHUNK_END);
        }
        encoded.extend_from_slice(LAST_CHUNK);
        let again = decode_split(Framing::Chunked, &Limits::default(), &encoded, &[]);
        assert_eq!(again, (body.clone(), BodyOutcome::End(encoded.len())));
    }
}

/// One request of a pipeline: its description and body, or where the stream stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineItem {
    /// A request and its body.
    Request(String, Vec<u8>),
    /// The head was rejected.
    HeadError(Error),
    /// The body was rejected.
    BodyError(Error),
    /// The stream ended inside a head or body.
    Incomplete,
}

/// Runs a connection's read loop over `data` arriving in pieces ending at `cuts`.
pub fn run_pipeline(limits: Limits, data: &[u8], cuts: &[usize]) -> Vec<PipelineItem> {
    let mut parser = Parser::new(limits);
    let mut items = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut cuts = cuts
        .iter()
        .copied()
        .filter(|&c| c <= data.len())
        .chain([data.len()]);
    let mut feed = |buf: &mut Vec<u8>| -> bool {
        for c in cuts.by_ref() {
            if c > fed {
                buf.extend_from_slice(&data[fed..c]);
                fed = c;
                return true;
            }
        }
        false
    };
    loop {
        let (len, description, framing) = match parser.parse(&buf) {
            Ok(Status::Complete(h)) => (h.len(), describe(&h), h.framing()),
            Ok(Status::Partial) => {
                if feed(&mut buf) {
                    continue;
                }
                items.push(PipelineItem::Incomplete);
                return items;
            }
            Err(e) => {
                items.push(PipelineItem::HeadError(e));
                return items;
            }
        };
        buf.drain(..len);
        let mut dec = BodyDecoder::new(framing, &limits);
        let mut body = Vec::new();
        loop {
            match dec.decode(&buf) {
                Ok((n, Event::Data(d))) => {
                    body.extend_from_slice(d);
                    buf.drain(..n);
                }
                Ok((n, Event::NeedMore)) => {
                    buf.drain(..n);
                    if !feed(&mut buf) {
                        items.push(PipelineItem::Incomplete);
                        return items;
                    }
                }
                Ok((n, Event::End)) => {
                    buf.drain(..n);
                    break;
                }
                Err(e) => {
                    items.push(PipelineItem::BodyError(e));
                    return items;
                }
            }
        }
        items.push(PipelineItem::Request(description, body));
    }
}

/// Target `http1_pipeline`: a whole connection's bytes give the same requests, bodies and
/// final verdict whether they arrive at once, byte by byte, or in pseudo-random pieces.
pub fn http1_pipeline(data: &[u8]) {
    for limits in limit_sets() {
        let whole = run_pipeline(limits, data, &[]);
        let mut x = seed(data);
        let mut cuts = Vec::new();
        let mut at = 0;
        while at < data.len() {
            x = xorshift(x);
            at += 1 + (x % 23) as usize;
            cuts.push(at);
        }
        assert_eq!(run_pipeline(limits, data, &cuts), whole);
        if data.len() <= 512 {
            let bytewise: Vec<usize> = (0..data.len()).collect();
            assert_eq!(run_pipeline(limits, data, &bytewise), whole);
        }
    }
}
