//! The store conformance suite on the embedded backend (LMDB): the model test and the named
//! cases of `conformance/`, the same code `conformance_pg.rs` runs on PostgreSQL.

mod conformance;

use conformance::{Fixture, model};
use proptest::prelude::*;
use ringwire_db::{Backend, Config, Store, Sync};

struct Embedded {
    dir: tempfile::TempDir,
}

impl Embedded {
    fn new() -> Embedded {
        Embedded {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl Fixture for Embedded {
    fn open(&mut self) -> Backend {
        let mut c = Config::new(self.dir.path());
        c.sync = Sync::None; // durability is the crash test's job; this one checks semantics
        c.map_size = 64 << 20;
        Backend::Embedded(Store::open(c).unwrap())
    }
}

#[test]
fn the_named_cases_hold() {
    conformance::all_cases("epoll", Embedded::new);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn the_store_agrees_with_a_btreemap(steps in proptest::collection::vec(model::step(), 1..40)) {
        let mut f = Embedded::new();
        conformance::with_store(&mut f, "epoll", async |f, b| model::run(f, b, steps).await);
    }
}
