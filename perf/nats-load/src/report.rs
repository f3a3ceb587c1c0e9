//! The summary: text, or one JSON line with the field names of `ringwire bench-stream --json`
//! (`messages_per_sec`, `latency_us`, `errors`), so the harness reads every tool alike.

use crate::fail;
use hdrhistogram::Histogram;
use std::{process::Command, time::Instant};

/// The bounds `ringwire bench-stream` uses, so the percentiles round alike.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

pub struct Summary {
    pub json_mode: bool,
    pub mode: &'static str,
    /// What the run was, for the text summary and the JSON's `setup`.
    pub setup: String,
    pub size: usize,
    pub duration_s: f64,
    /// Counted messages in the measured window: acknowledged publishes, or deliveries.
    pub messages: u64,
    /// Messages published in the measured window (fan-out; publishes for js-publish).
    pub published: u64,
    /// Fan-out: sequence gaps a subscriber saw (messages it never got); 0 for js-publish.
    pub lost: u64,
    pub errors: Vec<String>,
    /// p50, p90, p99, p99.9, max, in microseconds.
    pub latency: [f64; 5],
    /// CPU seconds of the `--server-pids` over the measured window.
    pub server_cpu_s: Option<f64>,
}

impl Summary {
    pub fn latency_of(hist: &Histogram<u64>) -> [f64; 5] {
        let us = |ns: u64| ns as f64 / 1000.0;
        let q = |p: f64| us(hist.value_at_quantile(p));
        [q(0.5), q(0.9), q(0.99), q(0.999), us(hist.max())]
    }

    fn rate(&self) -> f64 {
        self.messages as f64 / self.duration_s
    }

    pub fn text(&self) -> String {
        let [p50, p90, p99, p999, max] = self.latency.map(fmt_us);
        let mut s = format!(
            "{}: {}\nmessages   {} in {}s ({:.0} msg/s, {}-byte payloads)\n\
             published  {}\nlatency    p50 {p50}  p90 {p90}  p99 {p99}  p99.9 {p999}  max {max}\n",
            self.mode,
            self.setup,
            self.messages,
            self.duration_s,
            self.rate(),
            self.size,
            self.published,
        );
        if self.lost > 0 {
            s += &format!(
                "lost       {} (sequence gaps seen by subscribers)\n",
                self.lost
            );
        }
        if let Some(cpu) = self.server_cpu_s {
            s += &format!("server cpu {cpu:.2}s");
            if cpu > 0.0 {
                s += &format!(
                    " ({:.0} messages per CPU-second)",
                    self.messages as f64 / cpu
                );
            }
            s += "\n";
        }
        for e in &self.errors {
            s += &format!("error      {e}\n");
        }
        s
    }

    pub fn json(&self) -> String {
        let [p50, p90, p99, p999, max] = self.latency;
        serde_json::json!({
            "mode": self.mode,
            "setup": self.setup,
            "size": self.size,
            "duration_s": self.duration_s,
            "messages": self.messages,
            "messages_per_sec": self.rate(),
            "published": self.published,
            "lost": self.lost,
            "errors": self.errors,
            "latency_us": { "p50": p50, "p90": p90, "p99": p99, "p999": p999, "max": max },
            "server_cpu_s": self.server_cpu_s,
        })
        .to_string()
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{us:.0}µs")
    }
}

/// Clock ticks per second, the unit of /proc/PID/stat's CPU times.
fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|&t| t > 0.0)
        .unwrap_or(100.0)
}

/// User plus system CPU seconds that process `pid` (all its threads) has used so far.
pub fn cpu_seconds(pid: u32, ticks: f64) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // The command name (field 2) may hold spaces and parentheses: count from its last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let tick = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
    match (tick(14), tick(15)) {
        (Some(u), Some(s)) => Ok((u + s) as f64 / ticks),
        _ => Err(format!("{path}: no utime and stime in {stat:?}")),
    }
}

/// The summed CPU seconds of `pids` between `measure` and `end` (None without pids).
pub async fn server_cpu(pids: Vec<u32>, measure: Instant, end: Instant) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    let ticks = clock_ticks();
    let sample = || -> f64 {
        pids.iter()
            .map(|&p| cpu_seconds(p, ticks).unwrap_or_else(|e| fail(e)))
            .sum()
    };
    tokio::time::sleep_until(measure.into()).await;
    let start = sample();
    tokio::time::sleep_until(end.into()).await;
    Some(sample() - start)
}
