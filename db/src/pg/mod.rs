//! The PostgreSQL backend: the same store API on a PostgreSQL server, through per-core
//! connection pools driven on each worker's own reactor.
//!
//! - [`PgStore`] is shared by every core (`Send + Sync`): the settings, the resolved server
//!   address and each core's numbers. [`PgStore::core`] makes a core's [`PgCore`] on that
//!   core's thread: its own pool of connections, circuit breaker and retry schedule, so the
//!   request path takes no lock and no message.
//! - The driver is `tokio-postgres` without its runtime: [`socket`] gives it tokio's I/O
//!   traits over a ringwire socket, and its connection task runs on the core's reactor.
//! - Every statement is one of a fixed set ([`sql`]), prepared once per connection.
//! - The schema is versioned SQL in `db/migrations/`, embedded in the binary ([`migrate`]).

pub mod breaker;
mod conn;
mod core;
mod exec;
mod fail;
pub mod migrate;
mod pool;
pub mod retry;
pub mod slots;
mod socket;
mod sql;
mod stats;

pub use self::core::PgCore;
pub use stats::{BOUNDS_US, Histogram, PgCoreSnapshot};

pub(crate) use exec::{Answer, Query};
pub(crate) use fail::Fail;

use breaker::{Breaker, BreakerConfig, BreakerState};
use retry::RetryConfig;
use slots::{PoolConfig, Slots};
use stats::CoreStats;
use std::{rc::Rc, sync::Arc, time::Duration};

/// How the PostgreSQL backend connects and behaves. Its `Debug` never shows the URL's
/// password.
#[derive(Clone, PartialEq)]
pub struct PgSettings {
    /// `postgres://user:password@host:port/database` (`db.url`).
    pub url: String,
    /// Each core's pool (`db.pool.*`).
    pub pool: PoolConfig,
    /// Each core's circuit breaker (`db.breaker.*`).
    pub breaker: BreakerConfig,
    /// Retries of transient failures (`db.retry.*`).
    pub retry: RetryConfig,
    /// TCP connect, startup and authentication together (`db.connect_timeout`).
    pub connect_timeout: Duration,
    /// The longest a statement may run (`db.query_timeout`): PostgreSQL's
    /// `statement_timeout` on every pooled connection.
    pub query_timeout: Duration,
    /// The largest value accepted (`kv.max_value`).
    pub max_value: usize,
}

/// `url` with its password hidden, wherever it is written: `user:secret@` in a URL, a
/// `password=` parameter of a URL or of a key/value connection string.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((auth, host)) = rest.split_once('@').filter(|(a, _)| !a.contains('/')) {
            if let Some((user, _)) = auth.split_once(':') {
                out = format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    let mut from = 0;
    while let Some(at) = out[from..].find("password=") {
        let start = from + at + "password=".len();
        let end = out[start..]
            .find(['&', ' '])
            .map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "***");
        from = start + 3;
    }
    out
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &redact(&self.url))
            .field("pool", &self.pool)
            .field("breaker", &self.breaker)
            .field("retry", &self.retry)
            .field("connect_timeout", &self.connect_timeout)
            .field("query_timeout", &self.query_timeout)
            .field("max_value", &self.max_value)
            .finish()
    }
}

impl PgSettings {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> PgSettings {
        PgSettings {
            url: url.into(),
            pool: PoolConfig::default(),
            breaker: BreakerConfig::default(),
            retry: RetryConfig::default(),
            connect_timeout: Duration::from_secs(3),
            query_timeout: Duration::from_secs(2),
            max_value: 1 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_hidden_wherever_they_are_written() {
        for (url, shown) in [
            (
                "postgres://me:s3cret@db:5432/app",
                "postgres://me:***@db:5432/app",
            ),
            (
                "postgres://me@db/app?password=s3cret&sslmode=disable",
                "postgres://me@db/app?password=***&sslmode=disable",
            ),
            (
                "host=db password=s3cret user=me",
                "host=db password=*** user=me",
            ),
            ("postgres://db/app", "postgres://db/app"),
        ] {
            assert_eq!(super::redact(url), shown);
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let s = super::PgSettings::new("postgres://me:s3cret@db.example:5432/app");
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("db.example:5432/app"),
            "{shown}"
        );
    }
}

/// The PostgreSQL backend, shared by every core. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Shared>,
}

struct Shared {
    settings: PgSettings,
    target: conn::Target,
    cores: Vec<Arc<CoreStats>>,
    /// The readiness probe's connection (used on the control core only; the lock is never
    /// held across an await).
    probe: std::sync::Mutex<Option<tokio_postgres::Client>>,
}

impl PgStore {
    /// Checks the settings and resolves the server's address, for `cores` worker cores.
    /// Connects to nothing yet (see [`migrate::run`] and [`PgStore::core`]).
    pub fn open(settings: PgSettings, cores: usize) -> Result<PgStore, crate::Error> {
        if settings.pool.max == 0 || settings.pool.min > settings.pool.max {
            return Err(crate::Error::Storage(format!(
                "db.pool.min ({}) must be at most db.pool.max ({}), and max at least 1",
                settings.pool.min, settings.pool.max
            )));
        }
        let target = conn::Target::new(&settings).map_err(crate::Error::Storage)?;
        Ok(PgStore {
            inner: Arc::new(Shared {
                settings,
                target,
                cores: (0..cores.max(1)).map(|_| Arc::default()).collect(),
                probe: std::sync::Mutex::new(None),
            }),
        })
    }

    /// The settings it was opened with.
    pub fn settings(&self) -> &PgSettings {
        &self.inner.settings
    }

    /// Core `index`'s handle: call it on that core's thread (its pool lives there).
    pub fn core(&self, index: usize) -> Rc<PgCore> {
        let s = &self.inner.settings;
        let stats = self.inner.cores[index % self.inner.cores.len()].clone();
        let pool = pool::Pool::new(
            Slots::new(s.pool.clone()),
            self.inner.target.clone(),
            stats.clone(),
        );
        PgCore::new(
            pool,
            Breaker::new(s.breaker.clone()),
            s.retry.clone(),
            s.query_timeout,
            s.max_value,
            stats,
        )
    }

    /// Every core's numbers.
    pub fn snapshot(&self) -> Vec<PgCoreSnapshot> {
        self.inner
            .cores
            .iter()
            .enumerate()
            .map(|(i, c)| c.snapshot(i))
            .collect()
    }

    /// The cores whose breaker is open now.
    pub fn open_breakers(&self) -> Vec<usize> {
        self.snapshot()
            .iter()
            .filter(|c| c.breaker == BreakerState::Open)
            .map(|c| c.core)
            .collect()
    }

    /// Readiness: a round trip (`SELECT 1`) on the probe's own connection, opened again when
    /// it is gone. Run on the control core's reactor; it uses no worker's pool, so it reflects
    /// the database now, not the last request.
    pub async fn probe(&self) -> Result<(), String> {
        let kept = self
            .inner
            .probe
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .filter(|c| !c.is_closed());
        let client = match kept {
            Some(c) => c,
            None => {
                conn::open(&self.inner.target, false)
                    .await
                    .map_err(|f| match f {
                        Fail::Db(d) => d.message,
                        Fail::Request(e) => e.to_string(),
                    })?
                    .client
            }
        };
        let r = ringwire_reactor::time::timeout(
            self.inner.settings.connect_timeout,
            client.simple_query(sql::Stmt::Ping.sql()),
        )
        .await;
        match r {
            Ok(Ok(_)) => {
                *self.inner.probe.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
                Ok(())
            }
            Ok(Err(e)) => Err(format!("PostgreSQL: {e}")),
            Err(_) => Err("PostgreSQL did not answer SELECT 1 in time".into()),
        }
    }

    pub(crate) fn target(&self) -> &conn::Target {
        &self.inner.target
    }
}
