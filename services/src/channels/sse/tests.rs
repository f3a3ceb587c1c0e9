//! The framing read back by a reference implementation of the HTML standard's event-stream
//! interpretation, written here from the standard (not from the code under test).

use super::*;
use proptest::prelude::*;

/// What `EventSource` would fire: (type, lastEventId, data).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fired {
    kind: String,
    last_event_id: String,
    data: String,
}

/// The reader's state after a whole stream: the events it fired and the last `retry` it took.
#[derive(Debug, Default)]
struct Read {
    fired: Vec<Fired>,
    retry: Option<u64>,
    comments: usize,
}

/// HTML standard, 9.2.6 "Interpreting an event stream" and 9.2.5's dispatch, for one complete
/// stream (an unterminated last event is discarded, as at end of stream).
fn interpret(stream: &[u8]) -> Read {
    let text = String::from_utf8_lossy(stream);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let (mut data, mut kind, mut id_buffer) = (String::new(), String::new(), String::new());
    let mut read = Read::default();
    let mut rest = text;
    // Only lines followed by an end of line are processed.
    while let Some(end) = rest.find(['\r', '\n']) {
        let line = &rest[..end];
        let eol = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + eol..];
        if line.is_empty() {
            // Dispatch.
            let last_event_id = id_buffer.clone();
            if data.is_empty() {
                kind.clear();
                continue;
            }
            if data.ends_with('\n') {
                data.pop();
            }
            let kind_now = if kind.is_empty() { "message" } else { &kind };
            read.fired.push(Fired {
                kind: kind_now.to_string(),
                last_event_id,
                data: std::mem::take(&mut data),
            });
            kind.clear();
            continue;
        }
        if line.starts_with(':') {
            read.comments += 1;
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => kind = value.to_string(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => id_buffer = value.to_string(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                read.retry = value.parse().ok()
            }
            _ => {}
        }
    }
    read
}

fn message(id: &str, data: &str) -> Fired {
    Fired {
        kind: "message".into(),
        last_event_id: id.into(),
        data: data.into(),
    }
}

#[test]
fn one_event_per_message_with_its_id() {
    let mut out = Vec::new();
    event(&mut out, Some(7), b"hello");
    assert_eq!(out, b"id: 7\ndata: hello\n\n");
    let first = out.len();
    event(&mut out, None, b"two\nlines");
    assert_eq!(&out[first..], b"data: two\ndata: lines\n\n");
    let read = interpret(&out);
    // An event without an id keeps the last one, as EventSource does.
    assert_eq!(
        read.fired,
        [message("7", "hello"), message("7", "two\nlines")]
    );
}

#[test]
fn empty_payload_and_trailing_newlines_survive() {
    for payload in ["", "\n", "a\n", "\n\nb", " leading space", ":colon"] {
        let mut out = Vec::new();
        event(&mut out, Some(1), payload.as_bytes());
        assert_eq!(
            interpret(&out).fired,
            [message("1", payload)],
            "{payload:?}"
        );
    }
}

#[test]
fn cr_and_crlf_split_lines_like_the_browser_and_come_back_as_lf() {
    let mut out = Vec::new();
    event(&mut out, None, b"a\r\nb\rc\n\rd");
    assert_eq!(out, b"data: a\ndata: b\ndata: c\ndata: \ndata: d\n\n");
    assert_eq!(interpret(&out).fired, [message("", "a\nb\nc\n\nd")]);
}

#[test]
fn non_utf8_is_a_binary_event_of_standard_base64() {
    let mut out = Vec::new();
    event(&mut out, Some(3), &[0xff, 0x00, b'\n', 0xfe]);
    assert_eq!(out, b"id: 3\nevent: binary\ndata: /wAK/g==\n\n");
    let fired = &interpret(&out).fired[0];
    assert_eq!(
        (fired.kind.as_str(), fired.last_event_id.as_str()),
        ("binary", "3")
    );
    let decoded = base64::engine::general_purpose::STANDARD.decode(&fired.data);
    assert_eq!(decoded.unwrap(), [0xff, 0x00, b'\n', 0xfe]);
}

#[test]
fn named_heartbeat_and_retry() {
    let mut out = Vec::new();
    retry(&mut out, 2000);
    heartbeat(&mut out);
    named(&mut out, "gap", r#"{"from":1,"to":4}"#);
    assert_eq!(
        out,
        b"retry: 2000\n\n: hb\n\nevent: gap\ndata: {\"from\":1,\"to\":4}\n\n"
    );
    let read = interpret(&out);
    assert_eq!((read.retry, read.comments), (Some(2000), 1));
    let gap = Fired {
        kind: "gap".into(),
        last_event_id: String::new(),
        data: r#"{"from":1,"to":4}"#.into(),
    };
    assert_eq!(read.fired, [gap]);
}

#[test]
fn last_event_id_is_digits_only() {
    assert_eq!(last_event_id(b"42"), Some(42));
    assert_eq!(last_event_id(b" 0042\t"), Some(42));
    assert_eq!(last_event_id(b"0"), Some(0));
    assert_eq!(last_event_id(b"18446744073709551615"), Some(u64::MAX));
    for bad in [
        &b""[..],
        b" ",
        b"+1",
        b"-1",
        b"1.0",
        b"0x10",
        b"1 2",
        b"18446744073709551616",
        b"\xff1",
    ] {
        assert_eq!(
            last_event_id(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

/// What a test stream is made of.
#[derive(Debug, Clone)]
enum Item {
    Event(Option<u64>, Vec<u8>),
    Named(String, String),
    Heartbeat,
    Retry(u64),
}

/// Text whose only line break is LF (any other character, NUL and U+FEFF included).
fn lf_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => any::<char>().prop_filter("LF is the only line break", |c| *c != '\r'),
            1 => Just('\n'),
            1 => Just(' '),
            1 => Just(':'),
        ],
        0..40,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => (prop::option::of(any::<u64>()), lf_text()).prop_map(|(id, t)| Item::Event(id, t.into_bytes())),
        2 => (prop::option::of(any::<u64>()), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(id, b)| Item::Event(id, b)),
        1 => (prop_oneof![Just("gap"), Just("slow")], lf_text())
            .prop_map(|(n, t)| Item::Named(n.to_string(), t)),
        1 => Just(Item::Heartbeat),
        1 => any::<u64>().prop_map(Item::Retry),
    ]
}

proptest! {
    /// UTF-8 payloads whose only line breaks are LF come back exactly, with their ids, through
    /// the reference reader; other bytes come back as `binary` events whose base64 decodes to
    /// them; heartbeats fire nothing; the last `retry` wins.
    #[test]
    fn browser_reads_back_exactly_what_was_framed(items in prop::collection::vec(item(), 0..20)) {
        let mut out = Vec::new();
        let (mut expected, mut sticky_id, mut last_retry, mut beats) = (Vec::new(), String::new(), None, 0);
        for item in &items {
            match item {
                Item::Event(id, data) => {
                    event(&mut out, *id, data);
                    if let Some(id) = id {
                        sticky_id = id.to_string();
                    }
                    let (kind, data) = match std::str::from_utf8(data) {
                        // Random bytes may be UTF-8 with a CR in them: it comes back as LF.
                        Ok(text) => ("message", text.replace("\r\n", "\n").replace('\r', "\n")),
                        Err(_) => ("binary", base64::engine::general_purpose::STANDARD.encode(data)),
                    };
                    expected.push(Fired { kind: kind.into(), last_event_id: sticky_id.clone(), data });
                }
                Item::Named(name, data) => {
                    named(&mut out, name, data);
                    expected.push(Fired { kind: name.clone(), last_event_id: sticky_id.clone(), data: data.clone() });
                }
                Item::Heartbeat => {
                    heartbeat(&mut out);
                    beats += 1;
                }
                Item::Retry(ms) => {
                    retry(&mut out, *ms);
                    last_retry = Some(*ms);
                }
            }
        }
        let read = interpret(&out);
        prop_assert_eq!(&read.fired, &expected);
        prop_assert_eq!((read.retry, read.comments), (last_retry, beats));
        for (fired, item) in read.fired.iter().filter(|f| f.kind == "binary").zip(
            items.iter().filter_map(|i| match i {
                Item::Event(_, d) if std::str::from_utf8(d).is_err() => Some(d),
                _ => None,
            }),
        ) {
            let decoded = base64::engine::general_purpose::STANDARD.decode(&fired.data).unwrap();
            prop_assert_eq!(&decoded, item);
        }
    }

    /// Any UTF-8 payload comes back with CRLF and lone CR turned into LF, and nothing else
    /// changed.
    #[test]
    fn cr_and_crlf_come_back_as_lf(text in "(\r|\n|\r\n|[a-z ]){0,30}") {
        let mut out = Vec::new();
        event(&mut out, Some(1), text.as_bytes());
        let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
        prop_assert_eq!(interpret(&out).fired, vec![message("1", &normalised)]);
    }

    /// `last_event_id` reads back every id `event` writes.
    #[test]
    fn last_event_id_round_trips(id in any::<u64>()) {
        prop_assert_eq!(last_event_id(id.to_string().as_bytes()), Some(id));
    }
}
