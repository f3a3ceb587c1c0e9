//! CPUs: whether the configured ones exist and may be used, their isolation, and their
//! frequency governor.

use super::{Check, Configured, Machine, cpu_list, parse_cpu_list};
use std::collections::BTreeMap;

/// The CPUs the machine has and the ones the workers will run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cpus {
    /// `/sys/devices/system/cpu/online`.
    pub online: Option<Vec<usize>>,
    /// The process's affinity (`Cpus_allowed_list` of `/proc/self/status`).
    pub allowed: Option<Vec<usize>>,
    /// `cpus` if configured, else the affinity (else the online CPUs).
    pub used: Vec<usize>,
    /// Worker threads `serve` would start.
    pub workers: usize,
}

impl Cpus {
    pub(super) fn read(cfg: &Configured, m: &Machine) -> Cpus {
        let online = m
            .read("sys/devices/system/cpu/online")
            .map(|t| parse_cpu_list(&t))
            .filter(|v| !v.is_empty());
        let allowed = m
            .status_field("Cpus_allowed_list")
            .map(|t| parse_cpu_list(&t))
            .filter(|v| !v.is_empty());
        let used = cfg
            .cpus
            .clone()
            .or_else(|| allowed.clone())
            .or_else(|| online.clone())
            .unwrap_or_default();
        let workers = if cfg.workers == 0 {
            used.len().max(1)
        } else {
            cfg.workers
        };
        Cpus {
            online,
            allowed,
            used,
            workers,
        }
    }
}

pub(super) fn cpus_exist(cfg: &Configured, cpus: &Cpus) -> Check {
    const NAME: &str = "cpus";
    if let Some(c) = cfg.control_cpu {
        let offline = cpus.online.as_ref().is_some_and(|o| !o.contains(&c));
        let outside = cpus.allowed.as_ref().is_some_and(|a| !a.contains(&c));
        if offline || outside {
            let usable = cpus.allowed.as_ref().or(cpus.online.as_ref());
            return Check::fail(
                NAME,
                format!(
                    "control_cpu = {c} is {}",
                    if offline {
                        "not online"
                    } else {
                        "outside this process's affinity"
                    }
                ),
                format!(
                    "set control_cpu to auto, or to one of {} that no worker uses",
                    usable.map_or("the online CPUs".into(), |u| cpu_list(u))
                ),
            );
        }
    }
    if let Some(configured) = &cfg.cpus {
        if let Some(online) = &cpus.online {
            let missing: Vec<usize> = configured
                .iter()
                .copied()
                .filter(|c| !online.contains(c))
                .collect();
            if !missing.is_empty() {
                return Check::fail(
                    NAME,
                    format!(
                        "cpus = {} names CPU {} that is not online (online: {})",
                        cpu_list(configured),
                        cpu_list(&missing),
                        cpu_list(online)
                    ),
                    format!(
                        "set cpus to CPUs among {} (ringwire serve --cpus {}), or bring CPU {} online \
                         (echo 1 | sudo tee /sys/devices/system/cpu/cpu{}/online)",
                        cpu_list(online),
                        cpu_list(online),
                        missing[0],
                        missing[0]
                    ),
                );
            }
        }
        if let Some(allowed) = &cpus.allowed {
            let outside: Vec<usize> = configured
                .iter()
                .copied()
                .filter(|c| !allowed.contains(c))
                .collect();
            if !outside.is_empty() {
                return Check::fail(
                    NAME,
                    format!(
                        "cpus = {} names CPU {} outside this process's affinity ({})",
                        cpu_list(configured),
                        cpu_list(&outside),
                        cpu_list(allowed)
                    ),
                    format!(
                        "set cpus within {}, or widen the affinity (taskset -c, CPUAffinity= in the \
                         systemd unit, the container's cpuset)",
                        cpu_list(allowed)
                    ),
                );
            }
        }
    }
    if cfg.workers > cpus.used.len() && !cpus.used.is_empty() {
        return Check::warn(
            NAME,
            format!(
                "workers = {} on {} CPUs ({}): reactors share cores and wait on each other",
                cfg.workers,
                cpus.used.len(),
                cpu_list(&cpus.used)
            ),
            format!(
                "set workers = 0 (one per CPU) or workers = {}",
                cpus.used.len()
            ),
        );
    }
    let Some(configured) = &cfg.cpus else {
        return Check::pass(
            NAME,
            format!(
                "cpus unset: {} workers on the CPUs this process may use ({})",
                cpus.workers,
                cpu_list(&cpus.used)
            ),
        );
    };
    Check::pass(
        NAME,
        format!(
            "cpus = {}: online and within this process's affinity",
            cpu_list(configured)
        ),
    )
}

pub(super) fn isolation(cfg: &Configured, m: &Machine, cpus: &Cpus) -> Check {
    const NAME: &str = "cpu_isolation";
    let read = |rel: &str| m.read(rel).map(|t| parse_cpu_list(&t)).unwrap_or_default();
    let isolated = read("sys/devices/system/cpu/isolated");
    let nohz = read("sys/devices/system/cpu/nohz_full");
    if isolated.is_empty() {
        return Check::pass(
            NAME,
            format!(
                "no isolated CPUs: workers share {} with the rest of the system (for the lowest \
                 latency, reserve CPUs with isolcpus= and nohz_full= on the kernel command line \
                 and name them in cpus)",
                cpu_list(&cpus.used)
            ),
        );
    }
    let Some(configured) = &cfg.cpus else {
        return Check::warn(
            NAME,
            format!(
                "CPUs {} are isolated, but cpus is unset: isolated CPUs are outside the default \
                 affinity, so the workers run on the shared ones",
                cpu_list(&isolated)
            ),
            format!(
                "set cpus = \"{}\" (ringwire serve --cpus {0})",
                cpu_list(&isolated)
            ),
        );
    };
    let (on, off): (Vec<usize>, Vec<usize>) = configured.iter().partition(|c| isolated.contains(c));
    if on.is_empty() {
        return Check::pass(
            NAME,
            format!(
                "workers pinned to {}, none of them isolated (isolated: {})",
                cpu_list(configured),
                cpu_list(&isolated)
            ),
        );
    }
    if !off.is_empty() {
        return Check::warn(
            NAME,
            format!(
                "workers on {} are isolated but those on {} are not: their latencies differ",
                cpu_list(&on),
                cpu_list(&off)
            ),
            format!(
                "set cpus = \"{}\", or add {} to isolcpus= and nohz_full= on the kernel command line",
                cpu_list(&isolated),
                cpu_list(&off)
            ),
        );
    }
    let ticking: Vec<usize> = on.iter().copied().filter(|c| !nohz.contains(c)).collect();
    let tick = if ticking.is_empty() {
        String::new()
    } else {
        format!(
            " (the timer tick still runs on {}: nohz_full={} on the kernel command line stops it)",
            cpu_list(&ticking),
            cpu_list(&on)
        )
    };
    Check::pass(
        NAME,
        format!("every worker CPU ({}) is isolated{tick}", cpu_list(&on)),
    )
}

pub(super) fn governor(m: &Machine, cpus: &Cpus) -> Check {
    const NAME: &str = "cpu_governor";
    let mut by_governor: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &c in &cpus.used {
        if let Some(g) = m.read(&format!(
            "sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor"
        )) {
            by_governor.entry(g).or_default().push(c);
        }
    }
    if by_governor.is_empty() {
        return Check::pass(
            NAME,
            "no cpufreq governor (a VM, or frequency managed by firmware): nothing to set",
        );
    }
    let shown: Vec<String> = by_governor
        .iter()
        .map(|(g, c)| format!("{g} on {}", cpu_list(c)))
        .collect();
    if by_governor.keys().all(|g| g == "performance") {
        return Check::pass(NAME, shown.join(", "));
    }
    Check::warn(
        NAME,
        format!(
            "{}: frequency ramps up only under load, which adds latency to the first requests \
             of a burst",
            shown.join(", ")
        ),
        "sudo cpupower frequency-set -g performance (or echo performance | sudo tee \
         /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor)",
    )
}
