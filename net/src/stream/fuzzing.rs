//! Entry points for the fuzz targets in `fuzz/` (run on stable Rust over the checked-in seeds
//! by `net/tests/fuzz_corpus.rs`). Each panics when an invariant breaks.

use super::pubsub::{Command, MAX_CHANNEL, message_limit, parse_command};
use ringwire_protocol::stream::Settings;

/// The `pubsub` service's command line: [`parse_command`] agrees with an independent reading
/// of the grammar in `docs/PROTOCOL.md`, a parsed line prints back to exactly its input, and
/// the message limit derived from any settings (the input's first 12 bytes) is within them.
pub fn pubsub_command(data: &[u8]) {
    let parsed = parse_command(data);
    assert_eq!(parsed, reference(data), "parser and grammar disagree");
    if let Some(command) = parsed {
        let (verb, channel) = match command {
            Command::Sub(c) => ("SUB", c),
            Command::Pub(c) => ("PUB", c),
        };
        assert!((1..=MAX_CHANNEL).contains(&channel.len()));
        assert_eq!(format!("{verb} {channel}\n").as_bytes(), data);
    }
    if let Some(words) = data.get(..12) {
        let word = |i: usize| u32::from_be_bytes(words[i * 4..i * 4 + 4].try_into().unwrap());
        let settings = Settings {
            max_frame_size: word(0).clamp(1024, (1 << 24) - 1),
            initial_stream_window: word(1) >> 1,
            initial_connection_window: word(2) >> 1,
            ..Settings::default()
        };
        let limit = message_limit(&settings);
        assert!(limit >= 1 && limit <= settings.max_frame_size as usize);
        let half = |w: u32| (w as usize / 2).max(1);
        assert!(limit <= half(settings.initial_stream_window));
        assert!(limit <= half(settings.initial_connection_window));
    }
}

/// The grammar, read differently: text, a verb and the rest split at the first space, the
/// rest ending in exactly one newline, the channel split into its dot-separated tokens.
fn reference(data: &[u8]) -> Option<Command<'_>> {
    let text = std::str::from_utf8(data).ok()?;
    let (verb, rest) = text.split_once(' ')?;
    let channel = rest.strip_suffix('\n')?;
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-');
    let token = |t: &str| !t.is_empty() && t.bytes().all(allowed);
    if channel.len() > 64 || !channel.split('.').all(token) {
        return None;
    }
    match verb {
        "SUB" => Some(Command::Sub(channel)),
        "PUB" => Some(Command::Pub(channel)),
        _ => None,
    }
}
