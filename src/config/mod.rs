//! Configuration: one typed [`Settings`] struct, filled from defaults, then a TOML file, then
//! `RINGWIRE_*` environment variables, then command-line flags. Every key is declared once in
//! [`keys::all`], which drives all four sources, `ringwire check-config` and `docs/CONFIG.md`.

mod error;
pub mod keys;
pub use error::{ConfigError, Source};
pub use keys::redact;
mod values;

use ringwire_reactor::Backend;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where the control core runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlCpu {
    /// A CPU no worker uses if there is one, else unpinned.
    Auto,
    /// Unpinned.
    None,
    /// This CPU.
    Cpu(usize),
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub listen: SocketAddr,
    pub io: Backend,
    pub workers: usize,
    pub cpus: Option<Vec<usize>>,
    pub root: Option<PathBuf>,
    pub server_name: Option<String>,
    pub backlog: u32,
    pub max_connections: usize,
    pub max_request_line: usize,
    pub max_head: usize,
    pub max_headers: usize,
    pub max_body: u64,
    pub head_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub body_timeout: Duration,
    pub write_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub log_level: String,
    pub log_format: LogFormat,
    pub access_sample: f64,
    pub admin: Option<SocketAddr>,
    pub control_cpu: ControlCpu,
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    pub stream_listen: Option<SocketAddr>,
    pub stream_enabled: bool,
    pub stream_handshake_timeout: Duration,
    pub stream_frame_timeout: Duration,
    pub stream_ping_interval: Duration,
    pub stream_ping_timeout: Duration,
    pub stream_max_streams: u32,
    pub stream_window: u32,
    pub stream_connection_window: u32,
    pub stream_max_frame: u32,
    pub subscriber_queue: usize,
    pub ring_entries: u32,
    pub recv_buffers: u16,
    pub recv_buffer_size: u32,
    pub db: DbSettings,
    pub cluster: ClusterSettings,
    pub channels: ringwire_services::channels::core::Settings,
    /// `headers.*`.
    pub headers: keys::HeaderSettings,
    /// `trace.*`.
    pub trace: keys::TraceSettings,
    /// `auth.*`, `limits.*`, `shed.*`: the edge.
    pub edge: ringwire_net::edge::EdgeConfig,
    /// `auth.public_metrics`: the admin listener's /metrics needs no token.
    pub public_metrics: bool,
    /// `tls.*`.
    pub tls: keys::TlsConfig,
}

/// `cluster.*`: the NATS bridge.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterSettings {
    /// NATS URLs; empty: no cluster.
    pub nats: Vec<String>,
    /// Bytes of cluster publishes held while NATS is unreachable.
    pub buffer: usize,
    /// This node's name; empty: `<hostname>-<pid>` (see [`ClusterSettings::node_name`]).
    pub node_name: String,
    /// JetStream replicas of durable channels' streams.
    pub replicas: usize,
}

impl ClusterSettings {
    /// The node's name: `cluster.node_name`, or `<hostname>-<pid>`.
    pub fn node_name(&self) -> String {
        if !self.node_name.is_empty() {
            return self.node_name.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "ringwire".into());
        format!("{host}-{}", std::process::id())
    }
}

/// The storage backend (`db.backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbBackend {
    Embedded,
    Postgres,
}

/// `db.*` and `kv.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct DbSettings {
    pub data_dir: PathBuf,
    pub backend: DbBackend,
    pub sync: ringwire_db::Sync,
    pub sync_interval: Duration,
    pub map_size: usize,
    pub max_readers: u32,
    pub max_value: usize,
    /// The PostgreSQL backend's settings (`db.url`, `db.pool.*`, ...); `max_value` is
    /// copied in by [`DbSettings::pg_settings`].
    pub pg: ringwire_db::pg::PgSettings,
}

impl DbSettings {
    /// The PostgreSQL backend's settings.
    pub fn pg_settings(&self) -> ringwire_db::pg::PgSettings {
        let mut p = self.pg.clone();
        p.max_value = self.max_value;
        p
    }

    /// The store's configuration.
    pub fn store_config(&self) -> ringwire_db::Config {
        let mut c = ringwire_db::Config::new(&self.data_dir);
        c.sync = self.sync;
        c.sync_interval = self.sync_interval;
        c.map_size = self.map_size;
        c.max_readers = self.max_readers;
        c.max_value = self.max_value;
        c
    }
}

impl Default for Settings {
    /// The embedded defaults: every key's `default` applied in order.
    fn default() -> Self {
        let mut s = Settings::zero();
        for key in keys::all() {
            (key.set)(&mut s, key.default)
                .unwrap_or_else(|e| panic!("bad default for {}: {e}", key.name));
        }
        s
    }
}

impl Settings {
    fn zero() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            io: Backend::Auto,
            workers: 0,
            cpus: None,
            root: None,
            server_name: None,
            backlog: 0,
            max_connections: 0,
            max_request_line: 0,
            max_head: 0,
            max_headers: 0,
            max_body: 0,
            head_timeout: Duration::ZERO,
            keepalive_timeout: Duration::ZERO,
            body_timeout: Duration::ZERO,
            write_timeout: Duration::ZERO,
            shutdown_timeout: Duration::ZERO,
            log_level: String::new(),
            log_format: LogFormat::Text,
            access_sample: 0.0,
            admin: None,
            control_cpu: ControlCpu::Auto,
            heartbeat_interval: Duration::ZERO,
            heartbeat_timeout: Duration::ZERO,
            stream_listen: None,
            stream_enabled: false,
            stream_handshake_timeout: Duration::ZERO,
            stream_frame_timeout: Duration::ZERO,
            stream_ping_interval: Duration::ZERO,
            stream_ping_timeout: Duration::ZERO,
            stream_max_streams: 0,
            stream_window: 0,
            stream_connection_window: 0,
            stream_max_frame: 0,
            subscriber_queue: 0,
            ring_entries: 0,
            recv_buffers: 0,
            recv_buffer_size: 0,
            db: DbSettings {
                data_dir: PathBuf::new(),
                backend: DbBackend::Embedded,
                sync: ringwire_db::Sync::Always,
                sync_interval: Duration::ZERO,
                map_size: 0,
                max_readers: 0,
                max_value: 0,
                pg: ringwire_db::pg::PgSettings::new(""),
            },
            cluster: ClusterSettings::default(),
            channels: Default::default(),
            headers: Default::default(),
            trace: Default::default(),
            edge: Default::default(),
            public_metrics: false,
            tls: keys::TlsConfig::default(),
        }
    }

    /// Where a key's value came from, for error messages.
    fn set(&mut self, name: &str, value: &str, source: &Source) -> Result<(), ConfigError> {
        let key = keys::find(name).ok_or_else(|| ConfigError::UnknownKey {
            key: name.to_string(),
            source: source.clone(),
        })?;
        (key.set)(self, value).map_err(|reason| ConfigError::Invalid {
            key: key.name,
            source: source.clone(),
            reason,
        })
    }

    /// Layers a TOML document over these settings.
    pub fn apply_toml(&mut self, text: &str, file: &str) -> Result<(), ConfigError> {
        let source = Source::File(file.to_string());
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_string(),
            reason: e.to_string(),
        })?;
        for (name, value) in flatten(&table) {
            self.set(&name, &value, &source)?;
        }
        Ok(())
    }

    /// Layers `RINGWIRE_*` variables from `vars` over these settings.
    pub fn apply_env<I: IntoIterator<Item = (String, String)>>(
        &mut self,
        vars: I,
    ) -> Result<(), ConfigError> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        for (var, value) in &vars {
            if let Some((_, key)) = keys::ENV_ALIASES.iter().find(|(a, _)| a == var) {
                self.set(key, value, &Source::Env(var.clone()))?;
            }
        }
        for (var, value) in vars {
            let Some(key) = keys::all().find(|k| keys::env_name(k) == var) else {
                continue;
            };
            self.set(key.name, &value, &Source::Env(var.clone()))?;
        }
        Ok(())
    }

    /// Layers one flag value over these settings.
    pub fn apply_flag(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let flag = keys::find(key)
            .map(|k| format!("--{}", k.flag))
            .unwrap_or_else(|| key.to_string());
        self.set(key, value, &Source::Flag(flag))
    }

    /// Checks rules that span keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid {
            key,
            source: Source::Combined,
            reason,
        };
        if let Some(root) = &self.root {
            if !root.is_dir() {
                return Err(invalid(
                    "root",
                    format!("{} is not a directory", root.display()),
                ));
            }
        }
        if let Err((key, reason)) = self.tls.check(self.edge.client_scopes.is_some()) {
            return Err(invalid(key, reason));
        }
        if let Err(e) = self.stream_settings().validate() {
            return Err(invalid("stream", e.to_string()));
        }
        if self.heartbeat_timeout <= self.heartbeat_interval {
            return Err(invalid(
                "ops.heartbeat_timeout",
                "must be longer than ops.heartbeat_interval".into(),
            ));
        }
        if let Some(cpus) = &self.cpus {
            let allowed = ringwire_reactor::launcher::available_cpus();
            if let Some(c) = cpus.iter().find(|c| !allowed.contains(c)) {
                return Err(invalid(
                    "cpus",
                    format!("cpu {c} is not available to this process (allowed: {allowed:?})"),
                ));
            }
        }
        Ok(())
    }

    /// The settings as a TOML document (what `check-config` prints).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let mut section = "";
        // Grouped by section (in the order sections first appear): a TOML table is written
        // once, even where keys of one section are declared in several places.
        let mut sections: Vec<&str> = Vec::new();
        for key in keys::all() {
            let sec = key.name.rsplit_once('.').map_or("", |(s, _)| s);
            if !sections.contains(&sec) {
                sections.push(sec);
            }
        }
        let ordered = sections.iter().flat_map(|want| {
            keys::all().filter(move |k| k.name.rsplit_once('.').map_or("", |(s, _)| s) == *want)
        });
        for key in ordered {
            let (sec, name) = key.name.rsplit_once('.').unwrap_or(("", key.name));
            if sec != section {
                out.push_str(&format!("\n[{sec}]\n"));
                section = sec;
            }
            let value = (key.get)(self);
            let shown = match key.kind {
                keys::Kind::Number | keys::Kind::Bool => value,
                keys::Kind::Text => format!("{value:?}"),
            };
            out.push_str(&format!("{name} = {shown}\n"));
        }
        out.trim_start().to_string()
    }

    /// The stream protocol's limits, as announced in the server's HELLO.
    pub fn stream_settings(&self) -> ringwire_protocol::stream::Settings {
        ringwire_protocol::stream::Settings {
            max_frame_size: self.stream_max_frame,
            initial_stream_window: self.stream_window,
            initial_connection_window: self.stream_connection_window,
            max_concurrent_streams: self.stream_max_streams,
            ..Default::default()
        }
    }

    /// The HTTP connection-layer configuration these settings describe.
    pub fn net_config(&self) -> ringwire_net::Config {
        let limits = ringwire_protocol::http1::Limits {
            max_request_line: self.max_request_line,
            max_head: self.max_head,
            max_headers: self.max_headers,
            max_body: self.max_body,
            ..Default::default()
        };
        ringwire_net::Config {
            backlog: self.backlog,
            nodelay: true,
            head_timeout: self.head_timeout,
            keepalive_timeout: self.keepalive_timeout,
            body_timeout: self.body_timeout,
            write_timeout: self.write_timeout,
            max_connections: self.max_connections,
            limits,
            server_name: self.server_name.clone(),
            access_log_sample: self.access_sample,
            trace_sample: self.trace.sample,
            stream: ringwire_net::StreamTimeouts {
                handshake: self.stream_handshake_timeout,
                frame: self.stream_frame_timeout,
                ping_interval: self.stream_ping_interval,
                ping_timeout: self.stream_ping_timeout,
            },
            headers: self.headers.security_headers(),
        }
    }
}

/// Turns nested tables into dotted keys with string values.
fn flatten(table: &toml::Table) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in table {
        match v {
            toml::Value::Table(t) => {
                for (sub, val) in flatten(t) {
                    out.push((format!("{k}.{sub}"), val));
                }
            }
            toml::Value::String(s) => out.push((k.clone(), s.clone())),
            toml::Value::Array(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        // `[[limits.rate]]`: each table becomes `MATCH;key=..;rate=..;burst=..`.
                        toml::Value::Table(t) => table_item(t),
                        _ => i.to_string().trim_matches('"').to_string(),
                    })
                    .collect();
                out.push((k.clone(), parts.join(",")));
            }
            other => out.push((k.clone(), other.to_string())),
        }
    }
    out
}

/// One table of an array of tables as the list item its key parses: the `match` value first,
/// then `name=value` for the other entries, `;`-separated.
fn table_item(t: &toml::Table) -> String {
    let text = |v: &toml::Value| match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut parts: Vec<String> = t.get("match").map(text).into_iter().collect();
    for (name, value) in t.iter().filter(|(n, _)| *n != "match") {
        parts.push(format!("{name}={}", text(value)));
    }
    parts.join(";")
}

#[cfg(test)]
mod tests;
