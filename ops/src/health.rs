//! Health probes with Kubernetes semantics, and the `HealthCheck` trait other parts (the db
//! layer, say) implement to take part in readiness.

use std::{future::Future, pin::Pin, time::Duration};

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Whether the dependency is usable.
    pub healthy: bool,
    /// What an operator should read: "connected", "3 of 4 replicas", "timeout after 1s".
    pub message: String,
}

impl CheckResult {
    /// A passing check.
    pub fn ok(message: impl Into<String>) -> Self {
        CheckResult {
            healthy: true,
            message: message.into(),
        }
    }

    /// A failing check.
    pub fn fail(message: impl Into<String>) -> Self {
        CheckResult {
            healthy: false,
            message: message.into(),
        }
    }
}

/// A dependency check run on the control core by `/health/ready`. It must answer quickly: it
/// is given [`CHECK_TIMEOUT`] and then counted as failed.
pub trait HealthCheck: Send + 'static {
    /// A short stable name, shown in the probe's JSON.
    fn name(&self) -> &str;
    /// Runs the check.
    fn check(&self) -> Pin<Box<dyn Future<Output = CheckResult> + '_>>;
}

/// How long one check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// One entry of a probe's JSON body.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Check name.
    pub name: String,
    /// Whether it passed.
    pub healthy: bool,
    /// What it found.
    pub message: String,
    /// How long it took.
    pub duration: Duration,
}

/// A probe's verdict and its JSON body.
pub fn body(probe: &str, entries: &[Entry], uptime: Duration) -> (u16, String) {
    let healthy = entries.iter().all(|e| e.healthy);
    let checks: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "name": e.name,
                "status": if e.healthy { "pass" } else { "fail" },
                "message": e.message,
                "duration_ms": (e.duration.as_secs_f64() * 1e6).round() / 1e3,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "status": if healthy { "pass" } else { "fail" },
        "probe": probe,
        "checks": checks,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": (uptime.as_secs_f64() * 1e3).round() / 1e3,
    });
    (if healthy { 200 } else { 503 }, doc.to_string() + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_failing_entry_fails_the_probe() {
        let e = |healthy| Entry {
            name: "x".into(),
            healthy,
            message: "m".into(),
            duration: Duration::from_micros(1500),
        };
        let (status, text) = body("ready", &[e(true), e(false)], Duration::from_secs(3));
        assert_eq!(status, 503);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["status"], "fail");
        assert_eq!(v["checks"][1]["status"], "fail");
        assert_eq!(v["checks"][0]["duration_ms"], 1.5);
        assert_eq!(v["uptime_seconds"], 3.0);
        assert_eq!(body("live", &[e(true)], Duration::ZERO).0, 200);
    }
}
