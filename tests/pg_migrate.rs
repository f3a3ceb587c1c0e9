//! `ringwire db migrate [--check]` against a real PostgreSQL: what is pending is listed and
//! exits 1 under `--check` (changing nothing), applying records each version once, and
//! several migrations started at once (several nodes starting) apply everything exactly once
//! under the advisory lock.

mod util;

use std::process::{Command, Output};
use util::pg::PgCluster;

fn migrate(url: &str, check: bool) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ringwire"));
    c.args(["db", "migrate", "--db-url", url]);
    if check {
        c.arg("--check");
    }
    c.output().expect("runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn check_lists_pending_then_migrate_applies_once() {
    let Some(pg) = PgCluster::start() else { return };
    let url = pg.url();
    let o = migrate(&url, true);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("pending 0001_kv_and_logs"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("s3cret"));
    // --check changed nothing: not even the version table exists.
    let t = pg.psql("SELECT to_regclass('ringwire_schema_migrations') IS NULL");
    assert_eq!(t.trim(), "t");

    let o = migrate(&url, false);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("applied 0001_kv_and_logs"),
        "{}",
        text(&o)
    );
    let o = migrate(&url, true);
    assert!(o.status.success(), "nothing pending now: {}", text(&o));
    let o = migrate(&url, false);
    assert!(
        o.status.success() && !text(&o).contains("applied"),
        "{}",
        text(&o)
    );
    let rows = pg.psql("SELECT version, name FROM ringwire_schema_migrations ORDER BY version");
    assert_eq!(rows.trim(), "1|kv_and_logs");
    // The migrated schema is the one the backend uses.
    let cols = pg.psql(
        "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) \
         FROM information_schema.columns WHERE table_name = 'ringwire_kv'",
    );
    assert_eq!(cols.trim(), "key:bytea,value:bytea,version:bigint");
}

#[test]
fn concurrent_migrations_apply_each_version_once() {
    let Some(pg) = PgCluster::start() else { return };
    let url = pg.url();
    let outs: Vec<Output> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4).map(|_| s.spawn(|| migrate(&url, false))).collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for o in &outs {
        assert!(o.status.success(), "{}", text(o));
    }
    let applied = outs
        .iter()
        .filter(|o| text(o).contains("applied 0001"))
        .count();
    assert_eq!(applied, 1, "exactly one run applied the migration");
    assert_eq!(
        pg.psql("SELECT count(*) FROM ringwire_schema_migrations")
            .trim(),
        "1"
    );
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://ringwire:s3cret@127.0.0.1:{port}/ringwire");
    let o = migrate(&url, false);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("Connection refused") && t.contains("127.0.0.1"),
        "{t}"
    );
    assert!(!t.contains("s3cret"), "the password is never printed: {t}");
}
