//! The store conformance suite on PostgreSQL: the same cases and model test as the embedded
//! backend runs (`conformance/`), against a real throwaway PostgreSQL cluster, through the
//! pool, on both I/O backends.

mod conformance;
#[path = "../../tests/util/pg.rs"]
mod pg;

use conformance::Fixture;
use pg::PgCluster;
use proptest::test_runner::{Config, TestRunner};
use ringwire_db::{
    Backend,
    pg::{PgSettings, PgStore, migrate},
};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh database in `cluster`, migrated.
struct Pg<'a> {
    cluster: &'a PgCluster,
    url: String,
}

impl<'a> Pg<'a> {
    fn new(cluster: &'a PgCluster) -> Pg<'a> {
        let name = format!("conf{}", NEXT.fetch_add(1, Ordering::Relaxed));
        cluster.create_db(&name);
        let url = cluster.url_for(&name);
        let store = PgStore::open(PgSettings::new(&url), 1).unwrap();
        let report = conformance::runtime("epoll")
            .block_on(migrate::run(&store, true))
            .unwrap();
        assert_eq!(report.applied.len(), migrate::MIGRATIONS.len());
        Pg { cluster, url }
    }
}

impl Fixture for Pg<'_> {
    fn open(&mut self) -> Backend {
        let _ = self.cluster;
        Backend::Postgres(PgStore::open(PgSettings::new(&self.url), 1).unwrap())
    }
}

fn named_cases(io: &str) {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    conformance::all_cases(io, || Pg::new(&cluster));
}

fn model(io: &str) {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let steps = proptest::collection::vec(conformance::model::step(), 1..40);
    runner
        .run(&steps, |steps| {
            let mut f = Pg::new(&cluster);
            conformance::with_store(&mut f, io, async |f, b| {
                conformance::model::run(f, b, steps).await
            });
            Ok(())
        })
        .unwrap();
}

macro_rules! on_both {
    ($($name:ident),*) => {$(
        mod $name {
            #[test]
            fn epoll() {
                super::$name("epoll")
            }
            #[test]
            fn uring() {
                if ringwire_reactor::testing::uring_or_skip(concat!(stringify!($name), "::uring")) {
                    super::$name("uring")
                }
            }
        }
    )*};
}

on_both!(named_cases, model);
