//! Log setup: `tracing` events as text or JSON lines on stderr (the journal, under systemd),
//! written by a background thread so a worker never blocks on logging, with a level filter
//! that SIGHUP can change at run time.

use std::io::IsTerminal;
use tracing_subscriber::{
    EnvFilter, Layer, Registry, layer::SubscriberExt, reload, util::SubscriberInitExt,
};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The installed logger. Keep it alive until exit: dropping it flushes the writer thread.
pub struct Logging {
    filter: reload::Handle<EnvFilter, Registry>,
    _flush: tracing_appender::non_blocking::WorkerGuard,
}

impl Logging {
    /// Installs the global subscriber with `level` (a tracing filter: `info`,
    /// `ringwire_net=debug,warn`, ...).
    pub fn init(level: &str, format: Format) -> Result<Logging, String> {
        let filter =
            EnvFilter::try_new(level).map_err(|e| format!("invalid log level {level:?}: {e}"))?;
        let (filter, handle) = reload::Layer::new(filter);
        // Lossy: when the writer thread falls behind, lines are dropped rather than making a
        // worker wait. The buffer holds 128k lines.
        let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
        let fmt = match format {
            Format::Text => tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(std::io::stderr().is_terminal())
                .with_thread_names(true)
                .boxed(),
            Format::Json => tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_thread_names(true)
                .boxed(),
        };
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .try_init()
            .map_err(|e| format!("cannot install the logger: {e}"))?;
        Ok(Logging {
            filter: handle,
            _flush: guard,
        })
    }

    /// Changes the level filter (SIGHUP).
    pub fn set_level(&self, level: &str) -> Result<(), String> {
        let filter =
            EnvFilter::try_new(level).map_err(|e| format!("invalid log level {level:?}: {e}"))?;
        self.filter.reload(filter).map_err(|e| e.to_string())
    }
}
