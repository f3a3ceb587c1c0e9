//! Chunked framing overhead is bounded (the CVE-2023-39326 lesson): extension bytes per chunk
//! by `Limits::max_chunk_line`, framing per body by `CHUNK_OVERHEAD_ALLOWANCE` beyond what the
//! data pays for. Valid bodies with ordinary framing still decode.

mod util;

use proptest::collection::vec;
use proptest::prelude::*;
use ringwire_protocol::fuzzing::{self, BodyOutcome};
use ringwire_protocol::http1::{
    BodyDecoder, CHUNK_OVERHEAD_ALLOWANCE, CHUNK_OVERHEAD_PER_CHUNK, CHUNK_OVERHEAD_PER_DATA_BYTE,
    Error, Event, Framing, Limits,
};
use util::decode;

/// Feeds `chunks` (an endless supply, like a hostile client) to one decoder until it fails or
/// `max_input` bytes were fed; returns the error and the bytes fed.
fn feed_until_error(mut chunk: impl FnMut(usize) -> Vec<u8>, max_input: usize) -> (Error, usize) {
    let mut dec = BodyDecoder::new(Framing::Chunked, &Limits::default());
    let mut fed = 0;
    for i in 0.. {
        let piece = chunk(i);
        fed += piece.len();
        let mut pos = 0;
        loop {
            match dec.decode(&piece[pos..]) {
                Ok((n, Event::Data(_))) => pos += n,
                Ok((_, Event::NeedMore)) => break,
                Ok((_, Event::End)) => panic!("the endless body ended"),
                Err(e) => return (e, fed),
            }
        }
        assert!(fed <= max_input, "{fed} bytes of framing were read");
    }
    unreachable!()
}

#[test]
fn rfc9112_7_1_1_extension_bytes_per_chunk_are_bounded_by_the_line_limit() {
    let limits = Limits::default();
    let ext = |n: usize| format!(";{}", "e".repeat(n - 1));
    // "1" plus the extension: exactly max_chunk_line bytes pass, one more does not.
    let at = format!("1{}\r\nx\r\n0\r\n\r\n", ext(limits.max_chunk_line - 1));
    assert_eq!(
        decode(Framing::Chunked, &limits, at.as_bytes()).unwrap().0,
        b"x"
    );
    let over = format!("1{}\r\nx\r\n0\r\n\r\n", ext(limits.max_chunk_line));
    let e = decode(Framing::Chunked, &limits, over.as_bytes()).unwrap_err();
    assert_eq!((e, e.status()), (Error::ChunkLineTooLong, 400));
}

#[test]
fn a_body_of_chunk_extensions_is_refused_after_the_allowance() {
    // One data byte per chunk, each with a 1000-byte extension: a 1 MiB body sent like this
    // would be a gigabyte of framing. It is refused after about the allowance.
    let ext = format!(";{}", "e".repeat(999));
    let (e, fed) = feed_until_error(
        |_| format!("1{ext}\r\nx\r\n").into_bytes(),
        2 * CHUNK_OVERHEAD_ALLOWANCE as usize,
    );
    assert_eq!((e, e.status()), (Error::ChunkedOverhead, 400));
    assert!(
        fed as u64 <= CHUNK_OVERHEAD_ALLOWANCE + 2048,
        "refused only after {fed} bytes"
    );
    assert!(e.to_string().contains("chunk extensions"), "{e}");
}

#[test]
fn many_empty_looking_chunks_with_extensions_are_refused() {
    // Leading zeros count as framing too: `000…01;x` lines carry one byte each.
    let line = format!("{}1;x", "0".repeat(900));
    let (e, _) = feed_until_error(
        |_| format!("{line}\r\ny\r\n").into_bytes(),
        2 * CHUNK_OVERHEAD_ALLOWANCE as usize,
    );
    assert_eq!(e, Error::ChunkedOverhead);
}

#[test]
fn credit_from_a_large_chunk_is_not_banked() {
    // A large chunk's allowance covers its own framing, not the junk that follows it.
    let mut wire = b"10000\r\n".to_vec();
    wire.extend(std::iter::repeat_n(b'a', 0x10000));
    wire.extend_from_slice(b"\r\n");
    let ext = format!(";{}", "e".repeat(999));
    for _ in 0..40 {
        wire.extend_from_slice(format!("1{ext}\r\nx\r\n").as_bytes());
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        decode(Framing::Chunked, &Limits::default(), &wire).unwrap_err(),
        Error::ChunkedOverhead
    );
}

#[test]
fn one_byte_chunks_and_extensions_paid_for_by_data_are_fine() {
    // A whole 1 MiB body one byte per chunk (5 bytes of framing each): legitimate streaming.
    let limits = Limits::default();
    let mut wire = Vec::new();
    for _ in 0..limits.max_body {
        wire.extend_from_slice(b"1\r\nz\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let (body, used) = decode(Framing::Chunked, &limits, &wire).unwrap();
    assert_eq!((body.len() as u64, used), (limits.max_body, wire.len()));
    // A 1000-byte extension on every chunk is fine when each chunk carries 500 data bytes.
    let ext = format!(";{}", "e".repeat(999));
    let mut wire = Vec::new();
    for _ in 0..1000 {
        wire.extend_from_slice(format!("1f4{ext}\r\n").as_bytes());
        wire.extend(std::iter::repeat_n(b'd', 500));
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        decode(Framing::Chunked, &limits, &wire).unwrap().0.len(),
        500_000
    );
}

/// Chunks given as (data length, extension length); the wire form and the body.
fn encode(chunks: &[(usize, usize)]) -> (Vec<u8>, Vec<u8>) {
    let (mut wire, mut body) = (Vec::new(), Vec::new());
    for (i, &(len, ext)) in chunks.iter().enumerate() {
        // An extension needs a name: lengths below 2 mean none.
        let ext = if ext < 2 {
            String::new()
        } else {
            format!(";{}", "x".repeat(ext - 1))
        };
        wire.extend_from_slice(format!("{len:x}{ext}\r\n").as_bytes());
        let data: Vec<u8> = (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect();
        wire.extend_from_slice(&data);
        wire.extend_from_slice(b"\r\n");
        body.extend_from_slice(&data);
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    (wire, body)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A body whose every chunk keeps its framing within its own allowance decodes to its
    /// data, whole and split anywhere.
    #[test]
    fn valid_bodies_with_affordable_framing_still_decode(
        raw in vec((1usize..3000, 0usize..2000), 0..40),
        cut in any::<prop::sample::Index>(),
    ) {
        let chunks: Vec<(usize, usize)> = raw
            .into_iter()
            .map(|(len, ext)| {
                let hex = format!("{len:x}").len() as u64;
                let allowance = CHUNK_OVERHEAD_PER_CHUNK + CHUNK_OVERHEAD_PER_DATA_BYTE * len as u64;
                // Framing is hex + extension + 4 CRLF bytes; cap the extension to fit (and to
                // the 1 KiB line limit).
                let room = allowance.saturating_sub(hex + 4).min(1000) as usize;
                (len, ext.min(room))
            })
            .collect();
        let (wire, body) = encode(&chunks);
        let limits = Limits { max_body: u64::MAX, ..Limits::default() };
        let whole = fuzzing::decode_split(Framing::Chunked, &limits, &wire, &[]);
        prop_assert_eq!(&whole, &(body, BodyOutcome::End(wire.len())));
        let at = cut.index(wire.len() + 1);
        prop_assert_eq!(fuzzing::decode_split(Framing::Chunked, &limits, &wire, &[at]), whole);
    }

    /// A body whose framing exceeds twice its data, plus the per-chunk and fixed allowances,
    /// is refused, whatever the mix of chunk sizes and extensions.
    #[test]
    fn framing_beyond_the_bound_is_refused(raw in vec((1usize..64, 0usize..1000), 1..200)) {
        let (wire, body) = encode(&raw);
        let data = body.len() as u64;
        let framing = wire.len() as u64 - data;
        let bound = CHUNK_OVERHEAD_PER_DATA_BYTE * data
            + CHUNK_OVERHEAD_PER_CHUNK * (raw.len() as u64 + 1)
            + CHUNK_OVERHEAD_ALLOWANCE;
        let limits = Limits { max_body: u64::MAX, ..Limits::default() };
        let result = decode(Framing::Chunked, &limits, &wire);
        match result {
            Err(e) => prop_assert_eq!(e, Error::ChunkedOverhead),
            Ok(_) if framing > bound => prop_assert!(false, "{framing} > {bound} bytes accepted"),
            Ok((got, _)) => prop_assert_eq!(got, body),
        }
    }
}
