//! Names on the NATS side: a durable channel's stream and subject, and the keys of the
//! consumer-state bucket.
//!
//! **Stream names.** NATS stream names may not contain whitespace, `.`, `*`, `>`, `/` or `\`,
//! and they become directory names in every server's JetStream store, so they are kept to
//! `A-Z a-z 0-9 _ -`. A channel is tokens of `A-Z a-z 0-9 _ : -` joined by `.`; its stream is
//! `RW_` followed by the channel with each `.` written `_` and the three other punctuation
//! characters escaped with `-`: `_` as `-_`, `-` as `--`, `:` as `-c`. Every `_` in the tail
//! is then a dot and every `-` starts a two-character escape, so the mapping is reversible
//! and no two channels share a stream: `orders.eu` → `RW_orders_eu`, `a_b` → `RW_a-_b`,
//! `x:y-z` → `RW_x-cy--z`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// The prefix of every durable channel's stream name.
pub const STREAM_PREFIX: &str = "RW_";
/// The prefix of every durable channel's subject.
pub const SUBJECT_PREFIX: &str = "ringwire.ds.";
/// The bucket of named consumers' state (stream `KV_RW_CONSUMERS`).
pub const CONSUMER_BUCKET: &str = "RW_CONSUMERS";

/// The JetStream stream of durable channel `channel` (a valid channel name).
pub fn stream_name(channel: &str) -> String {
    let mut out = String::with_capacity(STREAM_PREFIX.len() + 2 * channel.len());
    out.push_str(STREAM_PREFIX);
    for c in channel.chars() {
        match c {
            '.' => out.push('_'),
            '_' => out.push_str("-_"),
            '-' => out.push_str("--"),
            ':' => out.push_str("-c"),
            c => out.push(c),
        }
    }
    out
}

/// The channel whose stream is `stream`, if it is one of [`stream_name`]'s.
pub fn channel_of_stream(stream: &str) -> Option<String> {
    let mut rest = stream.strip_prefix(STREAM_PREFIX)?.chars();
    let mut out = String::with_capacity(stream.len());
    while let Some(c) = rest.next() {
        match c {
            '_' => out.push('.'),
            '-' => match rest.next()? {
                '_' => out.push('_'),
                '-' => out.push('-'),
                'c' => out.push(':'),
                _ => return None,
            },
            c if c.is_ascii_alphanumeric() => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

/// The subject durable channel `channel` is stored from (a plain NATS subject too).
pub fn subject(channel: &str) -> String {
    format!("{SUBJECT_PREFIX}{channel}")
}

/// The channel of a durable channel's subject, if it is one.
pub fn channel_of_subject(subject: &str) -> Option<&str> {
    subject.strip_prefix(SUBJECT_PREFIX)
}

/// The subject of consumer-state key `key` in the bucket: any bytes (consumer keys start
/// with NUL) as unpadded URL-safe base64, which is a valid KV key and subject token.
pub fn kv_subject(key: &[u8]) -> String {
    format!("$KV.{CONSUMER_BUCKET}.{}", URL_SAFE_NO_PAD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ringwire_protocol::channels::valid_channel;

    #[test]
    fn examples() {
        assert_eq!(stream_name("orders.eu"), "RW_orders_eu");
        assert_eq!(stream_name("a_b"), "RW_a-_b");
        assert_eq!(stream_name("x:y-z"), "RW_x-cy--z");
        assert_eq!(stream_name("a._b"), "RW_a_-_b");
        assert_ne!(stream_name("a._b"), stream_name("a_.b"));
        assert_eq!(subject("a.b"), "ringwire.ds.a.b");
        assert_eq!(channel_of_subject("ringwire.ds.a.b"), Some("a.b"));
        assert_eq!(channel_of_subject("ringwire.ch.a.b"), None);
        assert_eq!(channel_of_stream("KV_RW_CONSUMERS"), None);
        assert_eq!(channel_of_stream("RW_a-x"), None);
        assert_eq!(channel_of_stream("RW_a-"), None);
    }

    #[test]
    fn kv_subjects_are_single_valid_tokens() {
        let s = kv_subject(b"\0ch/orders.eu\0billing");
        let token = s.strip_prefix("$KV.RW_CONSUMERS.").unwrap();
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(kv_subject(b"a"), kv_subject(b"b"));
    }

    fn channel() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_:-]{1,6}(\\.[A-Za-z0-9_:-]{1,6}){0,5}"
            .prop_filter("valid channel", |c| valid_channel(c.as_bytes()))
    }

    proptest! {
        #[test]
        fn stream_names_are_allowed_and_reversible(c in channel()) {
            let s = stream_name(&c);
            prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            prop_assert_eq!(channel_of_stream(&s), Some(c));
        }

        #[test]
        fn distinct_channels_get_distinct_streams(a in channel(), b in channel()) {
            prop_assume!(a != b);
            prop_assert_ne!(stream_name(&a), stream_name(&b));
        }
    }
}
