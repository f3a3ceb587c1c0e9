//! Wall-clock facts that need a system call: when the machine booted.

use std::time::SystemTime;

/// When the machine booted, as the wall clock now sees it: `now - CLOCK_BOOTTIME`.
///
/// Unlike `btime` in `/proc/stat`, this needs no file, so it works where a sandbox hides
/// `/proc/stat` (systemd's `ProcSubset=pid`). `None` off Linux or if the clock is unreadable.
#[cfg(target_os = "linux")]
pub fn boot_time() -> Option<SystemTime> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` on this stack frame for the whole call, and
    // CLOCK_BOOTTIME is a clock id every Linux since 2.6.39 accepts; the call writes only `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return None;
    }
    let since_boot = std::time::Duration::new(u64::try_from(ts.tv_sec).ok()?, ts.tv_nsec as u32);
    SystemTime::now().checked_sub(since_boot)
}

/// Not available on this platform.
#[cfg(not(target_os = "linux"))]
pub fn boot_time() -> Option<SystemTime> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn agrees_with_proc_stat_btime() {
        let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
            return;
        };
        let btime: u64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let ours = super::boot_time()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        // btime is whole seconds; NTP slew since boot moves the two apart by a little.
        assert!((ours - btime as f64).abs() < 5.0, "{ours} vs {btime}");
    }
}
