//! The standard process metrics, read from /proc (Linux).

use std::time::{SystemTime, UNIX_EPOCH};

/// What /proc says about this process.
#[derive(Debug, Default, Clone, Copy)]
pub struct Process {
    /// VmRSS.
    pub resident_bytes: f64,
    /// Entries of /proc/self/fd.
    pub open_fds: f64,
    /// The soft RLIMIT_NOFILE.
    pub max_fds: f64,
    /// User plus system time.
    pub cpu_seconds: f64,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

/// Reads the process's numbers; fields /proc does not provide stay 0.
pub fn read() -> Process {
    let mut p = Process::default();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(kb) = status.lines().find_map(|l| l.strip_prefix("VmRSS:")) {
            p.resident_bytes = kb
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .unwrap_or(0.0)
                * 1024.0;
        }
    }
    p.open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as f64)
        .unwrap_or(0.0);
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        if let Some(line) = limits.lines().find(|l| l.starts_with("Max open files")) {
            p.max_fds = line
                .split_whitespace()
                .nth(3)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
        }
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            // USER_HZ is 100 on every Linux ringwire targets.
            p.cpu_seconds = (ticks(11) + ticks(12)) / 100.0;
            let start_ticks = ticks(19);
            if let Some(boot) = boot_time() {
                p.start_time_seconds = boot + start_ticks / 100.0;
            }
        }
    }
    p
}

/// Boot time, seconds since the Unix epoch: `btime` from /proc/stat, or, where a sandbox hides
/// it (systemd's `ProcSubset=pid`), the wall clock minus CLOCK_BOOTTIME, the clock that
/// `/proc/self/stat`'s start time counts on.
fn boot_time() -> Option<f64> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let btime = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| {
            stat.lines()
                .find_map(|l| l.strip_prefix("btime "))?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .or_else(|| {
            let boot = ringwire_reactor::clock::boot_time()?;
            Some(boot.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
        })?;
    (btime <= now).then_some(btime)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_plausible_numbers_on_linux() {
        if !std::path::Path::new("/proc/self/status").exists() {
            return eprintln!("SKIPPED: no /proc");
        }
        let p = super::read();
        assert!(p.resident_bytes > 100_000.0, "{p:?}");
        assert!(p.open_fds >= 3.0 && p.max_fds >= p.open_fds, "{p:?}");
        assert!(p.start_time_seconds > 1.6e9, "{p:?}");
    }
}
