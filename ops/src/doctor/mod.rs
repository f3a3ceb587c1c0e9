//! `ringwire doctor`: checks the machine against the effective configuration and says what to
//! fix, with the exact command or sysctl.
//!
//! Every check takes plain inputs: the configured values ([`Configured`]) and a [`Machine`],
//! which reads `/proc`, `/sys` and `/etc` under a root directory (`/` in production, a fake
//! tree in tests) and carries the one result that cannot come from a file, the io_uring probe.
//! Nothing here does socket I/O, and nothing writes to the machine.

mod cpu;
mod kernel;
mod limits;
mod net;
mod render;
mod storage;
#[cfg(test)]
mod tests;

pub use render::{json, text};

use ringwire_reactor::Backend;
use std::path::{Path, PathBuf};

/// Environment variable naming the root `doctor` reads `/proc` and `/sys` under (a test hook,
/// like the hidden `--root` flag).
pub const ROOT_ENV: &str = "RINGWIRE_DOCTOR_ROOT";
/// Test hook: `ok` makes the io_uring probe pass; any other text makes it fail with that
/// text as the reason. Unset: the real probe runs (the one `io = auto` runs at start).
pub const FORCE_URING_ENV: &str = "RINGWIRE_DOCTOR_FORCE_URING";

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Nothing to do.
    Pass,
    /// Works, but not as well as it could, or at a risk the finding names.
    Warn,
    /// Something the configuration needs is missing or wrong.
    Fail,
}

impl Status {
    /// `pass`, `warn` or `fail`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// A stable short name (`somaxconn`, `io_uring`, ...).
    pub name: &'static str,
    /// The verdict.
    pub status: Status,
    /// One line: what was found.
    pub finding: String,
    /// What to run or change; `None` when the check passes.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, finding: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Pass,
            finding: finding.into(),
            fix: None,
        }
    }

    fn warn(name: &'static str, finding: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Warn,
            finding: finding.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(name: &'static str, finding: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Fail,
            finding: finding.into(),
            fix: Some(fix.into()),
        }
    }

    /// `fail` when `hard`, else `warn`.
    fn bad(
        hard: bool,
        name: &'static str,
        finding: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        if hard {
            Check::fail(name, finding, fix)
        } else {
            Check::warn(name, finding, fix)
        }
    }
}

/// All checks, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One entry per check.
    pub checks: Vec<Check>,
}

impl Report {
    /// The worst status of any check.
    pub fn status(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Pass)
    }

    /// The process exit status: 0 all pass, 1 something failed, 2 warnings only.
    pub fn exit_code(&self) -> i32 {
        match self.status() {
            Status::Pass => 0,
            Status::Fail => 1,
            Status::Warn => 2,
        }
    }

    /// How many checks have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// The configured values the checks compare the machine with.
#[derive(Debug, Clone, PartialEq)]
pub struct Configured {
    /// `io`.
    pub io: Backend,
    /// `workers` (0: one per CPU in `cpus`, or per CPU the process may use).
    pub workers: usize,
    /// `cpus` (`None`: every CPU the process may use).
    pub cpus: Option<Vec<usize>>,
    /// `control_cpu` when it names a CPU (`None`: `auto` or `none`).
    pub control_cpu: Option<usize>,
    /// `limits.max_connections` (per worker).
    pub max_connections: usize,
    /// `limits.max_connections_total` (0: no limit beyond the per-worker ones).
    pub max_connections_total: usize,
    /// `limits.backlog` (per listening socket).
    pub backlog: u32,
    /// Ports of the configured listeners (HTTP, stream, admin); 0 is left out.
    pub listen_ports: Vec<u16>,
    /// `io_uring.ring_entries`.
    pub ring_entries: u32,
    /// `io_uring.recv_buffers`.
    pub recv_buffers: u16,
    /// `io_uring.recv_buffer_size`.
    pub recv_buffer_size: u32,
    /// Descriptors each worker holds open besides client connections (outbound pools).
    pub extra_fds_per_worker: usize,
    /// `db.data_dir` when the embedded store is used (`None` otherwise).
    pub data_dir: Option<PathBuf>,
    /// The outbound connections configured, as `PostgreSQL (db.url)`, `NATS (cluster.nats)`.
    pub outbound: Vec<String>,
}

/// What the io_uring probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A ring with ringwire's flags, opcodes and buffer ring works here.
    Available,
    /// It does not; the reason is the one `io = auto` logs.
    Unavailable(String),
}

/// Where the checks read the machine from.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `/` in production; a fake tree in tests.
    pub root: PathBuf,
    /// `LD_PRELOAD` of the environment the server would start from.
    pub ld_preload: Option<String>,
    /// The io_uring probe's result; `None`: run the real probe when needed.
    pub forced_probe: Option<Probe>,
}

impl Machine {
    /// The real machine, with the test hooks taken from `env` ([`ROOT_ENV`],
    /// [`FORCE_URING_ENV`]) unless `root` is given.
    pub fn from_env(root: Option<PathBuf>, env: &[(String, String)]) -> Machine {
        let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let root = root
            .or_else(|| var(ROOT_ENV).filter(|r| !r.is_empty()).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/"));
        let forced_probe = var(FORCE_URING_ENV).map(|v| match v.trim() {
            "ok" => Probe::Available,
            reason => Probe::Unavailable(format!("forced by {FORCE_URING_ENV}: {reason}")),
        });
        Machine {
            root,
            ld_preload: var("LD_PRELOAD"),
            forced_probe,
        }
    }

    /// `rel` (such as `proc/sys/net/core/somaxconn`) under the root.
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// The trimmed contents of `rel`, if it can be read.
    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.path(rel))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// A value of `/proc/self/status` (`Seccomp`, `Cpus_allowed_list`).
    fn status_field(&self, field: &str) -> Option<String> {
        let status = self.read("proc/self/status")?;
        status.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == field).then(|| v.trim().to_string())
        })
    }

    /// The io_uring probe for these settings: forced, or the real `auto` probe.
    fn probe(&self, cfg: &Configured) -> Probe {
        if let Some(p) = &self.forced_probe {
            return p.clone();
        }
        kernel::real_probe(cfg)
    }
}

/// Runs every check.
pub fn run(cfg: &Configured, m: &Machine) -> Report {
    let cpus = cpu::Cpus::read(cfg, m);
    let checks = vec![
        kernel::kernel(cfg, m),
        kernel::io_uring(cfg, m),
        kernel::seccomp(cfg, m),
        limits::nofile(cfg, m, &cpus),
        limits::memlock(cfg, m, &cpus),
        net::somaxconn(cfg, m),
        net::port_range(cfg, m),
        net::tw_reuse(cfg, m),
        cpu::cpus_exist(cfg, &cpus),
        cpu::isolation(cfg, m, &cpus),
        cpu::governor(m, &cpus),
        kernel::thp(m),
        storage::data_dir(cfg, m),
    ];
    Report { checks }
}

/// The fix for a sysctl: set it now and keep it across reboots.
fn sysctl_fix(key: &str, value: &str) -> String {
    let set = if value.contains(' ') {
        format!("{key}=\"{value}\"")
    } else {
        format!("{key}={value}")
    };
    format!(
        "sudo sysctl -w {set} && echo '{key} = {value}' | sudo tee -a /etc/sysctl.d/90-ringwire.conf"
    )
}

/// Formats a CPU list compactly (`0-3,8`).
fn cpu_list(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(",")
    }
}

/// Parses a kernel CPU list (`0-3,8`); empty or `(null)` is no CPUs.
fn parse_cpu_list(text: &str) -> Vec<usize> {
    let text = text.trim();
    if text.is_empty() || text == "(null)" {
        return Vec::new();
    }
    let mut v = ringwire_reactor::launcher::parse_cpu_list(text).unwrap_or_default();
    v.sort_unstable();
    v.dedup();
    v
}

/// `path` as a display string.
fn shown(path: &Path) -> String {
    path.display().to_string()
}
