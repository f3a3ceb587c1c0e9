//! Configuration errors: which key, where its value came from ([`Source`]), and why.

use std::fmt;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(String),
    Env(String),
    Flag(String),
    /// A rule between several keys.
    Combined,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "in {p}"),
            Source::Env(v) => write!(f, "from ${v}"),
            Source::Flag(fl) => write!(f, "from {fl}"),
            Source::Combined => f.write_str("in the effective configuration"),
        }
    }
}

/// A configuration problem, naming the key and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    UnknownKey {
        key: String,
        source: Source,
    },
    Invalid {
        key: &'static str,
        source: Source,
        reason: String,
    },
    Syntax {
        file: String,
        reason: String,
    },
    Read {
        file: String,
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownKey { key, source } => {
                write!(f, "unknown configuration key {key:?} {source}")
            }
            ConfigError::Invalid {
                key,
                source,
                reason,
            } => write!(f, "invalid value for {key} {source}: {reason}"),
            ConfigError::Syntax { file, reason } => write!(f, "cannot parse {file}: {reason}"),
            ConfigError::Read { file, reason } => write!(f, "cannot read {file}: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}
