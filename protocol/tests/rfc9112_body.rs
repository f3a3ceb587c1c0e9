//! Body framing rules (RFC 9112 §6 and §7): fixed length, and the chunked coding with its
//! extensions and trailers.

mod util;

use ringwire_protocol::http1::{BodyDecoder, Error, Event, Framing, Limits};
use util::{chunked, decode};

#[test]
fn rfc9112_7_1_chunked_body_is_reassembled() {
    let input = "5\r\nhello\r\n6\r\n world\r\nA\r\n0123456789\r\n0\r\n\r\nNEXT";
    let (body, used) = decode(Framing::Chunked, &Limits::default(), input.as_bytes()).unwrap();
    assert_eq!(body, b"hello world0123456789");
    assert_eq!(used, input.len() - 4, "stops right after the body");
    assert_eq!(
        chunked("0000a\r\n0123456789\r\n0\r\n\r\n").unwrap().len(),
        10
    );
    assert_eq!(chunked("0\r\n\r\n").unwrap(), b"");
}

#[test]
fn rfc9112_7_1_chunk_size_is_strict_hex() {
    for line in [
        "0x5", "+5", "-5", "5_0", " 5", "5 ", "5 5", "g", "", "5\t", "5\n",
    ] {
        let input = format!("{line}\r\nhello\r\n0\r\n\r\n");
        assert_eq!(chunked(&input), Err(Error::InvalidChunkSize), "{line:?}");
    }
}

#[test]
fn rfc9112_7_1_chunk_size_overflow_is_400() {
    assert_eq!(
        chunked("10000000000000000\r\n"),
        Err(Error::ChunkSizeOverflow)
    );
    let limits = Limits {
        max_body: u64::MAX,
        ..Limits::default()
    };
    let mut dec = BodyDecoder::new(Framing::Chunked, &limits);
    assert_eq!(
        dec.decode(b"ffffffffffffffff\r\nab"),
        Ok((20, Event::Data(b"ab")))
    );
}

#[test]
fn rfc9112_7_1_1_chunk_extensions_are_validated_and_skipped() {
    for ext in [
        ";a",
        ";a=b",
        " ; a = b",
        "\t;a=\"q\\\"x;y\"",
        ";a=b;c=d",
        ";a;b",
        "; a\t;b=\"\"",
    ] {
        let input = format!("5{ext}\r\nhello\r\n0{ext}\r\n\r\n");
        assert_eq!(chunked(&input).unwrap(), b"hello", "{ext:?}");
    }
    for ext in [
        ";",
        ";=b",
        ";a=",
        ";a b",
        ";a=\"open",
        ";a=b ",
        ";a=b c",
        ";a=\x01",
        ";a=\"\x7f\"",
        ";a@",
    ] {
        let input = format!("5{ext}\r\nhello\r\n0\r\n\r\n");
        assert_eq!(
            chunked(&input),
            Err(Error::InvalidChunkExtension),
            "{ext:?}"
        );
    }
}

#[test]
fn rfc9112_7_1_chunk_line_length_is_limited() {
    let limits = Limits {
        max_chunk_line: 8,
        ..Limits::default()
    };
    let ok = "5;abc=de\r\nhello\r\n0\r\n\r\n";
    assert!(decode(Framing::Chunked, &limits, ok.as_bytes()).is_ok());
    let long = "5;abc=def\r\nhello\r\n0\r\n\r\n";
    let e = decode(Framing::Chunked, &limits, long.as_bytes()).unwrap_err();
    assert_eq!((e, e.status()), (Error::ChunkLineTooLong, 400));
    // Leading zeros count too: they are the cheapest way to stall a reader.
    let zeros = format!("{}5\r\nhello\r\n0\r\n\r\n", "0".repeat(8));
    assert_eq!(
        decode(Framing::Chunked, &limits, zeros.as_bytes()),
        Err(Error::ChunkLineTooLong)
    );
}

#[test]
fn rfc9112_7_1_crlf_must_follow_chunk_data_and_size() {
    assert_eq!(
        chunked("5\r\nhelloX\r\n0\r\n\r\n"),
        Err(Error::InvalidChunkDelimiter)
    );
    assert_eq!(
        chunked("5\r\nhello\n0\r\n\r\n"),
        Err(Error::InvalidChunkDelimiter)
    );
    assert_eq!(
        chunked("5\r\nhello\r0\r\n\r\n"),
        Err(Error::InvalidChunkDelimiter)
    );
    assert_eq!(chunked("5\rX"), Err(Error::InvalidLineEnding));
    assert_eq!(chunked("0\r\n\rX"), Err(Error::InvalidLineEnding));
}

#[test]
fn rfc9112_7_1_2_trailers_are_parsed_and_skipped() {
    let input = b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nY:\r\nZ: a\tb\xff\r\n\r\n";
    let (body, used) = decode(Framing::Chunked, &Limits::default(), input).unwrap();
    assert_eq!((body.as_slice(), used), (&b"abc"[..], input.len()));
    for trailer in [
        "X : a",
        " X: a",
        "X",
        ": a",
        "X: a\0",
        "X: a\nY: b",
        "X(: a",
        "X: a\rb",
    ] {
        let input = format!("0\r\n{trailer}\r\n\r\n");
        assert_eq!(chunked(&input), Err(Error::InvalidTrailer), "{trailer:?}");
    }
    assert_eq!(chunked("0\r\n\n"), Err(Error::InvalidTrailer));
}

#[test]
fn rfc9112_7_1_2_trailers_are_limited_like_headers() {
    let limits = Limits {
        max_trailer: 12,
        max_headers: 2,
        ..Limits::default()
    };
    let run = |s: &str| decode(Framing::Chunked, &limits, s.as_bytes()).map(|(b, _)| b);
    assert!(run("0\r\nA: 1234567\r\n\r\n").is_ok());
    assert_eq!(
        run("0\r\nA: 12345678\r\n\r\n"),
        Err(Error::TrailersTooLarge)
    );
    assert!(run("0\r\nA:\r\nB:\r\n\r\n").is_ok());
    let e = run("0\r\nA:\r\nB:\r\nC:\r\n\r\n").unwrap_err();
    assert_eq!((e, e.status()), (Error::TrailersTooLarge, 431));
}

#[test]
fn rfc9112_7_1_chunked_total_over_max_body_is_413() {
    let limits = Limits {
        max_body: 10,
        ..Limits::default()
    };
    let at = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    assert!(decode(Framing::Chunked, &limits, at.as_bytes()).is_ok());
    let over = "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n";
    let mut dec = BodyDecoder::new(Framing::Chunked, &limits);
    assert_eq!(dec.decode(over.as_bytes()), Ok((8, Event::Data(b"hello"))));
    // Refused at the size line, before any byte of the chunk that crosses the limit.
    assert_eq!(dec.decode(&over.as_bytes()[8..]), Err(Error::BodyTooLarge));
    assert_eq!(Error::BodyTooLarge.status(), 413);
}

#[test]
fn rfc9112_6_2_content_length_body_stops_at_length() {
    let (body, used) = decode(Framing::Length(5), &Limits::default(), b"helloGET /").unwrap();
    assert_eq!((body.as_slice(), used), (&b"hello"[..], 5));
    let mut dec = BodyDecoder::new(Framing::Length(5), &Limits::default());
    assert_eq!(dec.decode(b""), Ok((0, Event::NeedMore)));
    assert_eq!(dec.decode(b"he"), Ok((2, Event::Data(b"he"))));
    assert_eq!(dec.decode(b"llo!"), Ok((3, Event::Data(b"llo"))));
    assert!(dec.is_finished());
    assert_eq!(dec.decode(b"!"), Ok((0, Event::End)));
}

#[test]
fn rfc9112_6_3_no_framing_is_an_empty_body() {
    let mut dec = BodyDecoder::new(Framing::None, &Limits::default());
    assert_eq!(dec.decode(b"GET / HTTP/1.1"), Ok((0, Event::End)));
}

#[test]
fn content_length_over_limit_is_refused_by_the_decoder_too() {
    let limits = Limits {
        max_body: 4,
        ..Limits::default()
    };
    let mut dec = BodyDecoder::new(Framing::Length(5), &limits);
    assert_eq!(dec.decode(b"hello"), Err(Error::BodyTooLarge));
}

#[test]
fn data_is_a_slice_of_the_input_not_a_copy() {
    let input = b"4\r\nwxyz\r\n0\r\n\r\n";
    let mut dec = BodyDecoder::new(Framing::Chunked, &Limits::default());
    let (n, ev) = dec.decode(input).unwrap();
    let Event::Data(d) = ev else { panic!() };
    assert_eq!(d.as_ptr(), input[3..].as_ptr());
    assert_eq!(n, 7);
}

#[test]
fn chunked_accepts_any_split() {
    let input = b"5;e=\"x\"\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: v\r\n\r\n";
    let want = decode(Framing::Chunked, &Limits::default(), input).unwrap();
    for split in 0..=input.len() {
        let mut dec = BodyDecoder::new(Framing::Chunked, &Limits::default());
        let (mut body, mut used) = (Vec::new(), 0);
        for part in [&input[..split], &input[split..]] {
            let mut pos = 0;
            loop {
                let (n, ev) = dec.decode(&part[pos..]).unwrap();
                pos += n;
                used += n;
                match ev {
                    Event::Data(d) => body.extend_from_slice(d),
                    Event::NeedMore | Event::End => break,
                }
            }
        }
        assert_eq!((body, used), want, "split {split}");
    }
}

#[test]
fn errors_stick_and_end_repeats() {
    let mut dec = BodyDecoder::new(Framing::Chunked, &Limits::default());
    assert_eq!(dec.decode(b"z"), Err(Error::InvalidChunkSize));
    assert_eq!(dec.decode(b"5\r\n"), Err(Error::InvalidChunkSize));
    let mut dec = BodyDecoder::new(Framing::Chunked, &Limits::default());
    assert_eq!(dec.decode(b"0\r\n\r\nX"), Ok((5, Event::End)));
    assert_eq!(dec.decode(b"X"), Ok((0, Event::End)));
}
