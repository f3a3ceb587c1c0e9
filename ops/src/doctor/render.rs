//! The report as text (one line per check, its fix under it, a summary) or as JSON.

use super::{Report, Status};
use serde_json::{Value, json};

/// Human-readable: `PASS name  finding`, `      fix: ...` under each check that needs one,
/// then a summary line.
pub fn text(report: &Report) -> String {
    let width = report
        .checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for c in &report.checks {
        out.push_str(&format!(
            "{:<4}  {:<width$}  {}\n",
            c.status.name().to_ascii_uppercase(),
            c.name,
            c.finding
        ));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("{:<4}  {:<width$}  fix: {fix}\n", "", ""));
        }
    }
    let (fail, warn, pass) = (
        report.count(Status::Fail),
        report.count(Status::Warn),
        report.count(Status::Pass),
    );
    let verdict = match report.status() {
        Status::Pass => "all checks pass",
        Status::Warn => "warnings only: ringwire runs, but see the fixes above",
        Status::Fail => "something is wrong: apply the fixes above",
    };
    out.push_str(&format!(
        "\n{fail} failed, {warn} warnings, {pass} passed: {verdict} (exit {})\n",
        report.exit_code()
    ));
    out
}

/// `{"status": "warn", "exit_code": 2, "counts": {...}, "checks": [{"name", "status",
/// "finding", "fix"}]}`; `fix` is `null` for a passing check. The field names are stable.
pub fn json(report: &Report) -> Value {
    let checks: Vec<Value> = report
        .checks
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "status": c.status.name(),
                "finding": c.finding,
                "fix": c.fix,
            })
        })
        .collect();
    json!({
        "status": report.status().name(),
        "exit_code": report.exit_code(),
        "counts": {
            "pass": report.count(Status::Pass),
            "warn": report.count(Status::Warn),
            "fail": report.count(Status::Fail),
        },
        "checks": checks,
    })
}
