//! Versioned schema migrations: SQL files in `db/migrations/`, embedded in the binary, applied
//! in order under a PostgreSQL advisory lock (so several nodes may start at once) and recorded
//! in `ringwire_schema_migrations`.

use super::{Fail, PgStore, conn, sql};
use crate::Error;

/// One migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version: migrations run in this order, each once.
    pub version: i64,
    /// Its file name, without the version and `.sql`.
    pub name: &'static str,
    sql: &'static str,
}

/// Every migration this binary knows, in order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "kv_and_logs",
    sql: include_str!("../../migrations/0001_kv_and_logs.sql"),
}];

/// The advisory lock's key: "ringwire" in ASCII.
const LOCK_KEY: i64 = 0x7269_6e67_7769_7265;

/// What a migration run found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Versions applied by this run.
    pub applied: Vec<(i64, &'static str)>,
    /// Versions still to apply (with `apply = false`: what a run would apply).
    pub pending: Vec<(i64, &'static str)>,
    /// Versions recorded in the database that this binary does not know (a newer binary
    /// migrated it).
    pub unknown: Vec<i64>,
}

/// Applies what is pending (`apply`), or only reports it (`ringwire db migrate --check`).
/// Runs on a ringwire reactor.
pub async fn run(store: &PgStore, apply: bool) -> Result<Report, Error> {
    let err = operator_error;
    let c = conn::open(store.target(), false).await.map_err(err)?;
    let pg = |e: tokio_postgres::Error| err(Fail::from_pg(e));
    c.client
        .batch_execute(sql::migrate::NO_TIMEOUT)
        .await
        .map_err(pg)?;
    if apply {
        c.client
            .query(sql::migrate::LOCK, &[&LOCK_KEY])
            .await
            .map_err(pg)?;
    }
    let result = async {
        let exists: bool = c
            .client
            .query_one(sql::migrate::EXISTS, &[])
            .await
            .map_err(pg)?
            .get(0);
        if !exists && apply {
            c.client
                .batch_execute(sql::migrate::TABLE)
                .await
                .map_err(pg)?;
        }
        let done: Vec<i64> = if exists || apply {
            c.client
                .query(sql::migrate::APPLIED, &[])
                .await
                .map_err(pg)?
                .iter()
                .map(|r| r.get(0))
                .collect()
        } else {
            Vec::new()
        };
        let mut report = Report {
            unknown: done
                .iter()
                .filter(|v| !MIGRATIONS.iter().any(|m| m.version == **v))
                .copied()
                .collect(),
            ..Report::default()
        };
        for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
            if !apply {
                report.pending.push((m.version, m.name));
                continue;
            }
            conn::txn(&c, sql::txn::BEGIN).await.map_err(err)?;
            let applied = async {
                c.client.batch_execute(m.sql).await?;
                c.client
                    .execute(sql::migrate::RECORD, &[&m.version, &m.name])
                    .await
            }
            .await;
            match applied {
                Ok(_) => conn::txn(&c, sql::txn::COMMIT).await.map_err(err)?,
                Err(e) => {
                    let _ = conn::txn(&c, sql::txn::ROLLBACK).await;
                    return Err(Error::Storage(format!(
                        "migration {:04}_{} failed: {}",
                        m.version,
                        m.name,
                        operator_error(Fail::from_pg(e))
                    )));
                }
            }
            tracing::info!("db: applied migration {:04}_{}", m.version, m.name);
            report.applied.push((m.version, m.name));
        }
        Ok(report)
    }
    .await;
    if apply {
        let _ = c.client.query(sql::migrate::UNLOCK, &[&LOCK_KEY]).await;
    }
    result
}

/// For the operator, with the reason (a command's output, a log line at start).
fn operator_error(f: Fail) -> Error {
    match f {
        Fail::Request(e) => e,
        Fail::Db(d) => Error::Storage(d.message),
    }
}

/// Checks that `workers` pools of `db.pool.max` fit in the server's `max_connections` (less
/// the superuser reserve and `others`, connections other nodes or tools hold). Returns the
/// server's numbers.
pub async fn check_limits(store: &PgStore, workers: usize) -> Result<(i64, i64), Error> {
    let err = operator_error;
    let c = conn::open(store.target(), false).await.map_err(err)?;
    let row = c
        .client
        .query_one(sql::migrate::LIMITS, &[])
        .await
        .map_err(|e| err(Fail::from_pg(e)))?;
    let (max, reserved): (i64, i64) = (row.get(0), row.get(1));
    let per_core = store.settings().pool.max as i64;
    // One more for readiness probes and tools.
    let need = per_core * workers as i64 + 1;
    if need > max - reserved {
        return Err(Error::Storage(format!(
            "db.pool.max = {per_core} on {workers} worker cores needs {need} connections, but \
             PostgreSQL's max_connections = {max} leaves {} for ordinary users \
             ({reserved} reserved): lower db.pool.max or raise max_connections \
             (see docs/STORAGE.md, \"Pool sizing\")",
            max - reserved
        )));
    }
    Ok((max, reserved))
}
