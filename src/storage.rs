//! The store's place in the server: opened before the workers start, checked by readiness,
//! measured on `/metrics`.

use crate::config::{DbBackend, Settings};
use ringwire_db::{
    Backend, DbSnapshot, Store,
    pg::{PgStore, migrate},
};
use ringwire_ops::{
    CheckResult, HealthCheck,
    metrics::{
        Collector, histogram,
        text::{Exposition, Kind},
    },
};
use std::{future::Future, pin::Pin};

/// Opens the configured backend before the workers start. PostgreSQL: checks the pool bounds
/// against the server's `max_connections` and applies pending migrations (under an advisory
/// lock, so several nodes may start at once); a server that cannot be reached fails the
/// start with the reason (systemd restarts it).
pub fn open(settings: &Settings, workers: usize) -> Result<Backend, String> {
    let db = &settings.db;
    match db.backend {
        DbBackend::Embedded => {
            // Every worker, the control core and a few tools (db backup, db stats) read at once.
            if workers + 8 > db.max_readers as usize {
                return Err(format!(
                    "db.max_readers = {} is too few for {workers} workers: set it to at least {}",
                    db.max_readers,
                    workers + 8
                ));
            }
            let store = Store::open(db.store_config())
                .map_err(|e| format!("db.data_dir {}: {e}", db.data_dir.display()))?;
            tracing::info!(
                "store: {} (db.sync = {}, db.map_size = {} bytes)",
                db.data_dir.display(),
                db.sync.name(),
                db.map_size
            );
            Ok(Backend::Embedded(store))
        }
        DbBackend::Postgres => {
            let url = crate::config::redact(&db.pg.url);
            let pg = PgStore::open(db.pg_settings(), workers).map_err(|e| format!("{e}"))?;
            let rt = ringwire_reactor::Runtime::builder()
                .backend(ringwire_reactor::Backend::Poll)
                .build()
                .map_err(|e| format!("db: {e}"))?;
            rt.block_on(async {
                let (max, reserved) = migrate::check_limits(&pg, workers)
                    .await
                    .map_err(|e| format!("db.url {url}: {e}"))?;
                let report = migrate::run(&pg, true)
                    .await
                    .map_err(|e| format!("db.url {url}: {e}"))?;
                if !report.unknown.is_empty() {
                    tracing::warn!(
                        "db: the database has migrations this binary does not know ({:?}): a \
                         newer ringwire migrated it",
                        report.unknown
                    );
                }
                tracing::info!(
                    "store: PostgreSQL at {url} ({workers} cores × db.pool.max {} of \
                     max_connections {max}, {reserved} reserved; {} migrations applied now)",
                    db.pg.pool.max,
                    report.applied.len()
                );
                Ok::<_, String>(())
            })?;
            Ok(Backend::Postgres(pg))
        }
    }
}

/// `/health/ready` fails while the store cannot serve: embedded, while the writer thread is
/// dead or the map is full; PostgreSQL, while no connection can be made or a core's circuit
/// breaker is open.
pub struct DbCheck(pub Backend);

impl HealthCheck for DbCheck {
    fn name(&self) -> &str {
        "db"
    }

    fn check(&self) -> Pin<Box<dyn Future<Output = CheckResult> + '_>> {
        match &self.0 {
            Backend::Embedded(store) => {
                let r = store.healthy();
                Box::pin(async move {
                    match r {
                        Ok(()) => CheckResult::ok("embedded store: writer running, space left"),
                        Err(e) => CheckResult::fail(e),
                    }
                })
            }
            Backend::Postgres(pg) => Box::pin(async move {
                let open = pg.open_breakers();
                if !open.is_empty() {
                    return CheckResult::fail(format!(
                        "postgres: the circuit breaker is open on cores {open:?}"
                    ));
                }
                match pg.probe().await {
                    Ok(()) => CheckResult::ok("postgres: connected, breakers closed"),
                    Err(e) => CheckResult::fail(format!("postgres: {e}")),
                }
            }),
        }
    }
}

/// The store's families on `/metrics` (see docs/METRICS.md).
pub struct DbMetrics(pub Backend);

const SECONDS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
const SIZES: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

impl Collector for DbMetrics {
    fn collect(&self, e: &mut Exposition) {
        let store = match &self.0 {
            Backend::Embedded(s) => s,
            Backend::Postgres(pg) => return crate::pg_metrics::collect(pg, e),
        };
        let s: DbSnapshot = store.snapshot();
        let ops = "ringwire_db_operations_total";
        e.family(
            ops,
            Kind::Counter,
            "Store operations by kind and result (ok, miss, conflict, full, invalid, error).",
        );
        for (kind, result, n) in &s.ops {
            e.sample(ops, &[("op", kind.name()), ("result", result)], *n as f64);
        }
        histogram(
            e,
            "ringwire_db_commit_batch_size",
            "Write requests per commit (group commit).",
            &s.batch,
            &SIZES,
            1.0,
        );
        histogram(
            e,
            "ringwire_db_commit_duration_seconds",
            "Time to apply and commit one batch (with db.sync = always, its fsyncs included).",
            &s.commit_us,
            &SECONDS,
            1e6,
        );
        histogram(
            e,
            "ringwire_db_fsync_duration_seconds",
            "Time of each fsync: the commit's with db.sync = always, the periodic one with batch.",
            &s.fsync_us,
            &SECONDS,
            1e6,
        );
        let gauges: [(&str, &str, f64); 7] = [
            (
                "ringwire_db_map_size_bytes",
                "Size of the store's memory map (db.map_size).",
                s.map_size as f64,
            ),
            (
                "ringwire_db_map_used_bytes",
                "Bytes of the map in use.",
                s.map_used as f64,
            ),
            (
                "ringwire_db_readers",
                "LMDB reader slots in use.",
                s.readers as f64,
            ),
            (
                "ringwire_db_max_readers",
                "LMDB reader slots (db.max_readers).",
                s.max_readers as f64,
            ),
            (
                "ringwire_db_entries",
                "Keys in the key-value store.",
                s.entries as f64,
            ),
            (
                "ringwire_db_pending_writes",
                "Write requests waiting for the writer thread.",
                s.pending as f64,
            ),
            (
                "ringwire_db_writer_up",
                "1 while the writer thread runs.",
                if s.writer_alive { 1.0 } else { 0.0 },
            ),
        ];
        for (name, help, v) in gauges {
            e.single(name, Kind::Gauge, help, &[], v);
        }
        e.single(
            "ringwire_db_map_full",
            Kind::Gauge,
            "1 while writes fail because the map is full.",
            &[],
            if s.map_full { 1.0 } else { 0.0 },
        );
    }
}
