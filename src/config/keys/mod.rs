//! Every configuration key, declared once: its dotted name (TOML), flag, default and help.
//! The environment variable is derived: `RINGWIRE_` + the name upper-cased with `.` → `_`.

mod channels;
mod cluster;
mod edge;
mod headers;
mod postgres;
mod server;
mod storage;
mod subsystems;
mod tls;
mod trace;

pub use headers::HeaderSettings;
pub use postgres::redact;
pub use tls::TlsConfig;
#[cfg(feature = "otlp")]
pub use trace::OtlpEndpoint;
pub use trace::TraceSettings;

use super::Settings;

/// How a value is written in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    /// `true` or `false`, written bare.
    Bool,
}

/// One configuration key.
pub struct Key {
    /// Dotted TOML name, e.g. `timeouts.head`.
    pub name: &'static str,
    /// Long flag without dashes, e.g. `head-timeout`.
    pub flag: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub help: &'static str,
    pub set: fn(&mut Settings, &str) -> Result<(), String>,
    pub get: fn(&Settings) -> String,
}

/// `RINGWIRE_TIMEOUTS_HEAD` for `timeouts.head`.
pub fn env_name(key: &Key) -> String {
    format!(
        "RINGWIRE_{}",
        key.name.replace('.', "_").to_ascii_uppercase()
    )
}

/// Shorter environment variables some keys also answer to; the derived name wins if both are
/// set.
pub static ENV_ALIASES: &[(&str, &str)] = &[("RINGWIRE_DATA_DIR", "db.data_dir")];

/// Every key, in the order of `docs/CONFIG.md`.
pub fn all() -> impl Iterator<Item = &'static Key> {
    server::KEYS
        .iter()
        .chain(subsystems::KEYS)
        .chain(trace::KEYS)
        .chain(headers::KEYS)
        .chain(edge::KEYS)
        .chain(tls::KEYS)
        .chain(storage::KEYS)
        .chain(postgres::KEYS)
        .chain(storage::KV_KEYS)
        .chain(channels::KEYS)
        .chain(cluster::KEYS)
}

/// The key called `name` (dotted name or flag).
pub fn find(name: &str) -> Option<&'static Key> {
    all().find(|k| k.name == name || k.flag == name)
}

pub(super) fn opt_text(v: &str) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.to_string())
}

pub(super) fn positive(d: std::time::Duration) -> Result<std::time::Duration, String> {
    if d.is_zero() {
        Err("must be greater than zero".into())
    } else {
        Ok(d)
    }
}
