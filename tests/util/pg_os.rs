//! The machine side of the PostgreSQL harness (`pg.rs`): finding the programs, the user to
//! run them as, the cluster directories, processes and ports. Std only, like `pg.rs`.

use std::{
    env, fs,
    io::Read,
    net::TcpListener,
    os::unix::{
        fs::{DirBuilderExt, PermissionsExt},
        process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use super::{DIR_PREFIX, pg_bin};

/// The programs a cluster needs, from initdb's directory where they are there: of one version,
/// and psql without Debian's wrapper script in `/usr/bin` (which costs 30 ms a call).
pub(super) struct Tools {
    pub(super) initdb: PathBuf,
    pub(super) pg_ctl: PathBuf,
    pub(super) postgres: PathBuf,
    pub(super) psql: PathBuf,
}

impl Tools {
    pub(super) fn find() -> Result<Tools, String> {
        const INSTALL: &str = "PostgreSQL is not installed (apt-get install postgresql)";
        let initdb = pg_bin("initdb").ok_or(format!("{INSTALL}: no initdb"))?;
        // Through symlinks (`/usr/local/bin/initdb` -> `/usr/lib/postgresql/15/bin/initdb`).
        let real = fs::canonicalize(&initdb).unwrap_or_else(|_| initdb.clone());
        let beside = |name: &str| {
            let path = real.with_file_name(name);
            let found = if executable(&path) {
                Some(path)
            } else {
                pg_bin(name)
            };
            found.ok_or(format!("{INSTALL}: no {name}"))
        };
        let (pg_ctl, postgres) = (beside("pg_ctl")?, beside("postgres")?);
        let psql = beside("psql")?;
        Ok(Tools {
            initdb,
            pg_ctl,
            postgres,
            psql,
        })
    }
}

pub(super) fn executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// As root: the uid and gid of `postgres` (or else `nobody`) to run the server tools as.
pub(super) fn owner() -> Result<Option<(u32, u32)>, String> {
    if effective_uid() != Some(0) {
        return Ok(None);
    }
    let id = |flag: &str, user: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, user]).output().ok()?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .ok()
            .filter(|_| out.status.success())
    };
    ["postgres", "nobody"]
        .iter()
        .find_map(|user| Some(Some((id("-u", user)?, id("-g", user)?))))
        .ok_or_else(|| "running as root, and no `postgres` or `nobody` user to run as".into())
}

pub(super) fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok();
    let from_proc = status.as_deref().and_then(|status| {
        let line = status.lines().find(|line| line.starts_with("Uid:"))?;
        line.split_whitespace().nth(2)?.parse().ok()
    });
    from_proc.or_else(|| {
        let out = Command::new("id").arg("-u").output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    })
}

/// `/tmp` as root (every user can reach it) or where the socket path would be long; else
/// the temp dir.
pub(super) fn base_dir(root: bool) -> PathBuf {
    let temp = env::temp_dir();
    // sun_path holds 107 bytes; the socket is DIR/ringwire-pg-PID-N-NANOS/sock/.s.PGSQL.PORT.
    if root || temp.as_os_str().len() > 40 {
        PathBuf::from("/tmp")
    } else {
        temp
    }
}

pub(super) fn make_dir(base: &Path, owner: Option<(u32, u32)>) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = base.join(format!("{DIR_PREFIX}{}-{n}-{nanos}", std::process::id()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(dir.join("sock"))
        .unwrap();
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        std::os::unix::fs::chown(dir.join("sock"), Some(uid), Some(gid)).unwrap();
    }
    dir
}

pub(super) fn command(program: &Path, dir: &Path, owner: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    // The owner may not be able to enter the caller's working or home directory.
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("PGCLIENTENCODING", "UTF8");
    cmd.stdin(Stdio::null());
    if let Some((uid, gid)) = owner {
        // std drops supplementary groups (setgroups) before setuid.
        cmd.uid(uid).gid(gid);
    }
    cmd
}

pub(super) fn postmaster_pid(dir: &Path) -> Option<u32> {
    let text = fs::read_to_string(dir.join("data/postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Whether `pid` runs (a zombie does not count).
pub(super) fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Removes clusters left behind by test processes that died without dropping them (killed,
/// or aborted), killing their postmaster if it still runs.
pub(super) fn remove_stale(base: &Path, pg_ctl: &Path, owner: Option<(u32, u32)>) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(DIR_PREFIX) else {
            continue;
        };
        let Some(creator) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{creator}")).exists() {
            continue; // its test process still runs (or the pid was reused: left for later)
        }
        let dir = entry.path();
        if let Some(pid) = postmaster_pid(&dir).filter(|&pid| alive(pid)) {
            // Only a postgres started on this very directory.
            let mut cmdline = String::new();
            let _ = fs::File::open(format!("/proc/{pid}/cmdline"))
                .and_then(|mut f| f.read_to_string(&mut cmdline));
            if cmdline.contains(dir.to_string_lossy().as_ref()) {
                let _ = command(pg_ctl, base, owner)
                    .args(["kill", "KILL", &pid.to_string()])
                    .output();
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

pub(super) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
