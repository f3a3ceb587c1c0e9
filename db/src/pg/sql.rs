//! Every SQL statement the PostgreSQL backend runs: a fixed set of `&'static str`, each
//! prepared once per connection and run with parameters. No SQL is ever built from strings at
//! runtime (a test reads this crate's sources to hold it so).

/// One statement of the fixed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Stmt {
    Get,
    Version,
    PutAny,
    PutAbsent,
    PutIfVersion,
    PutIfExists,
    DeleteAny,
    DeleteIfVersion,
    Scan,
    LogAppend,
    LogInfo,
    LogRead,
    LogTrim,
    LogSeekTime,
    LogNames,
    Ping,
    Trace,
}

impl Stmt {
    /// The statements prepared on every pooled connection, in `Stmt` order.
    pub(crate) const ALL: [Stmt; 17] = [
        Stmt::Get,
        Stmt::Version,
        Stmt::PutAny,
        Stmt::PutAbsent,
        Stmt::PutIfVersion,
        Stmt::PutIfExists,
        Stmt::DeleteAny,
        Stmt::DeleteIfVersion,
        Stmt::Scan,
        Stmt::LogAppend,
        Stmt::LogInfo,
        Stmt::LogRead,
        Stmt::LogTrim,
        Stmt::LogSeekTime,
        Stmt::LogNames,
        Stmt::Ping,
        Stmt::Trace,
    ];

    /// Its text.
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Stmt::Get => GET,
            Stmt::Version => VERSION,
            Stmt::PutAny => PUT_ANY,
            Stmt::PutAbsent => PUT_ABSENT,
            Stmt::PutIfVersion => PUT_IF_VERSION,
            Stmt::PutIfExists => PUT_IF_EXISTS,
            Stmt::DeleteAny => DELETE_ANY,
            Stmt::DeleteIfVersion => DELETE_IF_VERSION,
            Stmt::Scan => SCAN,
            Stmt::LogAppend => LOG_APPEND,
            Stmt::LogInfo => LOG_INFO,
            Stmt::LogRead => LOG_READ,
            Stmt::LogTrim => LOG_TRIM,
            Stmt::LogSeekTime => LOG_SEEK_TIME,
            Stmt::LogNames => LOG_NAMES,
            Stmt::Ping => PING,
            Stmt::Trace => TRACE,
        }
    }
}

const GET: &str = "SELECT version, value FROM ringwire_kv WHERE key = $1";

const VERSION: &str = "SELECT version FROM ringwire_kv WHERE key = $1";

// `created` comes from the row as the statement's snapshot saw it. On a conflict the version
// is drawn after the row is locked, so a key's versions only grow, whatever the interleaving.
const PUT_ANY: &str = "WITH prev AS (SELECT version FROM ringwire_kv WHERE key = $1) \
     INSERT INTO ringwire_kv AS kv (key, value, version) \
     VALUES ($1, $2, nextval('ringwire_version')) \
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
       version = nextval('ringwire_version') \
     RETURNING kv.version, NOT EXISTS (SELECT 1 FROM prev) AS created";

const PUT_ABSENT: &str = "INSERT INTO ringwire_kv (key, value, version) \
     VALUES ($1, $2, nextval('ringwire_version')) \
     ON CONFLICT (key) DO NOTHING RETURNING version";

const PUT_IF_VERSION: &str = "UPDATE ringwire_kv SET value = $2, version = nextval('ringwire_version') \
     WHERE key = $1 AND version = $3 RETURNING version";

const PUT_IF_EXISTS: &str = "UPDATE ringwire_kv SET value = $2, version = nextval('ringwire_version') \
     WHERE key = $1 RETURNING version";

const DELETE_ANY: &str = "DELETE FROM ringwire_kv WHERE key = $1 RETURNING version";

const DELETE_IF_VERSION: &str =
    "DELETE FROM ringwire_kv WHERE key = $1 AND version = $2 RETURNING version";

// $1 the prefix (the lowest key that can match), $2 the first key past the prefix (NULL when
// there is none), $3 the key to start after (NULL: from the start), $4 how many.
const SCAN: &str = "SELECT key FROM ringwire_kv \
     WHERE key >= $1 AND ($2::BYTEA IS NULL OR key < $2) AND ($3::BYTEA IS NULL OR key > $3) \
     ORDER BY key LIMIT $4";

// The log's row is locked by the upsert, so records of one log commit in sequence order. A
// record's time is never below the previous record's (when this statement's snapshot sees it:
// a concurrent append that committed while this one waited for the row lock is not seen, and
// its time was taken before this one's anyway, unless the clock stepped back in between).
const LOG_APPEND: &str = "WITH m AS ( \
       INSERT INTO ringwire_logs AS l (name, first_seq, next_seq, count, bytes) \
       VALUES ($1, 1, 2, 1, octet_length($2::BYTEA)) \
       ON CONFLICT (name) DO UPDATE SET next_seq = l.next_seq + 1, count = l.count + 1, \
         bytes = l.bytes + EXCLUDED.bytes \
       RETURNING l.next_seq - 1 AS seq) \
     INSERT INTO ringwire_log_records (name, seq, time_ms, data) \
     SELECT $1, m.seq, \
       greatest((extract(epoch FROM clock_timestamp()) * 1000)::BIGINT, \
         (SELECT p.time_ms FROM ringwire_log_records p WHERE p.name = $1 AND p.seq = m.seq - 1)), \
       $2::BYTEA FROM m \
     RETURNING seq, time_ms";

const LOG_INFO: &str =
    "SELECT first_seq, next_seq, count, bytes FROM ringwire_logs WHERE name = $1";

const LOG_READ: &str = "SELECT seq, time_ms, data FROM ringwire_log_records \
     WHERE name = $1 AND seq >= $2 ORDER BY seq LIMIT $3";

// One slice of a trim, O($5) whatever the log's length: of the oldest $5 records (by seq),
// removes those before the first one the rule keeps (`Trim::drops`: $2 the most records, $3 the
// most bytes, $4 the oldest age in milliseconds, each NULL when unbounded). Record k of the
// slice (from 1) is judged with the log's count less the k - 1 before it, its bytes less
// theirs, and its own time. The counts come off the log's row from the records really deleted.
const LOG_TRIM: &str = "WITH l AS ( \
       SELECT count, bytes, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT AS now_ms \
       FROM ringwire_logs WHERE name = $1), \
     oldest AS ( \
       SELECT seq, time_ms, len, \
         row_number() OVER (ORDER BY seq) AS k, \
         sum(len) OVER (ORDER BY seq) AS through_bytes \
       FROM (SELECT seq, time_ms, octet_length(data) AS len FROM ringwire_log_records \
             WHERE name = $1 ORDER BY seq LIMIT $5) s), \
     stays AS ( \
       SELECT min(o.k) AS k FROM oldest o, l \
       WHERE NOT (($2::BIGINT IS NOT NULL AND l.count - (o.k - 1) > $2) \
          OR ($3::BIGINT IS NOT NULL AND l.bytes - (o.through_bytes - o.len) > $3) \
          OR ($4::BIGINT IS NOT NULL AND o.time_ms < l.now_ms - $4))), \
     cut AS ( \
       SELECT max(o.seq) AS upto FROM oldest o, stays WHERE stays.k IS NULL OR o.k < stays.k), \
     gone AS ( \
       DELETE FROM ringwire_log_records r USING cut \
       WHERE r.name = $1 AND r.seq <= cut.upto \
       RETURNING r.seq, octet_length(r.data) AS len), \
     kept AS ( \
       UPDATE ringwire_logs SET \
         first_seq = greatest(first_seq, coalesce((SELECT max(seq) + 1 FROM gone), first_seq)), \
         count = count - (SELECT count(*) FROM gone), \
         bytes = bytes - (SELECT coalesce(sum(len), 0) FROM gone) \
       WHERE name = $1 AND EXISTS (SELECT 1 FROM gone) \
       RETURNING 1) \
     SELECT count(*) FROM gone";

// The first seq of log $1 appended at or after $2 (ms): a binary search over its seqs, one
// primary-key lookup a step (times never go backwards in a log); next_seq if none, 1 if the log
// does not exist.
const LOG_SEEK_TIME: &str = "WITH RECURSIVE l AS ( \
       SELECT first_seq, next_seq FROM ringwire_logs WHERE name = $1), \
     b(lo, hi) AS ( \
       SELECT first_seq, greatest(next_seq, first_seq) FROM l \
       UNION ALL \
       SELECT CASE WHEN s.late THEN b.lo ELSE s.mid + 1 END, \
              CASE WHEN s.late THEN s.mid ELSE b.hi END \
       FROM b CROSS JOIN LATERAL ( \
         SELECT m.mid, coalesce((SELECT r.time_ms >= $2::BIGINT FROM ringwire_log_records r \
                                 WHERE r.name = $1 AND r.seq = m.mid), TRUE) AS late \
         FROM (SELECT b.lo + (b.hi - b.lo) / 2 AS mid) m) s \
       WHERE b.lo < b.hi) \
     SELECT coalesce((SELECT lo FROM b WHERE lo >= hi), 1)";

// As SCAN, over log names: $1 the prefix, $2 the first name past it (NULL: none), $3 the name
// to start after (NULL: from the start), $4 how many.
const LOG_NAMES: &str = "SELECT name FROM ringwire_logs \
     WHERE name >= $1 AND ($2::BYTEA IS NULL OR name < $2) AND ($3::BYTEA IS NULL OR name > $3) \
     ORDER BY name LIMIT $4";

const PING: &str = "SELECT 1";

// A sampled request's `traceparent` (55 bytes, under the 63 that application_name keeps) names
// the session while its statements run: `pg_stat_activity` and `%a` in `log_line_prefix` show
// it. Session-level, so that it also covers a transaction's statements.
const TRACE: &str = "SELECT set_config('application_name', $1, false)";

/// Gives the session back the application_name it started with (after a traced request).
pub(crate) const UNTRACE: &str = "RESET application_name";

/// Migrations' own statements (run once at startup, or by `ringwire db migrate`).
pub(crate) mod migrate {
    /// Migrations (and waiting for another node's) may take longer than db.query_timeout.
    pub(crate) const NO_TIMEOUT: &str = "SET statement_timeout = 0";
    pub(crate) const LOCK: &str = "SELECT pg_advisory_lock($1)";
    pub(crate) const UNLOCK: &str = "SELECT pg_advisory_unlock($1)";
    pub(crate) const TABLE: &str = "CREATE TABLE IF NOT EXISTS ringwire_schema_migrations ( \
         version BIGINT PRIMARY KEY, \
         name TEXT NOT NULL, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())";
    pub(crate) const EXISTS: &str = "SELECT to_regclass('ringwire_schema_migrations') IS NOT NULL";
    pub(crate) const APPLIED: &str =
        "SELECT version, name FROM ringwire_schema_migrations ORDER BY version";
    pub(crate) const RECORD: &str =
        "INSERT INTO ringwire_schema_migrations (version, name) VALUES ($1, $2)";
    pub(crate) const LIMITS: &str = "SELECT current_setting('max_connections')::BIGINT, \
         current_setting('superuser_reserved_connections')::BIGINT";
}

/// Transaction control, for requests of several operations.
pub(crate) mod txn {
    pub(crate) const BEGIN: &str = "BEGIN";
    pub(crate) const COMMIT: &str = "COMMIT";
    pub(crate) const ROLLBACK: &str = "ROLLBACK";
}
