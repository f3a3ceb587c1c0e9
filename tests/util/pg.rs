//! Throwaway PostgreSQL clusters for tests: a real server, never a mock.
//!
//! Each [`PgCluster`] is a fresh `initdb` in a directory of its own under `/tmp`, its
//! postmaster a child of the test process on a free 127.0.0.1 port, its Unix socket inside that
//! directory; it is stopped and removed on drop, and directories left by a test process that
//! died are removed by the next start. PostgreSQL refuses to run as root, so as root the server
//! tools run as the `postgres` system user (or `nobody`), with the directory chowned to it;
//! otherwise they run as the current user. Clusters are independent: tests run in parallel.
//! The machine side (programs, users, directories, processes) is in `pg_os.rs`.
//!
//! Where PostgreSQL is not installed, [`PgCluster::start`] prints `SKIPPED: <why>` and returns
//! `None`, unless `RINGWIRE_REQUIRE_POSTGRES=1` (set by `.ci/run`) makes that a failure.
//!
//! Std only: included by the root crate's tests (`tests/util/mod.rs`) and by `db/`'s tests
//! (`#[path = "../../tests/util/pg.rs"] mod pg;`).
#![allow(dead_code)] // each test file uses a different subset

#[path = "pg_os.rs"] // beside this file, however this file is included
mod os;

use std::{
    env, fs,
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::Mutex,
    thread,
    time::{Duration, Instant},
};

use os::{Tools, base_dir, command, executable, free_port, make_dir, owner, remove_stale};

/// The role and database every cluster gets; the role's password is the same word.
pub const USER: &str = "ringwire";
/// The superuser, reachable without a password over the Unix socket only.
const SUPERUSER: &str = "postgres";
/// Name prefix of cluster directories; stale ones (their test process gone) are removed.
const DIR_PREFIX: &str = "ringwire-pg-";
/// How long a start (or restart) may take on a loaded 2-core machine before it is a failure.
const START_LIMIT: Duration = Duration::from_secs(60);

/// A running throwaway cluster; stopped (`-m immediate`) and its directory removed on drop.
pub struct PgCluster {
    /// The directory holding everything: `data/`, `sock/`, `log`.
    dir: PathBuf,
    port: u16,
    /// The uid and gid the server tools run as (`None`: as this process).
    owner: Option<(u32, u32)>,
    tools: Tools,
    /// The postmaster, run as this process's child so that it is reaped here as soon as it
    /// exits: a zombie left to init would block the next start ("lock file already exists").
    postmaster: Mutex<Option<Child>>,
}

impl PgCluster {
    /// Starts a fresh cluster, or returns `None` after printing `SKIPPED: <reason>` when
    /// PostgreSQL is not installed (a panic instead under `RINGWIRE_REQUIRE_POSTGRES=1`).
    pub fn start() -> Option<PgCluster> {
        PgCluster::start_with(&[])
    }

    /// As [`PgCluster::start`], with extra `postgresql.conf` settings, e.g.
    /// `("max_connections", "40")`. Values are quoted here: pass them bare. They come after
    /// the harness's own settings, so they override them.
    pub fn start_with(conf: &[(&str, &str)]) -> Option<PgCluster> {
        let tools = match Tools::find() {
            Ok(tools) => tools,
            Err(why) => return skip_or_fail(&why),
        };
        let owner = match owner() {
            Ok(owner) => owner,
            Err(why) => return skip_or_fail(&why),
        };
        let base = base_dir(owner.is_some());
        remove_stale(&base, &tools.pg_ctl, owner);
        let dir = make_dir(&base, owner);
        // From here on, a panic drops the cluster, which stops it and removes the directory.
        let postmaster = Mutex::new(None);
        let mut pg = PgCluster {
            dir,
            port: 0,
            owner,
            tools,
            postmaster,
        };
        pg.initdb();
        let mut last = String::new();
        for _ in 0..3 {
            // The port is free now, but another process may take it before the server binds:
            // then the start fails and is retried on another one.
            pg.port = free_port();
            pg.write_conf(conf);
            match pg.try_start() {
                Ok(()) => {
                    let setup = format!(
                        "CREATE ROLE {USER} LOGIN PASSWORD '{USER}';\n\
                         CREATE DATABASE {USER} OWNER {USER};"
                    );
                    pg.psql_in("postgres", &setup);
                    return Some(pg);
                }
                Err(why) => last = why,
            }
        }
        panic!(
            "PostgreSQL did not start (3 ports tried): {last}\n{}",
            pg.log_tail()
        );
    }

    /// The TCP port, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://ringwire:ringwire@127.0.0.1:PORT/ringwire` (password auth over TCP).
    pub fn url(&self) -> String {
        self.url_for(USER)
    }

    /// As [`PgCluster::url`], for database `db` (see [`PgCluster::create_db`]).
    pub fn url_for(&self, db: &str) -> String {
        format!("postgres://{USER}:{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// `CREATE DATABASE name OWNER ringwire`.
    pub fn create_db(&self, name: &str) {
        self.psql_in(
            "postgres",
            &format!("CREATE DATABASE {} OWNER {USER}", ident(name)),
        );
    }

    /// Runs `sql` (one or more `;`-separated statements) as the superuser in database
    /// `ringwire`, over the Unix socket; returns psql's `-At` output without the final newline.
    /// Panics with psql's stderr on any error. Tables it creates belong to the superuser.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in(USER, sql)
    }

    /// As [`PgCluster::psql`], in database `db`.
    pub fn psql_in(&self, db: &str, sql: &str) -> String {
        let mut child = self
            .superuser_psql(db)
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.tools.psql.display()));
        // Written from a thread: psql may write a large result before reading all the input.
        let mut stdin = child.stdin.take().unwrap();
        let input = sql.to_owned();
        let writer = thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            panic!("psql failed ({}) on: {sql}\n{stderr}", out.status);
        }
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.ends_with('\n') {
            text.pop();
        }
        text
    }

    /// `pg_ctl stop -m fast`: waits until the server is down. Panics if it does not stop.
    pub fn stop(&self) {
        let out = self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]);
        if !out.status.success() {
            panic!(
                "pg_ctl stop failed: {}\n{}",
                output_text(&out),
                self.log_tail()
            );
        }
        if let Some(mut child) = self.postmaster.lock().unwrap().take() {
            child.wait().unwrap();
        }
    }

    /// Starts the stopped (or killed) server again on the same port and waits until it takes
    /// connections. After [`PgCluster::kill`] the first tries fail while the old server's
    /// backends are still exiting; they are retried for up to a minute.
    pub fn start_again(&self) {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            match self.try_start() {
                Ok(()) => return,
                Err(why) if Instant::now() > deadline => {
                    panic!("PostgreSQL did not start again: {why}\n{}", self.log_tail())
                }
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// SIGKILLs the postmaster (a hard crash: the next start runs crash recovery) and reaps
    /// it. Its backends notice and exit on their own shortly after.
    pub fn kill(&self) {
        let mut child = self
            .postmaster
            .lock()
            .unwrap()
            .take()
            .expect("kill: not running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Terminates every session on database `db` but the one asking (`pg_terminate_backend`,
    /// which the clients see as SQLSTATE 57P01); returns how many were terminated.
    pub fn terminate_backends(&self, db: &str) -> usize {
        let sql = format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = {} AND pid <> pg_backend_pid()",
            literal(db)
        );
        let out = self.psql_in("postgres", &sql);
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("terminate_backends: got {out:?}"))
    }

    /// The cluster's directory (`data/`, `sock/`, `log`); gone after drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        fs::read(self.dir.join("log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!(
            "--- server log tail ({}) ---\n{tail}",
            self.dir.join("log").display()
        )
    }

    fn initdb(&self) {
        let out = self
            .command(&self.tools.initdb)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.tools.initdb.display()));
        if !out.status.success() {
            panic!("initdb failed: {}", output_text(&out));
        }
        let conf = self.dir.join("data/postgresql.conf");
        let mut file = fs::OpenOptions::new().append(true).open(&conf).unwrap();
        file.write_all(b"\ninclude 'ringwire.conf'\n").unwrap();
    }

    /// `data/ringwire.conf`, included last by `postgresql.conf`: the harness's settings, then
    /// the caller's.
    fn write_conf(&self, extra: &[(&str, &str)]) {
        let sock = self.dir.join("sock");
        let sock = sock.to_str().expect("non-UTF-8 temp dir");
        let port = self.port.to_string();
        let base = [
            ("listen_addresses", "127.0.0.1"),
            ("port", port.as_str()),
            ("unix_socket_directories", sock),
            ("password_encryption", "scram-sha-256"),
            // Durability stays as in production: kill() tests crash recovery.
            ("fsync", "on"),
            ("synchronous_commit", "on"),
            ("shared_buffers", "32MB"),
            ("max_connections", "100"),
            ("huge_pages", "off"),
            ("logging_collector", "off"),
            ("log_line_prefix", "%m [%p] %q%u@%d "),
        ];
        let mut text = String::new();
        for (key, value) in base.iter().chain(extra) {
            text.push_str(&format!("{key} = {}\n", literal(value)));
        }
        let path = self.dir.join("data/ringwire.conf");
        fs::write(&path, text).unwrap();
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        }
    }

    /// Starts the postmaster and waits until a query goes through; `Err` if it exits first
    /// (its port taken, or the killed server's backends still there).
    fn try_start(&self) -> Result<(), String> {
        let mut postmaster = self.postmaster.lock().unwrap();
        assert!(postmaster.is_none(), "start: the server is already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log"));
        let log = log.unwrap();
        let child = self
            .command(&self.tools.postgres)
            .arg("-D")
            .arg(self.dir.join("data"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.tools.postgres.display()));
        let child = postmaster.insert(child);
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                *postmaster = None;
                return Err(format!("postgres exited ({status})"));
            }
            let out = self
                .superuser_psql("postgres")
                .args(["-c", "SELECT 1"])
                .output();
            let out = out.unwrap();
            if out.status.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let (out, log) = (output_text(&out), self.log_tail());
                panic!("PostgreSQL does not answer within {START_LIMIT:?}: {out}\n{log}");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// psql as the superuser over the Unix socket, unaligned and tuples only.
    fn superuser_psql(&self, db: &str) -> Command {
        let mut cmd = self.command(&self.tools.psql);
        cmd.args(["-X", "-At", "-h"]).arg(self.dir.join("sock"));
        cmd.args(["-p", &self.port.to_string(), "-U", SUPERUSER, "-d", db]);
        cmd
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        self.command(&self.tools.pg_ctl)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.tools.pg_ctl.display()))
    }

    /// A command run as the cluster's owner, in its directory, without the caller's `PG*`
    /// environment (which would redirect psql and friends).
    fn command(&self, program: &Path) -> Command {
        command(program, &self.dir, self.owner)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let postmaster = self.postmaster.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = postmaster.take() {
            let stop = self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "30"]);
            if !stop.status.success() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Finds a PostgreSQL program: `PATH` first, then `/usr/lib/postgresql/<version>/bin` (the
/// highest version), where Debian puts the server tools.
pub fn pg_bin(name: &str) -> Option<PathBuf> {
    let in_path = env::var_os("PATH")
        .into_iter()
        .flat_map(|path| env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name
                .split('.')
                .map(|n| n.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    let versioned = versions.into_iter().rev().map(|(_, bin)| bin.join(name));
    in_path.chain(versioned).find(|path| executable(path))
}

fn skip_or_fail(why: &str) -> Option<PgCluster> {
    if env::var_os("RINGWIRE_REQUIRE_POSTGRES").is_some_and(|v| v == "1") {
        panic!("RINGWIRE_REQUIRE_POSTGRES=1 but no PostgreSQL cluster can be made: {why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// A single-quoted SQL (and postgresql.conf) string literal.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A double-quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn output_text(out: &Output) -> String {
    format!(
        "{}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
