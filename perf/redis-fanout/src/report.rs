//! The server's CPU time, and the summary: text, or one JSON line with the field names of
//! `ringwire bench-stream --json`, so the two compare field by field.

use crate::load::Shared;
use std::process::Command;

/// Clock ticks per second, the unit of /proc/PID/stat's CPU times.
pub fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    let ticks = out
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|&t| t > 0.0);
    ticks.unwrap_or_else(|| {
        eprintln!("redis-fanout: `getconf CLK_TCK` failed; assuming 100 ticks a second");
        100.0
    })
}

/// User plus system CPU seconds that process `pid` has used so far.
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

pub struct Summary {
    pub subscribers: usize,
    pub size: usize,
    pub window: u64,
    pub duration_s: f64,
    pub messages: u64,
    pub published: u64,
    /// p50, p90, p99, p99.9, max, in microseconds.
    pub latency: [f64; 5],
    pub server_cpu_s: Option<f64>,
}

impl Summary {
    pub fn new(shared: &Shared, args: &crate::Args, server_cpu_s: Option<f64>) -> Summary {
        let hist = shared.hist.borrow();
        let us = |ns: u64| ns as f64 / 1000.0;
        let q = |p: f64| us(hist.value_at_quantile(p));
        Summary {
            subscribers: args.subscribers,
            size: args.size,
            window: args.window,
            duration_s: args.duration,
            messages: shared.messages.get(),
            published: shared.published.get(),
            latency: [q(0.5), q(0.9), q(0.99), q(0.999), us(hist.max())],
            server_cpu_s,
        }
    }

    fn rate(&self) -> f64 {
        self.messages as f64 / self.duration_s
    }

    fn per_cpu_s(&self) -> Option<f64> {
        self.server_cpu_s
            .filter(|&c| c > 0.0)
            .map(|c| self.messages as f64 / c)
    }

    pub fn text(&self) -> String {
        let [p50, p90, p99, p999, max] = self.latency.map(fmt_us);
        let mut s = format!(
            "messages   {} messages delivered in {}s\nrate       {:.0} msg/s\n\
             throughput {:.2} MB/s of message payload\n\
             published  {} ({:.0} msg/s; {} subscribers)\n\
             latency    p50 {p50}  p90 {p90}  p99 {p99}  p99.9 {p999}  max {max}  \
             (publish to deliver)\n",
            self.messages,
            self.duration_s,
            self.rate(),
            self.rate() * self.size as f64 / 1e6,
            self.published,
            self.published as f64 / self.duration_s,
            self.subscribers,
        );
        if let Some(cpu) = self.server_cpu_s {
            s += &format!("server cpu {cpu:.2}s");
            if let Some(per) = self.per_cpu_s() {
                s += &format!(" ({per:.0} deliveries per CPU-second)");
            }
            s += "\n";
        }
        s
    }

    pub fn json(&self) -> String {
        let [p50, p90, p99, p999, max] = self.latency;
        serde_json::json!({
            "service": "pubsub",
            "server": "redis",
            "subscribers": self.subscribers,
            "size": self.size,
            "window": self.window,
            "duration_s": self.duration_s,
            "messages": self.messages,
            "messages_per_sec": self.rate(),
            "published": self.published,
            "latency_us": { "p50": p50, "p90": p90, "p99": p99, "p999": p999, "max": max },
            "server_cpu_s": self.server_cpu_s,
            "per_cpu_s": self.per_cpu_s(),
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
