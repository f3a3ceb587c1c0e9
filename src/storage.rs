//! The store's place in the server: opened before the workers start, checked by readiness,
//! measured on `/metrics`.

use ringwire_db::{DbSnapshot, Store};
use ringwire_ops::{
    CheckResult, HealthCheck,
    metrics::{
        Collector, histogram,
        text::{Exposition, Kind},
    },
};
use std::{future::Future, pin::Pin};

/// `/health/ready` fails while the writer thread is dead or the map is full.
pub struct DbCheck(pub Store);

impl HealthCheck for DbCheck {
    fn name(&self) -> &str {
        "db"
    }

    fn check(&self) -> Pin<Box<dyn Future<Output = CheckResult> + '_>> {
        let r = self.0.healthy();
        Box::pin(async move {
            match r {
                Ok(()) => CheckResult::ok("embedded store: writer running, space left"),
                Err(e) => CheckResult::fail(e),
            }
        })
    }
}

/// The store's families on `/metrics` (see docs/METRICS.md).
pub struct DbMetrics(pub Store);

const SECONDS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
const SIZES: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

impl Collector for DbMetrics {
    fn collect(&self, e: &mut Exposition) {
        let s: DbSnapshot = self.0.snapshot();
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
