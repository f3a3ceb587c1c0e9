//! Frame-level rules of the stream protocol, continued (docs/PROTOCOL.md, "Frames"): every
//! flag and type combination, incomplete frames, the size limit, and the encoded layout.

mod stream_util;

use ringwire_protocol::stream::{
    self, END_STREAM, Error, ErrorCode, Frame, FrameHeader, FrameType, HEADER_LEN, HELLO_AUTH,
    MAX_AUTH_TOKEN, Settings, encode_header,
};
use stream_util::{
    frame::{decode, raw, setting},
    wire,
};

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
