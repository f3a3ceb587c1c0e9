//! Keys of the PostgreSQL backend (`db.url`, `db.pool.*`, `db.breaker.*`, `db.retry.*`).

use super::{Key, Kind, positive};
use crate::config::values;

/// `postgres://user:secret@host/db` shown as `postgres://user:***@host/db` (and any
/// `password=` parameter hidden too).
pub fn redact(url: &str) -> String {
    ringwire_db::pg::redact(url)
}

pub static KEYS: &[Key] = &[
    Key {
        name: "db.url",
        flag: "db-url",
        kind: Kind::Text,
        default: "postgres://ringwire@127.0.0.1:5432/ringwire",
        help: "With db.backend = postgres: the server, as postgres://user:password@host:port/database (the host is resolved once, at start). Also $RINGWIRE_DB_URL. The password is never logged or printed by check-config.",
        set: |s, v| {
            s.db.pg.url = v.trim().to_string();
            if s.db.pg.url.is_empty() {
                return Err("must not be empty".into());
            }
            Ok(())
        },
        get: |s| redact(&s.db.pg.url),
    },
    Key {
        name: "db.connect_timeout",
        flag: "db-connect-timeout",
        kind: Kind::Text,
        default: "3s",
        help: "PostgreSQL: the longest a new connection may take (TCP, startup, authentication, preparing statements). A request waits for one at most db.pool.acquire_timeout; the connect goes on for the next request.",
        set: |s, v| {
            s.db.pg.connect_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.db.pg.connect_timeout),
    },
    Key {
        name: "db.query_timeout",
        flag: "db-query-timeout",
        kind: Kind::Text,
        default: "2s",
        help: "PostgreSQL: the longest a statement may run (the server's statement_timeout on every pooled connection). With db.pool.acquire_timeout it bounds a request's wait: 2 s + 2 s by default.",
        set: |s, v| {
            s.db.pg.query_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.db.pg.query_timeout),
    },
    Key {
        name: "db.pool.min",
        flag: "db-pool-min",
        kind: Kind::Number,
        default: "1",
        help: "PostgreSQL: connections each worker core keeps open even when idle.",
        set: |s, v| {
            s.db.pg.pool.min = values::number(v, 0usize, 1000)?;
            Ok(())
        },
        get: |s| s.db.pg.pool.min.to_string(),
    },
    Key {
        name: "db.pool.max",
        flag: "db-pool-max",
        kind: Kind::Number,
        default: "8",
        help: "PostgreSQL: the most connections each worker core opens. The server needs workers × db.pool.max (+1) connections per node; start refuses if PostgreSQL's max_connections is too low (docs/STORAGE.md, Pool sizing).",
        set: |s, v| {
            s.db.pg.pool.max = values::number(v, 1usize, 1000)?;
            Ok(())
        },
        get: |s| s.db.pg.pool.max.to_string(),
    },
    Key {
        name: "db.pool.acquire_timeout",
        flag: "db-pool-acquire-timeout",
        kind: Kind::Text,
        default: "2s",
        help: "PostgreSQL: the longest a request waits for a pooled connection before it is answered 503.",
        set: |s, v| {
            s.db.pg.pool.acquire_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.db.pg.pool.acquire_timeout),
    },
    Key {
        name: "db.pool.idle_timeout",
        flag: "db-pool-idle-timeout",
        kind: Kind::Text,
        default: "60s",
        help: "PostgreSQL: an idle connection is closed after this long (down to db.pool.min).",
        set: |s, v| {
            s.db.pg.pool.idle_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.db.pg.pool.idle_timeout),
    },
    Key {
        name: "db.pool.max_lifetime",
        flag: "db-pool-max-lifetime",
        kind: Kind::Text,
        default: "30min",
        help: "PostgreSQL: a connection older than this is closed when next free (spreads reconnects, lets a failover or a pooler rebalance).",
        set: |s, v| {
            s.db.pg.pool.max_lifetime = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.db.pg.pool.max_lifetime),
    },
    Key {
        name: "db.pool.max_waiters",
        flag: "db-pool-max-waiters",
        kind: Kind::Number,
        default: "256",
        help: "PostgreSQL: requests of one core that may wait for a connection at once; more are answered 503 at once.",
        set: |s, v| {
            s.db.pg.pool.max_waiters = values::number(v, 1usize, 1_000_000)?;
            Ok(())
        },
        get: |s| s.db.pg.pool.max_waiters.to_string(),
    },
    Key {
        name: "db.pool.check_after",
        flag: "db-pool-check-after",
        kind: Kind::Text,
        default: "5s",
        help: "PostgreSQL: a connection idle longer than this is checked with a round trip (SELECT 1) when taken from the pool.",
        set: |s, v| {
            s.db.pg.pool.check_after = values::duration(v)?;
            Ok(())
        },
        get: |s| values::show_duration(s.db.pg.pool.check_after),
    },
    Key {
        name: "db.breaker.window",
        flag: "db-breaker-window",
        kind: Kind::Number,
        default: "20",
        help: "PostgreSQL circuit breaker: outcomes in its sliding window (per core). It opens when the window is full and db.breaker.threshold of it failed.",
        set: |s, v| {
            s.db.pg.breaker.window = values::number(v, 1u32, 100_000)?;
            Ok(())
        },
        get: |s| s.db.pg.breaker.window.to_string(),
    },
    Key {
        name: "db.breaker.threshold",
        flag: "db-breaker-threshold",
        kind: Kind::Text,
        default: "0.5",
        help: "PostgreSQL circuit breaker: the failure ratio (0 to 1] of the window that opens it.",
        set: |s, v| {
            let t: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("expected a ratio such as 0.5, got {v:?}"))?;
            if !(t > 0.0 && t <= 1.0) {
                return Err("must be above 0 and at most 1".into());
            }
            s.db.pg.breaker.threshold = t;
            Ok(())
        },
        get: |s| s.db.pg.breaker.threshold.to_string(),
    },
    Key {
        name: "db.breaker.open_for",
        flag: "db-breaker-open-for",
        kind: Kind::Text,
        default: "5s",
        help: "PostgreSQL circuit breaker: how long it stays open (requests answered 503 with Retry-After at once) before half-open probes.",
        set: |s, v| {
            s.db.pg.breaker.open_for = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.db.pg.breaker.open_for),
    },
    Key {
        name: "db.breaker.half_open_probes",
        flag: "db-breaker-half-open-probes",
        kind: Kind::Number,
        default: "3",
        help: "PostgreSQL circuit breaker: trial requests let through when half-open; all must succeed to close it.",
        set: |s, v| {
            s.db.pg.breaker.half_open_probes = values::number(v, 1u32, 1000)?;
            Ok(())
        },
        get: |s| s.db.pg.breaker.half_open_probes.to_string(),
    },
    Key {
        name: "db.retry.max_attempts",
        flag: "db-retry-max-attempts",
        kind: Kind::Number,
        default: "3",
        help: "PostgreSQL: tries of one operation in all (1: no retry). Only transient failures are retried (connection refused or reset, SQLSTATE 40001, 40P01, 57P01, 57P03), and only when that cannot apply a write twice.",
        set: |s, v| {
            s.db.pg.retry.max_attempts = values::number(v, 1u32, 100)?;
            Ok(())
        },
        get: |s| s.db.pg.retry.max_attempts.to_string(),
    },
    Key {
        name: "db.retry.base",
        flag: "db-retry-base",
        kind: Kind::Text,
        default: "5ms",
        help: "PostgreSQL retries: the first backoff's cap; each retry doubles it (full jitter: a random delay up to the cap).",
        set: |s, v| {
            s.db.pg.retry.base = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.db.pg.retry.base),
    },
    Key {
        name: "db.retry.max_delay",
        flag: "db-retry-max-delay",
        kind: Kind::Text,
        default: "100ms",
        help: "PostgreSQL retries: the largest single backoff.",
        set: |s, v| {
            s.db.pg.retry.max_delay = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.db.pg.retry.max_delay),
    },
    Key {
        name: "db.retry.max_total",
        flag: "db-retry-max-total",
        kind: Kind::Text,
        default: "1s",
        help: "PostgreSQL retries: no retry starts after this long from the first try.",
        set: |s, v| {
            s.db.pg.retry.max_total = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.db.pg.retry.max_total),
    },
];
