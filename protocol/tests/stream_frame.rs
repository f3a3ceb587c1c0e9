//! Frame-level rules of the stream protocol (docs/PROTOCOL.md, "Frames"): every rule a frame
//! can break on its own, table-driven, with the error and wire code it gets.

mod stream_util;

use ringwire_protocol::stream::{
    self, END_STREAM, Error, ErrorCode, Frame, FrameHeader, FrameType, HEADER_LEN, HELLO_AUTH,
    MAX_AUTH_TOKEN, Settings, encode_header,
};
use stream_util::wire;

/// A raw frame: header fields as given, then `payload`.
fn raw(version: u8, kind: u8, flags: u16, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![version, kind];
    b.extend_from_slice(&flags.to_be_bytes());
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    b.extend_from_slice(payload);
    b
}

fn setting(id: u16, value: u32) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend_from_slice(&value.to_be_bytes());
    b
}

fn decode(bytes: &[u8]) -> Result<Option<Frame<'_>>, Error> {
    stream::decode(bytes, &Settings::default()).map(|r| {
        r.map(|(f, n)| {
            assert_eq!(n, bytes.len(), "one frame, all of it");
            f
        })
    })
}

#[test]
fn valid_frames_decode() {
    let cases: Vec<(&str, Vec<u8>, Frame<'static>)> = vec![
        (
            "hello, defaults omitted",
            raw(1, 0, 0, 0, b""),
            Frame::Hello(Settings::default()),
        ),
        (
            "hello, one setting",
            raw(1, 0, 0, 0, &setting(4, 7)),
            Frame::Hello(Settings {
                max_concurrent_streams: 7,
                ..Settings::default()
            }),
        ),
        (
            "hello, unknown setting ignored",
            raw(1, 0, 0, 0, &setting(0x99, 1)),
            Frame::Hello(Settings::default()),
        ),
        (
            "hello with the AUTH flag",
            raw(1, 0, 1, 0, &setting(4, 7)),
            Frame::HelloAuth(Settings {
                max_concurrent_streams: 7,
                ..Settings::default()
            }),
        ),
        ("auth", raw(1, 8, 0, 0, b"t0ken"), Frame::Auth(b"t0ken")),
        ("auth, 1 byte", raw(1, 8, 0, 0, b"\0"), Frame::Auth(b"\0")),
        (
            "open",
            raw(1, 1, 0, 1, b"echo"),
            Frame::Open {
                id: 1,
                service: "echo",
            },
        ),
        (
            "open, all printable",
            raw(1, 1, 0, 3, b"!~a.b/c:d"),
            Frame::Open {
                id: 3,
                service: "!~a.b/c:d",
            },
        ),
        (
            "data",
            raw(1, 2, 0, 5, b"xyz"),
            Frame::Data {
                id: 5,
                data: b"xyz",
                end: false,
            },
        ),
        (
            "data, end",
            raw(1, 2, 1, 5, b""),
            Frame::Data {
                id: 5,
                data: b"",
                end: true,
            },
        ),
        (
            "data, maximum size",
            raw(1, 2, 0, 5, &[0; 16384]),
            Frame::Data {
                id: 5,
                data: &[0; 16384],
                end: false,
            },
        ),
        (
            "reset",
            raw(1, 3, 0, 7, &[0, 0, 0, 8]),
            Frame::Reset {
                id: 7,
                code: ErrorCode::UNKNOWN_SERVICE,
            },
        ),
        (
            "reset, unknown code kept",
            raw(1, 3, 0, 7, &[0, 0, 1, 0]),
            Frame::Reset {
                id: 7,
                code: ErrorCode(256),
            },
        ),
        (
            "window update, connection",
            raw(1, 4, 0, 0, &[0, 1, 0, 0]),
            Frame::WindowUpdate {
                id: 0,
                increment: 65536,
            },
        ),
        (
            "window update, stream, max",
            raw(1, 4, 0, 9, &[0x7f, 0xff, 0xff, 0xff]),
            Frame::WindowUpdate {
                id: 9,
                increment: 0x7fff_ffff,
            },
        ),
        (
            "ping",
            raw(1, 5, 0, 0, b"12345678"),
            Frame::Ping(*b"12345678"),
        ),
        (
            "pong",
            raw(1, 6, 0, 0, b"12345678"),
            Frame::Pong(*b"12345678"),
        ),
        (
            "goaway",
            raw(1, 7, 0, 0, b"\0\0\0\x09\0\0\0\0bye"),
            Frame::GoAway {
                last_id: 9,
                code: ErrorCode::NO_ERROR,
                debug: b"bye",
            },
        ),
        (
            "max stream id",
            raw(1, 2, 0, 0x7fff_ffff, b""),
            Frame::Data {
                id: 0x7fff_ffff,
                data: b"",
                end: false,
            },
        ),
    ];
    for (name, bytes, want) in cases {
        assert_eq!(decode(&bytes), Ok(Some(want)), "{name}");
    }
}

#[test]
fn malformed_frames_are_connection_errors_with_their_code() {
    use Error::*;
    let long_name = vec![b'a'; 65];
    let cases: Vec<(&str, Vec<u8>, Error)> = vec![
        ("version 0", raw(0, 0, 0, 0, b""), UnsupportedVersion(0)),
        ("version 2", raw(2, 0, 0, 0, b""), UnsupportedVersion(2)),
        (
            "an HTTP request",
            b"GET / HTTP/1.1\r\n".to_vec(),
            UnsupportedVersion(b'G'),
        ),
        ("type 9", raw(1, 9, 0, 0, b""), UnknownFrameType(9)),
        ("type 0xff", raw(1, 0xff, 0, 0, b""), UnknownFrameType(0xff)),
        ("data, flag 0x2", raw(1, 2, 2, 1, b""), InvalidFlags),
        ("data, high flag", raw(1, 2, 0x8001, 1, b""), InvalidFlags),
        ("open with END_STREAM", raw(1, 1, 1, 1, b"a"), InvalidFlags),
        ("hello with flag 0x2", raw(1, 0, 2, 0, b""), InvalidFlags),
        ("auth with a flag", raw(1, 8, 1, 0, b"t"), InvalidFlags),
        ("auth on a stream", raw(1, 8, 0, 1, b"t"), InvalidStreamId),
        ("auth, empty", raw(1, 8, 0, 0, b""), InvalidFrameLength),
        (
            "auth of 4097 bytes",
            raw(1, 8, 0, 0, &[b'a'; 4097]),
            InvalidFrameLength,
        ),
        ("hello on a stream", raw(1, 0, 0, 1, b""), InvalidStreamId),
        (
            "ping on a stream",
            raw(1, 5, 0, 1, b"12345678"),
            InvalidStreamId,
        ),
        (
            "pong on a stream",
            raw(1, 6, 0, 1, b"12345678"),
            InvalidStreamId,
        ),
        (
            "goaway on a stream",
            raw(1, 7, 0, 3, &[0; 8]),
            InvalidStreamId,
        ),
        ("data on stream 0", raw(1, 2, 0, 0, b""), InvalidStreamId),
        ("open on stream 0", raw(1, 1, 0, 0, b"a"), InvalidStreamId),
        (
            "reset on stream 0",
            raw(1, 3, 0, 0, &[0; 4]),
            InvalidStreamId,
        ),
        (
            "reserved id bit, data",
            raw(1, 2, 0, 0x8000_0001, b""),
            InvalidStreamId,
        ),
        (
            "reserved id bit, update",
            raw(1, 4, 0, 0x8000_0000, &[0, 0, 0, 1]),
            InvalidStreamId,
        ),
        (
            "goaway last id reserved bit",
            raw(1, 7, 0, 0, &[0x80, 0, 0, 0, 0, 0, 0, 0]),
            InvalidStreamId,
        ),
        (
            "data over max frame size",
            raw(1, 2, 0, 1, &[0; 16385]),
            FrameTooLarge,
        ),
        (
            "reset of 3 bytes",
            raw(1, 3, 0, 1, &[0; 3]),
            InvalidFrameLength,
        ),
        (
            "reset of 5 bytes",
            raw(1, 3, 0, 1, &[0; 5]),
            InvalidFrameLength,
        ),
        (
            "update of 8 bytes",
            raw(1, 4, 0, 1, &[0, 0, 0, 1, 0, 0, 0, 1]),
            InvalidFrameLength,
        ),
        (
            "ping of 7 bytes",
            raw(1, 5, 0, 0, &[0; 7]),
            InvalidFrameLength,
        ),
        (
            "pong of 9 bytes",
            raw(1, 6, 0, 0, &[0; 9]),
            InvalidFrameLength,
        ),
        (
            "goaway of 7 bytes",
            raw(1, 7, 0, 0, &[0; 7]),
            InvalidFrameLength,
        ),
        (
            "hello of 5 bytes",
            raw(1, 0, 0, 0, &[0; 5]),
            InvalidFrameLength,
        ),
        (
            "hello of 1026 bytes",
            raw(1, 0, 0, 0, &[0; 1026]),
            InvalidFrameLength,
        ),
        ("open, empty name", raw(1, 1, 0, 1, b""), InvalidServiceName),
        (
            "open, name over 64",
            raw(1, 1, 0, 1, &long_name),
            InvalidServiceName,
        ),
        ("open, space", raw(1, 1, 0, 1, b"a b"), InvalidServiceName),
        ("open, DEL", raw(1, 1, 0, 1, b"a\x7f"), InvalidServiceName),
        (
            "open, UTF-8",
            raw(1, 1, 0, 1, "é".as_bytes()),
            InvalidServiceName,
        ),
        (
            "update of 0",
            raw(1, 4, 0, 1, &[0; 4]),
            InvalidWindowIncrement,
        ),
        (
            "update of 2^31",
            raw(1, 4, 0, 0, &[0x80, 0, 0, 0]),
            InvalidWindowIncrement,
        ),
        (
            "frame size below 1024",
            raw(1, 0, 0, 0, &setting(1, 1023)),
            InvalidSetting,
        ),
        (
            "frame size above 2^24-1",
            raw(1, 0, 0, 0, &setting(1, 1 << 24)),
            InvalidSetting,
        ),
        (
            "stream window 2^31",
            raw(1, 0, 0, 0, &setting(2, 1 << 31)),
            InvalidSetting,
        ),
        (
            "connection window 2^31",
            raw(1, 0, 0, 0, &setting(3, 1 << 31)),
            InvalidSetting,
        ),
        (
            "concurrency 2^31",
            raw(1, 0, 0, 0, &setting(4, 1 << 31)),
            InvalidSetting,
        ),
        (
            "service name limit 0",
            raw(1, 0, 0, 0, &setting(5, 0)),
            InvalidSetting,
        ),
        (
            "service name limit 256",
            raw(1, 0, 0, 0, &setting(5, 256)),
            InvalidSetting,
        ),
        (
            "setting twice",
            raw(1, 0, 0, 0, &[setting(2, 1), setting(2, 1)].concat()),
            InvalidSetting,
        ),
    ];
    for (name, bytes, want) in cases {
        assert_eq!(decode(&bytes), Err(want), "{name}");
        assert!(want.is_fatal(), "{name}");
    }
    assert_eq!(FrameTooLarge.code(), Some(ErrorCode::FRAME_SIZE_ERROR));
    assert_eq!(InvalidFrameLength.code(), Some(ErrorCode::FRAME_SIZE_ERROR));
    assert_eq!(
        UnsupportedVersion(2).code(),
        Some(ErrorCode::UNSUPPORTED_VERSION)
    );
    assert_eq!(InvalidSetting.code(), Some(ErrorCode::PROTOCOL_ERROR));
}

#[test]
fn every_flag_and_type_combination_is_checked() {
    for kind in 0..=255u8 {
        for bit in 0..16 {
            let flags = 1u16 << bit;
            let id = if matches!(kind, 0 | 5 | 6 | 7 | 8) {
                0
            } else {
                1
            };
            let payload: &[u8] = match kind {
                3 | 4 => &[0, 0, 0, 1],
                5..=7 => &[0; 8],
                1 | 8 => b"a",
                _ => b"",
            };
            let bytes = raw(1, kind, flags, id, payload);
            let r = decode(&bytes);
            match FrameType::from_u8(kind) {
                None => assert_eq!(r, Err(Error::UnknownFrameType(kind))),
                Some(FrameType::Data) if flags == END_STREAM => assert!(r.is_ok()),
                Some(FrameType::Hello) if flags == HELLO_AUTH => {
                    assert_eq!(r, Ok(Some(Frame::HelloAuth(Settings::default()))))
                }
                Some(_) => assert_eq!(r, Err(Error::InvalidFlags), "type {kind} flags {flags:#x}"),
            }
        }
    }
}

#[test]
fn incomplete_frames_wait_without_error() {
    let full = wire(&[Frame::Data {
        id: 1,
        data: b"0123456789",
        end: true,
    }]);
    for end in 0..full.len() {
        assert_eq!(decode(&full[..end]), Ok(None), "prefix {end}");
    }
    // Header errors do not wait for the payload: 12 bytes are enough.
    let mut big = Vec::new();
    encode_header(&mut big, FrameType::Data, 0, 1, 1 << 24);
    assert_eq!(decode(&big), Err(Error::FrameTooLarge));
}

#[test]
fn frame_size_limit_follows_the_receivers_settings() {
    let tight = Settings {
        max_frame_size: 1024,
        ..Settings::default()
    };
    let at = raw(1, 2, 0, 1, &[0; 1024]);
    let over = raw(1, 2, 0, 1, &[0; 1025]);
    assert!(stream::decode(&at, &tight).unwrap().is_some());
    assert_eq!(stream::decode(&over, &tight), Err(Error::FrameTooLarge));
    // Control frames obey it too: a GOAWAY's debug text must fit.
    let goaway = raw(1, 7, 0, 0, &[0; 1025]);
    assert_eq!(stream::decode(&goaway, &tight), Err(Error::FrameTooLarge));
    // AUTH alone has its own bound, whatever MAX_FRAME_SIZE: 4096 bytes, above the smallest
    // frame size (the client sends it before it knows the server's settings).
    let token = raw(1, 8, 0, 0, &[b't'; MAX_AUTH_TOKEN]);
    assert!(stream::decode(&token, &tight).unwrap().is_some());
    let roomy = Settings {
        max_frame_size: 1 << 20,
        ..Settings::default()
    };
    let long = raw(1, 8, 0, 0, &[b't'; MAX_AUTH_TOKEN + 1]);
    assert_eq!(
        stream::decode(&long, &roomy),
        Err(Error::InvalidFrameLength)
    );
}

#[test]
fn encoding_is_the_documented_layout() {
    let b = wire(&[Frame::Data {
        id: 0x0102_0304,
        data: b"hi",
        end: true,
    }]);
    assert_eq!(b, [1, 2, 0, 1, 1, 2, 3, 4, 0, 0, 0, 2, b'h', b'i']);
    let h = FrameHeader::parse(&b).unwrap();
    assert_eq!(
        (h.version(), h.kind(), h.flags(), h.stream_id(), h.length()),
        (1, 2, 1, 0x0102_0304, 2)
    );
    let f = Frame::GoAway {
        last_id: 3,
        code: ErrorCode::PROTOCOL_ERROR,
        debug: b"x",
    };
    assert_eq!(f.encoded_len(), HEADER_LEN + 9);
    assert_eq!(wire(&[f]), raw(1, 7, 0, 0, &[0, 0, 0, 3, 0, 0, 0, 1, b'x']));
    // HELLO always announces every setting, in id order.
    let hello = wire(&[Frame::Hello(Settings::default())]);
    let expect = [
        setting(1, 16384),
        setting(2, 262_144),
        setting(3, 1_048_576),
        setting(4, 100),
        setting(5, 64),
    ]
    .concat();
    assert_eq!(hello, raw(1, 0, 0, 0, &expect));
}

#[test]
fn frames_follow_each_other_in_one_buffer() {
    let b = wire(&[
        Frame::Ping(*b"abcdefgh"),
        Frame::Data {
            id: 1,
            data: b"x",
            end: false,
        },
        Frame::Reset {
            id: 1,
            code: ErrorCode::CANCEL,
        },
    ]);
    let (f1, n1) = stream::decode(&b, &Settings::default()).unwrap().unwrap();
    let (f2, n2) = stream::decode(&b[n1..], &Settings::default())
        .unwrap()
        .unwrap();
    let (f3, n3) = stream::decode(&b[n1 + n2..], &Settings::default())
        .unwrap()
        .unwrap();
    assert_eq!(n1 + n2 + n3, b.len());
    assert_eq!(f1, Frame::Ping(*b"abcdefgh"));
    assert_eq!(
        f2,
        Frame::Data {
            id: 1,
            data: b"x",
            end: false
        }
    );
    assert_eq!(
        f3,
        Frame::Reset {
            id: 1,
            code: ErrorCode::CANCEL
        }
    );
}
