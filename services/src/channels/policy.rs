//! Which channels are durable, and what each keeps (`pubsub.durable`).
//!
//! The setting is a comma-separated list of entries
//! `PATTERN[;max_count=N][;max_bytes=SIZE][;max_age=DURATION]`. A pattern uses NATS token
//! semantics: `*` matches exactly one token, `>` (only as the last token) matches one or more
//! tokens, any other token matches itself. The first entry whose pattern matches a channel
//! decides: the channel is durable and keeps what that entry's [`Retention`] allows. A channel
//! no entry matches is ephemeral.

use ringwire_db::Trim;
use std::fmt;
use std::time::Duration;

/// The longest pattern, in bytes (a longer one could never match a channel, which has at most
/// 64 bytes).
pub const MAX_PATTERN: usize = 64;

/// A channel pattern: tokens separated by `.`; `*` is one token, a final `>` one or more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
}

impl Pattern {
    /// Checks and wraps `text`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if text.is_empty() {
            return Err("empty pattern".into());
        }
        if text.len() > MAX_PATTERN {
            return Err(format!(
                "pattern {text:?} is longer than {MAX_PATTERN} bytes and can never match"
            ));
        }
        let count = text.split('.').count();
        for (i, token) in text.split('.').enumerate() {
            match token {
                "" => {
                    return Err(format!(
                        "pattern {text:?} has an empty token (a leading, trailing or double dot)"
                    ));
                }
                "*" => {}
                ">" if i + 1 == count => {}
                ">" => {
                    return Err(format!("pattern {text:?}: `>` may only be the last token"));
                }
                t if t.bytes().all(token_byte) => {}
                t if t.contains(['*', '>']) => {
                    return Err(format!(
                        "pattern {text:?}: `*` and `>` must be a whole token, as in `orders.*`"
                    ));
                }
                t => {
                    return Err(format!(
                        "pattern {text:?}: token {t:?} may only hold A-Z a-z 0-9 _ : -"
                    ));
                }
            }
        }
        Ok(Pattern {
            text: text.to_owned(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `channel` (a valid channel name) matches.
    pub fn matches(&self, channel: &str) -> bool {
        let mut names = channel.split('.');
        for token in self.text.split('.') {
            if token == ">" {
                return names.next().is_some();
            }
            match names.next() {
                Some(name) if token == "*" || token == name => {}
                _ => return false,
            }
        }
        names.next().is_none()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A byte a literal pattern token (and a channel token) may hold.
fn token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-')
}

/// What a durable channel keeps; `None` = unbounded in that dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// At most this many messages.
    pub max_count: Option<u64>,
    /// At most this many bytes of message data.
    pub max_bytes: Option<u64>,
    /// No message older than this.
    pub max_age: Option<Duration>,
}

impl Retention {
    /// The store's trim request for these bounds.
    pub fn to_trim(&self) -> Trim {
        Trim {
            max_count: self.max_count,
            max_bytes: self.max_bytes,
            max_age: self.max_age,
        }
    }

    /// Whether no bound is set (the channel keeps everything).
    pub fn is_unbounded(&self) -> bool {
        self.max_count.is_none() && self.max_bytes.is_none() && self.max_age.is_none()
    }
}

/// The parsed `pubsub.durable` setting: patterns and their retention, first match wins.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Durability {
    /// The entries in the order written.
    pub entries: Vec<(Pattern, Retention)>,
}

impl Durability {
    /// The retention of `channel` if it is durable (the first matching entry), else `None`.
    pub fn lookup(&self, channel: &str) -> Option<&Retention> {
        self.entries
            .iter()
            .find(|(p, _)| p.matches(channel))
            .map(|(_, r)| r)
    }

    /// Whether no channel is durable.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Parses the `pubsub.durable` text: comma-separated
    /// `PATTERN[;max_count=N][;max_bytes=SIZE][;max_age=DURATION]` entries (whitespace around
    /// items is ignored, empty entries are skipped). `size` and `duration` parse the values of
    /// `max_bytes` and `max_age` (the configuration's own unit parsers).
    pub fn parse(
        text: &str,
        size: impl Fn(&str) -> Result<u64, String>,
        duration: impl Fn(&str) -> Result<Duration, String>,
    ) -> Result<Durability, String> {
        let mut entries = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let e = parse_entry(entry, &size, &duration)
                .map_err(|why| format!("pubsub.durable entry {entry:?}: {why}"))?;
            entries.push(e);
        }
        Ok(Durability { entries })
    }
}

const EXPECTED: &str = "expected PATTERN[;max_count=N][;max_bytes=SIZE][;max_age=DURATION]";

fn parse_entry(
    entry: &str,
    size: &impl Fn(&str) -> Result<u64, String>,
    duration: &impl Fn(&str) -> Result<Duration, String>,
) -> Result<(Pattern, Retention), String> {
    let mut items = entry.split(';').map(str::trim);
    let pattern = Pattern::parse(items.next().unwrap_or(""))?;
    let mut r = Retention::default();
    for item in items {
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!("{item:?} is not key=value; {EXPECTED}"));
        };
        let (key, value) = (key.trim(), value.trim());
        let dup = || format!("{key} is given twice");
        match key {
            "max_count" => {
                let n: u64 = value
                    .parse()
                    .map_err(|_| format!("max_count must be a whole number, got {value:?}"))?;
                if n == 0 {
                    return Err("max_count must be at least 1".into());
                }
                if r.max_count.replace(n).is_some() {
                    return Err(dup());
                }
            }
            "max_bytes" => {
                let n = size(value).map_err(|e| format!("max_bytes: {e}"))?;
                if n == 0 {
                    return Err("max_bytes must be at least 1".into());
                }
                if r.max_bytes.replace(n).is_some() {
                    return Err(dup());
                }
            }
            "max_age" => {
                let d = duration(value).map_err(|e| format!("max_age: {e}"))?;
                if d.is_zero() {
                    return Err("max_age must be more than 0".into());
                }
                if r.max_age.replace(d).is_some() {
                    return Err(dup());
                }
            }
            _ => {
                return Err(format!(
                    "unknown key {key:?} (use max_count, max_bytes or max_age)"
                ));
            }
        }
    }
    Ok((pattern, r))
}

impl fmt::Display for Durability {
    /// The text [`Durability::parse`] reads back (with the configuration's unit parsers).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (p, r)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{p}")?;
            if let Some(n) = r.max_count {
                write!(f, ";max_count={n}")?;
            }
            if let Some(n) = r.max_bytes {
                write!(f, ";max_bytes={}", show_size(n))?;
            }
            if let Some(d) = r.max_age {
                write!(f, ";max_age={}", show_duration(d))?;
            }
        }
        Ok(())
    }
}

/// A size in the largest binary unit that divides it: `1GiB`, `64KiB`, `1000`.
pub fn show_size(n: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if n != 0 && n.trailing_zeros() >= shift {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

/// A duration in the largest unit that divides it: `7d`, `90m`, `1500ms`, `1ns`.
pub fn show_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos % 1_000_000 != 0 {
        return format!("{nanos}ns");
    }
    let ms = nanos / 1_000_000;
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    for (unit, secs) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s != 0 && s % secs == 0 {
            return format!("{}{unit}", s / secs);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests;
