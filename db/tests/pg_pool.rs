//! The PostgreSQL backend against a real server, where timing matters: a request dropped in
//! the middle of a transaction must not hand its connection (inside the open transaction) to
//! the next request, and racing unconditional writes never move a key's version backwards.

mod conformance;
#[path = "../../tests/util/pg.rs"]
mod pg;

use pg::PgCluster;
use ringwire_db::{
    Backend, Cond, Op,
    pg::{PgSettings, PgStore, migrate},
};
use std::time::Duration;

fn a_request_dropped_mid_transaction_does_not_leak_it(io: &str) {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let mut settings = PgSettings::new(cluster.url());
    // One connection, so the next request would get the very same one.
    settings.pool.min = 1;
    settings.pool.max = 1;
    let store = PgStore::open(settings, 1).unwrap();
    conformance::runtime("epoll")
        .block_on(migrate::run(&store, true))
        .unwrap();
    cluster.psql(
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN IF NEW.key = 'slow'::bytea THEN PERFORM pg_sleep(1); END IF; RETURN NEW; END $$; \
         CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON ringwire_kv \
         FOR EACH ROW EXECUTE FUNCTION slow();",
    );
    let backend = Backend::Postgres(store.clone());
    conformance::runtime(io).block_on(async {
        let db = backend.for_core(0);
        // BEGIN; put a; put slow (sleeps) ... dropped while the second statement runs.
        let batch = db.write(vec![
            Op::put("a", "1", Cond::Any),
            Op::put("slow", "1", Cond::Any),
        ]);
        let cut = ringwire_reactor::time::timeout(Duration::from_millis(300), batch).await;
        assert!(cut.is_err(), "the batch was still running when dropped");
        let r = db.write(vec![Op::put("b", "2", Cond::Any)]).await;
        assert!(r.is_ok(), "{r:?}");
    });
    // What the next request wrote is committed (seen by another session), and nothing of
    // the dropped batch is.
    let rows = cluster.psql("SELECT convert_from(key, 'UTF8') FROM ringwire_kv ORDER BY key");
    assert_eq!(rows.trim(), "b", "only the later write is there");
}

fn racing_upserts_never_move_a_version_backwards(io: &str) {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let store = PgStore::open(PgSettings::new(cluster.url()), 1).unwrap();
    conformance::runtime("epoll")
        .block_on(migrate::run(&store, true))
        .unwrap();
    // Each insert attempt draws its version, then waits a random while before it meets the
    // existing row: the order of drawing and the order of writing differ.
    cluster.psql(
        "CREATE FUNCTION jitter() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(random() * 0.05); RETURN NEW; END $$; \
         CREATE TRIGGER jitter BEFORE INSERT ON ringwire_kv \
         FOR EACH ROW EXECUTE FUNCTION jitter();",
    );
    let backend = Backend::Postgres(store.clone());
    // The conformance suite's case, here with insert attempts racing in a different order.
    conformance::runtime(io).block_on(async {
        // The core's pool is made on the runtime's thread, as on a worker.
        conformance::cases::racing_puts_leave_the_newest_version(backend.for_core(0)).await
    });
}

mod racing_upserts_never_move_a_version_backwards {
    #[test]
    fn epoll() {
        super::racing_upserts_never_move_a_version_backwards("epoll")
    }
    #[test]
    fn uring() {
        if ringwire_reactor::testing::uring_or_skip(
            "racing_upserts_never_move_a_version_backwards::uring",
        ) {
            super::racing_upserts_never_move_a_version_backwards("uring")
        }
    }
}

mod a_request_dropped_mid_transaction_does_not_leak_it {
    #[test]
    fn epoll() {
        super::a_request_dropped_mid_transaction_does_not_leak_it("epoll")
    }
    #[test]
    fn uring() {
        if ringwire_reactor::testing::uring_or_skip(
            "a_request_dropped_mid_transaction_does_not_leak_it::uring",
        ) {
            super::a_request_dropped_mid_transaction_does_not_leak_it("uring")
        }
    }
}
