//! Network sysctls: the listen backlog cap, the ephemeral port range, TIME_WAIT reuse.

use super::{Check, Configured, Machine, parse_cpu_list, sysctl_fix};

/// An ephemeral range narrower than this is worth a warning when ringwire connects out.
pub(super) const MIN_EPHEMERAL_PORTS: u32 = 10_000;

pub(super) fn somaxconn(cfg: &Configured, m: &Machine) -> Check {
    const NAME: &str = "somaxconn";
    let Some(v) = m
        .read("proc/sys/net/core/somaxconn")
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Check::warn(
            NAME,
            "cannot read net.core.somaxconn",
            sysctl_fix("net.core.somaxconn", &cfg.backlog.to_string()),
        );
    };
    if v >= u64::from(cfg.backlog) {
        Check::pass(
            NAME,
            format!("net.core.somaxconn {v} >= limits.backlog {}", cfg.backlog),
        )
    } else {
        Check::fail(
            NAME,
            format!(
                "net.core.somaxconn {v} is below limits.backlog {}: the kernel silently caps \
                 every listen backlog at {v}, and bursts of connections are dropped",
                cfg.backlog
            ),
            sysctl_fix("net.core.somaxconn", &cfg.backlog.to_string())
                + &format!(" (or lower limits.backlog to {v})"),
        )
    }
}

/// `(first, last)` of `net.ipv4.ip_local_port_range`.
fn port_range_of(m: &Machine) -> Option<(u32, u32)> {
    let v = m.read("proc/sys/net/ipv4/ip_local_port_range")?;
    let mut it = v.split_whitespace().map(str::parse::<u32>);
    Some((it.next()?.ok()?, it.next()?.ok()?))
}

pub(super) fn port_range(cfg: &Configured, m: &Machine) -> Check {
    const NAME: &str = "ip_local_port_range";
    let Some((lo, hi)) = port_range_of(m) else {
        return Check::pass(
            NAME,
            "cannot read net.ipv4.ip_local_port_range (not checked)",
        );
    };
    let reserved = m
        .read("proc/sys/net/ipv4/ip_local_reserved_ports")
        .map(|r| parse_cpu_list(&r))
        .unwrap_or_default();
    let clash: Vec<String> = cfg
        .listen_ports
        .iter()
        .filter(|p| (lo..=hi).contains(&u32::from(**p)) && !reserved.contains(&usize::from(**p)))
        .map(u16::to_string)
        .collect();
    if !clash.is_empty() {
        let ports = clash.join(",");
        return Check::warn(
            NAME,
            format!(
                "listen port {ports} lies in the ephemeral range {lo}-{hi}: an outbound \
                 connection can take it while ringwire restarts, and the bind fails"
            ),
            sysctl_fix("net.ipv4.ip_local_reserved_ports", &ports),
        );
    }
    let width = hi.saturating_sub(lo) + 1;
    if !cfg.outbound.is_empty() && width < MIN_EPHEMERAL_PORTS {
        return Check::warn(
            NAME,
            format!(
                "only {width} ephemeral ports ({lo}-{hi}) for outbound connections to {}",
                cfg.outbound.join(", ")
            ),
            sysctl_fix("net.ipv4.ip_local_port_range", "15000 64999"),
        );
    }
    let use_ = if cfg.outbound.is_empty() {
        "no outbound connections configured".to_string()
    } else {
        format!("outbound: {}", cfg.outbound.join(", "))
    };
    Check::pass(NAME, format!("{lo}-{hi} ({width} ports); {use_}"))
}

pub(super) fn tw_reuse(cfg: &Configured, m: &Machine) -> Check {
    const NAME: &str = "tcp_tw_reuse";
    let v = m.read("proc/sys/net/ipv4/tcp_tw_reuse");
    let meaning = match v.as_deref() {
        Some("0") => "0 (off)",
        Some("1") => "1 (on)",
        Some("2") => "2 (loopback only)",
        Some(_) => "set",
        None => "unknown",
    };
    if cfg.outbound.is_empty() {
        return Check::pass(
            NAME,
            format!(
                "net.ipv4.tcp_tw_reuse = {meaning}; it matters only for outbound connections, \
                 and none are configured"
            ),
        );
    }
    if v.as_deref() == Some("0") {
        return Check::warn(
            NAME,
            format!(
                "net.ipv4.tcp_tw_reuse = 0: reconnects to {} wait out TIME_WAIT ports",
                cfg.outbound.join(", ")
            ),
            sysctl_fix("net.ipv4.tcp_tw_reuse", "1"),
        );
    }
    Check::pass(
        NAME,
        format!(
            "net.ipv4.tcp_tw_reuse = {meaning} (outbound: {})",
            cfg.outbound.join(", ")
        ),
    )
}
