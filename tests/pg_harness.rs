//! The throwaway PostgreSQL harness (`tests/util/pg.rs`) against the real server and the real
//! `psql` client: password auth over TCP, restarts and crashes that keep committed rows,
//! `pg_terminate_backend`, settings, and cleanup on drop. Skips where PostgreSQL is missing,
//! unless `RINGWIRE_REQUIRE_POSTGRES=1`.

mod util;

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpStream,
    process::{Command, Output, Stdio},
};

use util::pg::{PgCluster, pg_bin};

/// The real client, connecting over TCP with the URL's credentials only.
fn client(url: &str, sql: &str) -> Output {
    psql_client()
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `psql` without the caller's `PG*` environment (a password, a host, SSL settings).
fn psql_client() -> Command {
    let mut cmd = Command::new(pg_bin("psql").unwrap());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn client_ok(url: &str, sql: &str) -> String {
    let out = client(url, sql);
    assert!(
        out.status.success(),
        "psql {url} -c {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

#[test]
fn superuser_psql_and_password_auth_over_tcp() {
    let Some(pg) = PgCluster::start() else { return };
    assert_eq!(pg.psql("select 1"), "1");
    assert_eq!(
        pg.psql("select 1; select 2"),
        "1\n2",
        "several statements, each one's rows"
    );
    assert!(
        pg.url()
            .starts_with("postgres://ringwire:ringwire@127.0.0.1:")
    );
    assert!(pg.url().ends_with(&format!(":{}/ringwire", pg.port())));

    // The ringwire role over TCP, into its own database.
    let who = client_ok(
        &pg.url(),
        "select current_user || ' ' || current_database()",
    );
    assert_eq!(who, "ringwire ringwire");
    let auth = pg.psql("select count(*) from pg_hba_file_rules where type = 'host' and auth_method = 'scram-sha-256'");
    assert_ne!(auth, "0", "TCP lines ask for a password");

    // A wrong password is refused: TCP is not trust.
    let wrong = pg.url().replace("ringwire:ringwire@", "ringwire:wrong@");
    let out = client(&wrong, "select 1");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );

    // Only 127.0.0.1 listens.
    assert_eq!(pg.psql("show listen_addresses"), "127.0.0.1");
    assert!(TcpStream::connect(("127.0.0.1", pg.port())).is_ok());

    // An error panics with psql's message.
    let err = std::panic::catch_unwind(|| pg.psql("select * from no_such_table")).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("no_such_table"), "{msg}");
}

#[test]
fn settings_and_databases() {
    let Some(pg) = PgCluster::start_with(&[("max_connections", "40"), ("work_mem", "8MB")]) else {
        return;
    };
    assert_eq!(
        pg.psql("show max_connections"),
        "40",
        "the caller's setting wins"
    );
    assert_eq!(pg.psql("show work_mem"), "8MB");
    assert_eq!(pg.psql("show shared_buffers"), "32MB");
    assert_eq!(pg.psql("show fsync"), "on");
    assert_eq!(pg.psql("show synchronous_commit"), "on");

    pg.create_db("second");
    assert!(pg.url_for("second").ends_with("/second"));
    let url = pg.url_for("second");
    client_ok(&url, "create table t (x int); insert into t values (7)");
    assert_eq!(client_ok(&url, "select x from t"), "7");
    assert_eq!(
        pg.psql_in(
            "second",
            "select pg_get_userbyid(datdba) from pg_database where datname = 'second'"
        ),
        "ringwire"
    );
}

#[test]
fn stop_start_again_and_kill_keep_committed_rows() {
    let Some(pg) = PgCluster::start() else { return };
    let url = pg.url();
    client_ok(&url, "create table t (x int); insert into t values (1)");

    pg.stop();
    let out = client(&url, "select 1");
    assert!(!out.status.success(), "the server is down after stop()");
    pg.start_again();
    assert_eq!(
        client_ok(&url, "select x from t"),
        "1",
        "the same port, the same data"
    );

    // A hard crash: the committed row survives crash recovery.
    client_ok(&url, "insert into t values (2)");
    pg.kill();
    assert!(
        !client(&url, "select 1").status.success(),
        "the server is down after kill()"
    );
    pg.start_again();
    assert_eq!(
        client_ok(&url, "select string_agg(x::text, ',' order by x) from t"),
        "1,2"
    );
    assert!(
        pg.log().contains("not properly shut down"),
        "crash recovery ran:\n{}",
        pg.log()
    );
}

#[test]
fn terminate_backends_ends_a_held_session() {
    let Some(pg) = PgCluster::start() else { return };
    let mut held = psql_client()
        .args(["-X", "-At", &pg.url()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = held.stdin.take().unwrap();
    let mut stdout = BufReader::new(held.stdout.take().unwrap());
    stdin.write_all(b"select 41 + 1;\n").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "42", "the held session is connected");

    assert_eq!(pg.terminate_backends("ringwire"), 1);
    assert_eq!(
        pg.terminate_backends("ringwire"),
        0,
        "nothing left to terminate"
    );

    // The held client finds its connection gone on its next statement.
    let _ = stdin.write_all(b"select 2;\n");
    drop(stdin);
    let out = held.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "psql exits non-zero: {stderr}");
    assert!(
        stderr.contains("terminating connection due to administrator command"),
        "{stderr}"
    );
}

#[test]
fn clusters_run_side_by_side_and_drop_removes_everything() {
    let Some(a) = PgCluster::start() else { return };
    let b = PgCluster::start().unwrap();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    a.psql("create table only_in_a (x int)");
    assert_eq!(
        b.psql("select count(*) from pg_tables where tablename = 'only_in_a'"),
        "0"
    );

    let (dir, port) = (a.dir().to_path_buf(), a.port());
    assert!(dir.join("data/PG_VERSION").exists());
    drop(a);
    assert!(!dir.exists(), "{} is removed", dir.display());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on {port}"
    );
    assert_eq!(b.psql("select 1"), "1", "the other cluster is untouched");
}
