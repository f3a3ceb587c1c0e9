//! The PostgreSQL backend's families on `/metrics`: per core (`core="0"`, ...) and merged
//! (`core="all"`). See docs/METRICS.md.

use ringwire_db::pg::{BOUNDS_US, Histogram, PgCoreSnapshot, PgStore};
use ringwire_ops::metrics::text::{Exposition, Kind};
use std::collections::BTreeMap;

/// A family of one number per core: name, help, the number.
type Family = (&'static str, &'static str, fn(&PgCoreSnapshot) -> u64);

fn histogram(e: &mut Exposition, name: &str, labels: &[(&str, &str)], h: &Histogram) {
    let bucket = format!("{name}_bucket");
    let mut seen = 0u64;
    for (i, bound) in BOUNDS_US.iter().enumerate() {
        seen += h.counts.get(i).copied().unwrap_or(0);
        let le = (*bound as f64 / 1e6).to_string();
        let mut l = labels.to_vec();
        l.push(("le", &le));
        e.sample(&bucket, &l, seen as f64);
    }
    let mut l = labels.to_vec();
    l.push(("le", "+Inf"));
    e.sample(&bucket, &l, h.count() as f64);
    e.sample(&format!("{name}_sum"), labels, h.sum_us as f64 / 1e6);
    e.sample(&format!("{name}_count"), labels, h.count() as f64);
}

/// Renders every family.
pub fn collect(pg: &PgStore, e: &mut Exposition) {
    let cores = pg.snapshot();
    let mut names: Vec<String> = cores.iter().map(|c| c.core.to_string()).collect();
    names.push("all".into());
    let merged = merge(&cores);
    let all: Vec<&PgCoreSnapshot> = cores.iter().chain(std::iter::once(&merged)).collect();

    let pool = "ringwire_db_pool_connections";
    e.family(
        pool,
        Kind::Gauge,
        "PostgreSQL pool connections by state (idle, in_use, connecting).",
    );
    for (c, name) in all.iter().zip(&names) {
        for (state, v) in [
            ("idle", c.idle),
            ("in_use", c.in_use),
            ("connecting", c.connecting),
        ] {
            e.sample(pool, &[("core", name), ("state", state)], v as f64);
        }
    }
    let gauges: [Family; 2] = [
        (
            "ringwire_db_pool_waiting",
            "Requests waiting for a pooled PostgreSQL connection.",
            |c| c.waiting,
        ),
        (
            "ringwire_db_pool_max",
            "The pool's bound (db.pool.max per core).",
            |c| c.max,
        ),
    ];
    for (name, help, f) in gauges {
        e.family(name, Kind::Gauge, help);
        for (c, core) in all.iter().zip(&names) {
            e.sample(name, &[("core", core)], f(c) as f64);
        }
    }
    let counters: [Family; 4] = [
        (
            "ringwire_db_pool_opened_total",
            "PostgreSQL connections opened.",
            |c| c.opened,
        ),
        (
            "ringwire_db_pool_closed_total",
            "PostgreSQL connections closed (broken, expired, idle).",
            |c| c.closed,
        ),
        (
            "ringwire_db_retries_total",
            "Retries of transient PostgreSQL failures.",
            |c| c.retries,
        ),
        (
            "ringwire_db_refused_total",
            "Requests refused at once: the breaker was open or too many waited for a connection.",
            |c| c.refused,
        ),
    ];
    for (name, help, f) in counters {
        e.family(name, Kind::Counter, help);
        for (c, core) in all.iter().zip(&names) {
            e.sample(name, &[("core", core)], f(c) as f64);
        }
    }
    let acquire = "ringwire_db_pool_acquire_duration_seconds";
    e.family(
        acquire,
        Kind::Histogram,
        "Time to get a pooled PostgreSQL connection.",
    );
    for (c, core) in all.iter().zip(&names) {
        histogram(e, acquire, &[("core", core)], &c.acquire);
    }
    let query = "ringwire_db_query_duration_seconds";
    e.family(
        query,
        Kind::Histogram,
        "PostgreSQL statement latency by operation.",
    );
    for (c, core) in all.iter().zip(&names) {
        for (op, h) in &c.queries {
            histogram(e, query, &[("core", core), ("op", op)], h);
        }
    }
    let errors = "ringwire_db_errors_total";
    e.family(
        errors,
        Kind::Counter,
        "PostgreSQL failures by SQLSTATE class (08 connection, 40 rollback, 53 resources, 57 \
         operator intervention, ...), io, timeout or busy.",
    );
    for (c, core) in all.iter().zip(&names) {
        for (class, n) in &c.errors {
            e.sample(errors, &[("core", core), ("class", class)], *n as f64);
        }
    }
    let state = "ringwire_db_breaker_state";
    e.family(
        state,
        Kind::Gauge,
        "The PostgreSQL circuit breaker: 0 closed, 1 open, 2 half-open (core=\"all\": the worst).",
    );
    for (c, core) in all.iter().zip(&names) {
        e.sample(state, &[("core", core)], f64::from(c.breaker.code()));
    }
    let moved = "ringwire_db_breaker_transitions_total";
    e.family(
        moved,
        Kind::Counter,
        "Times the PostgreSQL circuit breaker entered each state.",
    );
    for (c, core) in all.iter().zip(&names) {
        for (i, to) in ["closed", "open", "half_open"].iter().enumerate() {
            e.sample(
                moved,
                &[("core", core), ("to", to)],
                c.transitions[i] as f64,
            );
        }
    }
}

/// Every core's numbers added up; the breaker shows the worst state (open over half-open
/// over closed).
fn merge(cores: &[PgCoreSnapshot]) -> PgCoreSnapshot {
    let mut m = PgCoreSnapshot {
        core: usize::MAX,
        idle: 0,
        in_use: 0,
        connecting: 0,
        waiting: 0,
        max: 0,
        opened: 0,
        closed: 0,
        acquire: Histogram::default(),
        queries: Vec::new(),
        retries: 0,
        refused: 0,
        breaker: ringwire_db::pg::breaker::BreakerState::Closed,
        transitions: [0; 3],
        errors: BTreeMap::new(),
        last_error: String::new(),
    };
    let rank = |s: ringwire_db::pg::breaker::BreakerState| match s.code() {
        1 => 2,
        2 => 1,
        _ => 0,
    };
    for c in cores {
        m.idle += c.idle;
        m.in_use += c.in_use;
        m.connecting += c.connecting;
        m.waiting += c.waiting;
        m.max += c.max;
        m.opened += c.opened;
        m.closed += c.closed;
        m.acquire.merge(&c.acquire);
        for (op, h) in &c.queries {
            match m.queries.iter_mut().find(|(o, _)| o == op) {
                Some((_, mh)) => mh.merge(h),
                None => m.queries.push((op, h.clone())),
            }
        }
        m.retries += c.retries;
        m.refused += c.refused;
        if rank(c.breaker) > rank(m.breaker) {
            m.breaker = c.breaker;
        }
        for i in 0..3 {
            m.transitions[i] += c.transitions[i];
        }
        for (class, n) in &c.errors {
            *m.errors.entry(class.clone()).or_default() += n;
        }
    }
    m
}
