//! The kernel: its version, io_uring (the sysctl, the probe `io = auto` runs), seccomp, and
//! transparent huge pages.

use super::{Check, Configured, Machine, Probe, sysctl_fix};
use ringwire_reactor::{Backend, BackendKind, Runtime, uring_sysctl_refusal};

/// The oldest kernel the io_uring backend accepts (SINGLE_ISSUER, DEFER_TASKRUN, EXT_ARG).
const MIN_KERNEL: (u32, u32) = (6, 1);

/// `6.8.0-45-generic` → `(6, 8)`.
pub(super) fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The kernel release (`/proc/sys/kernel/osrelease`, what `uname -r` prints).
pub(super) fn release(m: &Machine) -> Option<String> {
    m.read("proc/sys/kernel/osrelease")
        .filter(|r| !r.is_empty())
}

/// What happens without io_uring, for the configured backend.
fn consequence(io: Backend) -> &'static str {
    if io == Backend::Uring {
        "io = uring will refuse to start"
    } else {
        "io = auto falls back to epoll"
    }
}

pub(super) fn kernel(cfg: &Configured, m: &Machine) -> Check {
    const NAME: &str = "kernel";
    let Some(rel) = release(m) else {
        return Check::warn(
            NAME,
            "cannot read /proc/sys/kernel/osrelease",
            "run doctor on the machine that runs ringwire, with /proc mounted",
        );
    };
    match parse_release(&rel) {
        Some(v) if v >= MIN_KERNEL => Check::pass(
            NAME,
            format!("Linux {rel} (the io_uring backend needs 6.1 or newer)"),
        ),
        _ if cfg.io == Backend::Poll => Check::pass(
            NAME,
            format!("Linux {rel}: older than 6.1, fine with io = epoll"),
        ),
        _ => Check::bad(
            cfg.io == Backend::Uring,
            NAME,
            format!("Linux {rel} is older than 6.1: {}", consequence(cfg.io)),
            "upgrade the kernel to Linux 6.1 or newer, or set io = epoll",
        ),
    }
}

/// The probe `io = auto` runs at start, with the configured ring sizes, on a thread of its
/// own (a ring's teardown can interrupt the creating thread's next blocking call).
pub(super) fn real_probe(cfg: &Configured) -> Probe {
    let (entries, count, size) = (cfg.ring_entries, cfg.recv_buffers, cfg.recv_buffer_size);
    std::thread::spawn(move || {
        match Runtime::builder()
            .backend(Backend::Auto)
            .ring_entries(entries)
            .recv_buffers(count, size)
            .build()
        {
            Ok(rt) if rt.backend().kind == BackendKind::Uring => Probe::Available,
            Ok(rt) => {
                let reason = &rt.backend().reason;
                Probe::Unavailable(
                    reason
                        .strip_prefix("auto: io_uring unavailable: ")
                        .unwrap_or(reason)
                        .to_string(),
                )
            }
            Err(e) => Probe::Unavailable(e.to_string()),
        }
    })
    .join()
    .unwrap_or_else(|_| Probe::Unavailable("the io_uring probe panicked".into()))
}

/// What to do about a probe's refusal `reason`.
fn probe_fix(reason: &str, disabled: Option<&str>) -> String {
    let r = reason.to_ascii_lowercase();
    if r.contains("ringwire_uring_unavailable") {
        "unset RINGWIRE_URING_UNAVAILABLE in the server's environment".into()
    } else if r.contains("forced by") {
        "none: the result was forced by a test hook".into()
    } else if r.contains("eperm") && disabled == Some("1") {
        "add the service user to the group kernel.io_uring_group names (sudo sysctl -w \
         kernel.io_uring_group=GID; SupplementaryGroups= under systemd), or "
            .to_string()
            + &sysctl_fix("kernel.io_uring_disabled", "0")
    } else if r.contains("eperm") || r.contains("denied") || r.contains("seccomp") {
        "allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp profile \
         (docker/podman: --security-opt seccomp=PROFILE; systemd: SystemCallFilter=)"
            .into()
    } else if r.contains("enomem") || r.contains("memlock") {
        "raise RLIMIT_MEMLOCK (ulimit -l unlimited; LimitMEMLOCK=infinity under systemd), or \
         lower io_uring.ring_entries"
            .into()
    } else if r.contains("6.1")
        || r.contains("5.19")
        || r.contains("opcode")
        || r.contains("enosys")
    {
        "upgrade the kernel to Linux 6.1 or newer, or set io = epoll".into()
    } else {
        "set io = epoll to run without io_uring, or resolve the reason above".into()
    }
}

pub(super) fn io_uring(cfg: &Configured, m: &Machine) -> Check {
    const NAME: &str = "io_uring";
    if cfg.io == Backend::Poll {
        return Check::pass(NAME, "not used (io = epoll)");
    }
    let hard = cfg.io == Backend::Uring;
    let disabled = m.read("proc/sys/kernel/io_uring_disabled");
    if let Some(reason) = disabled.as_deref().and_then(uring_sysctl_refusal) {
        return Check::bad(
            hard,
            NAME,
            format!("unavailable: {reason}: {}", consequence(cfg.io)),
            sysctl_fix("kernel.io_uring_disabled", "0") + " (or set io = epoll)",
        );
    }
    match m.probe(cfg) {
        Probe::Available => {
            let group = if disabled.as_deref() == Some("1") {
                " (kernel.io_uring_disabled=1: this user is allowed by kernel.io_uring_group)"
            } else {
                ""
            };
            Check::pass(
                NAME,
                format!(
                    "a ring with SINGLE_ISSUER/DEFER_TASKRUN, every opcode ringwire submits and a \
                     provided-buffer ring sets up here{group}"
                ),
            )
        }
        Probe::Unavailable(reason) => Check::bad(
            hard,
            NAME,
            format!("unavailable: {reason}: {}", consequence(cfg.io)),
            probe_fix(&reason, disabled.as_deref()),
        ),
    }
}

pub(super) fn seccomp(cfg: &Configured, m: &Machine) -> Check {
    const NAME: &str = "seccomp";
    let mode = m.status_field("Seccomp");
    match mode.as_deref() {
        None => Check::pass(NAME, "no Seccomp line in /proc/self/status (not filtered)"),
        Some("0") => Check::pass(NAME, "no seccomp filter"),
        Some("1") => Check::fail(
            NAME,
            "seccomp strict mode: only read, write, exit and sigreturn are allowed",
            "run ringwire outside the strict-mode sandbox",
        ),
        Some(_) if cfg.io == Backend::Poll => Check::pass(
            NAME,
            "a seccomp filter is active (io = epoll needs no io_uring)",
        ),
        Some(_) => match m.probe(cfg) {
            Probe::Available => Check::pass(
                NAME,
                "a seccomp filter is active and allows io_uring_setup/enter/register",
            ),
            Probe::Unavailable(reason) => Check::bad(
                cfg.io == Backend::Uring,
                NAME,
                format!("a seccomp filter is active and io_uring is unavailable: {reason}"),
                probe_fix("seccomp", None),
            ),
        },
    }
}

/// The selected value of a sysfs choice file (`always [madvise] never` → `madvise`).
pub(super) fn selected(text: &str) -> Option<&str> {
    let start = text.find('[')?;
    let end = text[start..].find(']')? + start;
    Some(&text[start + 1..end])
}

pub(super) fn thp(m: &Machine) -> Check {
    const NAME: &str = "transparent_hugepages";
    const DIR: &str = "sys/kernel/mm/transparent_hugepage";
    let Some(enabled) = m.read(&format!("{DIR}/enabled")) else {
        return Check::pass(NAME, "not available in this kernel");
    };
    let enabled = selected(&enabled).unwrap_or("unknown").to_string();
    let defrag = m
        .read(&format!("{DIR}/defrag"))
        .and_then(|d| selected(&d).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let finding = format!("enabled = {enabled}, defrag = {defrag}");
    let mut fixes = Vec::new();
    if enabled == "always" {
        fixes.push("echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled");
    }
    if defrag == "always" {
        fixes.push("echo defer+madvise | sudo tee /sys/kernel/mm/transparent_hugepage/defrag");
    }
    if fixes.is_empty() {
        Check::pass(NAME, finding)
    } else {
        Check::warn(
            NAME,
            finding
                + ": page faults may stall in compaction and khugepaged adds latency spikes \
                   (the store's memory map and buffer pools are large)",
            fixes.join(" && ")
                + " (transparent_hugepage=madvise on the kernel command line keeps it)",
        )
    }
}
