//! Frame-level rules of the stream protocol (docs/PROTOCOL.md, "Frames"): every rule a frame
//! can break on its own, table-driven, with the error and wire code it gets.

mod stream_util;

use ringwire_protocol::stream::{Error, ErrorCode, Frame, Settings};
use stream_util::frame::{decode, raw, setting};

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
