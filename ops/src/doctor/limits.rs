//! Resource limits: open files against the configured connections, locked memory against the
//! configured io_uring sizes.

use super::cpu::Cpus;
use super::{Check, Configured, Machine, kernel, sysctl_fix};
use ringwire_reactor::Backend;

/// Descriptors per worker besides connections: its listeners (HTTP, stream), ring, eventfd,
/// wake pipes and file transfers in flight.
pub(super) const FDS_PER_WORKER: u64 = 16;
/// Descriptors of the process as a whole: the store's files, logs, the admin listener and its
/// connections, the control core's ring.
pub(super) const FDS_PER_PROCESS: u64 = 256;

/// A soft/hard pair from `/proc/self/limits`; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// The limit whose line in `/proc/self/limits` starts with `what` (`Max open files`).
pub(super) fn read_limit(m: &Machine, what: &str) -> Option<Limit> {
    let text = m.read("proc/self/limits")?;
    let line = text.lines().find(|l| l.starts_with(what))?;
    let mut fields = line[what.len()..].split_whitespace();
    let value = |v: Option<&str>| -> Option<Option<u64>> {
        match v? {
            "unlimited" => Some(None),
            n => n.parse().ok().map(Some),
        }
    };
    Some(Limit {
        soft: value(fields.next())?,
        hard: value(fields.next())?,
    })
}

fn show(v: Option<u64>) -> String {
    v.map_or("unlimited".into(), |n| n.to_string())
}

/// Descriptors the configuration can use at once.
pub(super) fn nofile_needed(cfg: &Configured, workers: usize) -> u64 {
    let workers = workers as u64;
    let mut conns = workers.saturating_mul(cfg.max_connections as u64);
    if cfg.max_connections_total > 0 {
        conns = conns.min(cfg.max_connections_total as u64);
    }
    conns + workers * (FDS_PER_WORKER + cfg.extra_fds_per_worker as u64) + FDS_PER_PROCESS
}

pub(super) fn nofile(cfg: &Configured, m: &Machine, cpus: &Cpus) -> Check {
    const NAME: &str = "nofile";
    let need = nofile_needed(cfg, cpus.workers);
    let basis = format!(
        "{} workers x limits.max_connections {}{} + headroom",
        cpus.workers,
        cfg.max_connections,
        if cfg.max_connections_total > 0 {
            format!(
                " (capped by limits.max_connections_total {})",
                cfg.max_connections_total
            )
        } else {
            String::new()
        }
    );
    let Some(lim) = read_limit(m, "Max open files") else {
        return Check::warn(
            NAME,
            format!(
                "cannot read RLIMIT_NOFILE from /proc/self/limits; the configuration needs {need} ({basis})"
            ),
            format!(
                "make sure the server starts with LimitNOFILE={need} (systemd) or ulimit -n {need}"
            ),
        );
    };
    if lim.soft.is_none_or(|s| s >= need) {
        return Check::pass(
            NAME,
            format!(
                "RLIMIT_NOFILE {} >= {need} needed ({basis})",
                show(lim.soft)
            ),
        );
    }
    let mut fix = format!(
        "LimitNOFILE={need} in the systemd unit, or ulimit -n {need} before starting ringwire"
    );
    if lim.hard.is_some_and(|h| h < need) {
        fix += &format!(
            " (the hard limit is {}: raise it, e.g. '* hard nofile {need}' in /etc/security/limits.conf)",
            show(lim.hard)
        );
    }
    if let Some(nr_open) = m
        .read("proc/sys/fs/nr_open")
        .and_then(|v| v.parse::<u64>().ok())
    {
        if nr_open < need {
            fix = sysctl_fix("fs.nr_open", &need.to_string()) + "; then " + &fix;
        }
    }
    fix += "; or lower limits.max_connections";
    Check::fail(
        NAME,
        format!(
            "RLIMIT_NOFILE {} is below the {need} descriptors the configuration can use ({basis}): accepts fail with EMFILE",
            show(lim.soft)
        ),
        fix,
    )
}

/// Bytes of io_uring ring memory one worker sets up: 64-byte SQEs, a completion queue four
/// times as large of 16-byte CQEs, the SQ index array, a page of ring headers, and the
/// provided-buffer ring's 16-byte entries.
pub(super) fn ring_bytes(cfg: &Configured) -> u64 {
    let page = 4096u64;
    let round = |n: u64| n.div_ceil(page) * page;
    let sq = u64::from(cfg.ring_entries.max(8).next_power_of_two());
    let cq = sq * 4;
    let buf_ring = u64::from(cfg.recv_buffers.max(1).next_power_of_two()) * 16;
    round(sq * 64) + round(cq * 16 + sq * 4 + page) + round(buf_ring)
}

pub(super) fn memlock(cfg: &Configured, m: &Machine, cpus: &Cpus) -> Check {
    const NAME: &str = "memlock";
    if cfg.io == Backend::Poll {
        return Check::pass(NAME, "not needed (io = epoll)");
    }
    let need = ring_bytes(cfg) * cpus.workers as u64;
    let lim = read_limit(m, "Max locked memory");
    let soft = lim.and_then(|l| l.soft);
    let limit = lim.map_or("unknown".into(), |l| show(l.soft));
    let basis = format!(
        "{} workers x io_uring.ring_entries {} / recv_buffers {}",
        cpus.workers, cfg.ring_entries, cfg.recv_buffers
    );
    let charged_to_cgroup = kernel::release(m)
        .and_then(|r| kernel::parse_release(&r))
        .is_some_and(|v| v >= (5, 12));
    if charged_to_cgroup {
        return Check::pass(
            NAME,
            format!(
                "RLIMIT_MEMLOCK {limit}; since Linux 5.12 ring memory (~{need} bytes for {basis}) \
                 is charged to the memory cgroup, not to this limit"
            ),
        );
    }
    if lim.is_some() && soft.is_none_or(|s| s >= need) {
        return Check::pass(
            NAME,
            format!("RLIMIT_MEMLOCK {limit} >= ~{need} bytes of rings ({basis})"),
        );
    }
    Check::bad(
        cfg.io == Backend::Uring,
        NAME,
        format!(
            "RLIMIT_MEMLOCK {limit} may be below the ~{need} bytes of rings ({basis}) that \
             kernels before 5.12 count against it: io_uring_setup fails with ENOMEM"
        ),
        "LimitMEMLOCK=infinity in the systemd unit, or ulimit -l unlimited; or lower \
         io_uring.ring_entries",
    )
}
