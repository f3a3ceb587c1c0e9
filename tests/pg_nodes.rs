//! Two ringwire nodes on one PostgreSQL database (issue 14, "Several nodes"): started at the
//! same moment, so that both try to migrate at once (under the advisory lock), then each sees
//! the other's writes, versions and deletes. On both I/O backends; skips where PostgreSQL is
//! missing, unless `RINGWIRE_REQUIRE_POSTGRES=1`.

#[path = "util/pgload.rs"]
mod pgload;
mod util;

use pgload::{Reply, get, put, request, start_pg, wait_ready};
use std::{net::SocketAddr, thread, time::Duration};
use util::pg::PgCluster;

fn with(addr: SocketAddr, method: &str, key: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    request(
        addr,
        method,
        &format!("/kv/{key}"),
        headers,
        body,
        Duration::from_secs(15),
    )
    .unwrap_or_else(|e| panic!("{method} {key}: {e}"))
}

both_backends! {
    fn two_nodes_on_one_database_see_each_others_writes(io) {
        let Some(pg) = PgCluster::start() else { return };
        let url = pg.url();
        // Both start at once: one applies the migrations, the other waits on the advisory
        // lock and finds them applied.
        let (a, b) = thread::scope(|sc| {
            let a = sc.spawn(|| start_pg(io, &url, &["--workers", "2"]));
            let b = sc.spawn(|| start_pg(io, &url, &["--workers", "2"]));
            (a.join().unwrap(), b.join().unwrap())
        });
        for node in [&a, &b] {
            // Ready once every worker listens, which may come just after the address is logged.
            let ready = wait_ready(node, 200, Duration::from_secs(30));
            assert!(ready.is_some(), "{:?}", node.admin_get("/health/ready"));
        }
        assert_eq!(
            pg.psql("SELECT string_agg(version::text, ',' ORDER BY version) FROM ringwire_schema_migrations"),
            "1",
            "each migration recorded once\n{}\n{}",
            a.log(),
            b.log()
        );
        let applied = |log: String| log.contains("1 migrations applied now");
        assert!(
            applied(a.log()) != applied(b.log()),
            "exactly one node applied the migration:\nA:\n{}\nB:\n{}",
            a.log(),
            b.log()
        );

        // A write through A is read through B, with the same version.
        let created = put(a.addr, "shared", b"from A").unwrap();
        assert_eq!(created.status, 201, "{}", created.text());
        let tag_a = created.etag.clone().expect("ETag");
        let seen = get(b.addr, "shared").unwrap();
        assert_eq!((seen.status, seen.text()), (200, "from A".to_string()));
        assert_eq!(seen.etag.as_deref(), Some(tag_a.as_str()), "one version on both nodes");

        // A conditional write on B with A's ETag wins; A's stale tag then loses on A.
        let updated = with(b.addr, "PUT", "shared", &[("If-Match", &tag_a)], b"from B");
        assert_eq!(updated.status, 204, "{}", updated.text());
        let tag_b = updated.etag.clone().expect("ETag");
        assert_ne!(tag_a, tag_b);
        let stale = with(a.addr, "PUT", "shared", &[("If-Match", &tag_a)], b"lost");
        assert_eq!(stale.status, 412, "{}", stale.text());
        let now = get(a.addr, "shared").unwrap();
        assert_eq!((now.text(), now.etag), ("from B".to_string(), Some(tag_b.clone())));
        // Create-only on B of a key A created: refused.
        let again = with(b.addr, "PUT", "shared", &[("If-None-Match", "*")], b"x");
        assert_eq!(again.status, 412);

        // A delete on B is seen on A; a delete with A's stale tag fails first.
        assert_eq!(with(a.addr, "DELETE", "shared", &[("If-Match", &tag_a)], b"").status, 412);
        assert_eq!(with(b.addr, "DELETE", "shared", &[("If-Match", &tag_b)], b"").status, 204);
        assert_eq!(get(a.addr, "shared").unwrap().status, 404);
        assert_eq!(with(a.addr, "DELETE", "shared", &[], b"").status, 404);

        // Writes through both, interleaved, all visible through either.
        for i in 0..20 {
            let w = if i % 2 == 0 { &a } else { &b };
            assert_eq!(put(w.addr, &format!("k{i}"), format!("v{i}").as_bytes()).unwrap().status, 201);
        }
        for node in [&a, &b] {
            for i in 0..20 {
                let r = get(node.addr, &format!("k{i}")).unwrap();
                assert_eq!((r.status, r.text()), (200, format!("v{i}")));
            }
            let page = request(node.addr, "GET", "/kv/?prefix=k&limit=100", &[], b"", Duration::from_secs(15)).unwrap();
            let keys: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
            assert_eq!(keys["keys"].as_array().map(Vec::len), Some(20), "{keys}");
        }
    }
}
