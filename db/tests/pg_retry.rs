//! Retries on a real PostgreSQL: a deadlock (SQLSTATE 40P01) rolls a transaction back, so the
//! write is retried, and both writers succeed. Two batches take the same two keys in opposite
//! orders on two pooled connections; every deadlock PostgreSQL reports must have been retried.

mod conformance;
#[path = "../../tests/util/pg.rs"]
mod pg;

use pg::PgCluster;
use ringwire_db::{
    Backend, Cond, Op,
    pg::{PgSettings, PgStore, migrate},
};
use std::time::Duration;

fn deadlocks_are_retried(io: &str) {
    let Some(cluster) = PgCluster::start_with(&[("deadlock_timeout", "20ms")]) else {
        return;
    };
    let mut settings = PgSettings::new(cluster.url());
    settings.retry.max_attempts = 5;
    settings.retry.max_total = Duration::from_secs(3);
    let store = PgStore::open(settings, 1).unwrap();
    conformance::runtime("epoll")
        .block_on(migrate::run(&store, true))
        .unwrap();
    // Each write holds its row for 30 ms, so both transactions hold their first key before
    // either asks for its second: the deadlock is certain, not a matter of timing.
    cluster.psql(
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(0.03); RETURN NEW; END $$; \
         CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON ringwire_kv \
         FOR EACH ROW EXECUTE FUNCTION slow();",
    );
    let backend = Backend::Postgres(store.clone());
    conformance::runtime(io).block_on(async {
        let db = backend.for_core(0);
        for k in ["a", "b"] {
            db.write(vec![Op::put(k, "0", Cond::Any)]).await.unwrap();
        }
        for round in 0..10 {
            let v = format!("{round}");
            let one = db.write(vec![
                Op::put("a", v.clone(), Cond::Any),
                Op::put("b", v.clone(), Cond::Any),
            ]);
            let two = db.write(vec![
                Op::put("b", v.clone(), Cond::Any),
                Op::put("a", v.clone(), Cond::Any),
            ]);
            let (r1, r2) = conformance::join(one, two).await;
            assert!(
                r1.is_ok() && r2.is_ok(),
                "round {round}: both writers succeed: {r1:?} {r2:?}"
            );
        }
    });
    let deadlocks: u64 = cluster
        .psql("SELECT deadlocks FROM pg_stat_database WHERE datname = 'ringwire'")
        .trim()
        .parse()
        .unwrap();
    let snap = &store.snapshot()[0];
    let class_40 = snap.errors.get("40").copied().unwrap_or(0);
    eprintln!(
        "{deadlocks} deadlocks, {} retries, {class_40} class-40 errors",
        snap.retries
    );
    assert!(
        deadlocks >= 5,
        "the opposite lock orders deadlocked ({deadlocks} of 10 rounds)"
    );
    assert_eq!(
        class_40, deadlocks,
        "every deadlock reached ringwire as 40P01"
    );
    assert!(snap.retries >= deadlocks, "every deadlock was retried");
}

mod deadlocks_are_retried {
    #[test]
    fn epoll() {
        super::deadlocks_are_retried("epoll")
    }
    #[test]
    fn uring() {
        if ringwire_reactor::testing::uring_or_skip("deadlocks_are_retried::uring") {
            super::deadlocks_are_retried("uring")
        }
    }
}
