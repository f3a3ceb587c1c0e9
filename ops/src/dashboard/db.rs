//! The store's latency on `/stats.json`, read from what its collector renders for `/metrics`.
//!
//! The store plugs into the control core only as a [`crate::metrics::Collector`] (Prometheus
//! text), so the percentiles here are estimated from that histogram's cumulative buckets the
//! way PromQL's `histogram_quantile` does: linear inside the bucket that holds the rank. They
//! are as coarse as the buckets (docs/METRICS.md) and agree with `/metrics` by construction.

use super::stats_json::QUANTILES;
use serde_json::{Value, json};

/// The families read, in order of preference: the embedded store's commit duration, then
/// PostgreSQL's statement latency (every operation, `core="all"`).
const SOURCES: [(&str, Option<(&str, &str)>); 2] = [
    ("ringwire_db_commit_duration_seconds", None),
    ("ringwire_db_query_duration_seconds", Some(("core", "all"))),
];

/// `{source, count, p50_us, ...}` for the first family present in `exposition`, or `null`.
pub(crate) fn summary(exposition: &str) -> Value {
    for (family, filter) in SOURCES {
        let buckets = buckets(exposition, family, filter);
        if buckets.is_empty() {
            continue;
        }
        let count = buckets.last().map_or(0.0, |b| b.1);
        let mut v = serde_json::Map::new();
        v.insert("source".into(), family.into());
        v.insert("count".into(), json!(count as u64));
        for (key, q) in QUANTILES {
            let us = quantile(&buckets, q).map(|s| (s * 1e6).round());
            v.insert(format!("{key}_us"), json!(us));
        }
        return Value::Object(v);
    }
    Value::Null
}

/// The family's cumulative buckets `(upper bound, count)`, ascending, `+Inf` last; series
/// that differ in labels other than `le` (PostgreSQL's `op`) are added up.
fn buckets(exposition: &str, family: &str, filter: Option<(&str, &str)>) -> Vec<(f64, f64)> {
    let prefix = format!("{family}_bucket{{");
    let mut out: Vec<(f64, f64)> = Vec::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == name).then(|| v.trim_matches('"'))
            })
        };
        if filter.is_some_and(|(k, v)| label(k) != Some(v)) {
            continue;
        }
        let le = match label("le") {
            Some("+Inf") => f64::INFINITY,
            Some(le) => match le.parse() {
                Ok(le) => le,
                Err(_) => continue,
            },
            None => continue,
        };
        let Ok(n) = value.trim().parse::<f64>() else {
            continue;
        };
        match out.iter_mut().find(|(b, _)| *b == le) {
            Some((_, sum)) => *sum += n,
            None => out.push((le, n)),
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// `histogram_quantile(q)` in seconds; `None` without observations. A rank in the `+Inf`
/// bucket is reported as the largest finite bound.
fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let inside = count - below;
            let share = if inside > 0.0 {
                (rank - below) / inside
            } else {
                1.0
            };
            return Some(lower + (le - lower) * share);
        }
        (lower, below) = (le, count);
    }
    Some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMBEDDED: &str = "\
# TYPE ringwire_db_commit_duration_seconds histogram
ringwire_db_commit_duration_seconds_bucket{le=\"0.001\"} 50
ringwire_db_commit_duration_seconds_bucket{le=\"0.002\"} 90
ringwire_db_commit_duration_seconds_bucket{le=\"0.01\"} 100
ringwire_db_commit_duration_seconds_bucket{le=\"+Inf\"} 100
ringwire_db_commit_duration_seconds_sum 0.1
ringwire_db_commit_duration_seconds_count 100
";

    #[test]
    fn embedded_commit_quantiles_interpolate_inside_buckets() {
        let v = summary(EMBEDDED);
        assert_eq!(v["source"], "ringwire_db_commit_duration_seconds");
        assert_eq!(v["count"], 100);
        assert_eq!(v["p50_us"], 1000.0);
        assert_eq!(v["p90_us"], 2000.0);
        // Rank 99 of 100: nine tenths into (2 ms, 10 ms].
        assert_eq!(v["p99_us"], 9200.0);
    }

    #[test]
    fn postgres_adds_operations_of_the_merged_core_only() {
        let text = "\
ringwire_db_query_duration_seconds_bucket{core=\"0\",op=\"get\",le=\"0.001\"} 1000
ringwire_db_query_duration_seconds_bucket{core=\"0\",op=\"get\",le=\"+Inf\"} 1000
ringwire_db_query_duration_seconds_bucket{core=\"all\",op=\"get\",le=\"0.001\"} 3
ringwire_db_query_duration_seconds_bucket{core=\"all\",op=\"get\",le=\"+Inf\"} 4
ringwire_db_query_duration_seconds_bucket{core=\"all\",op=\"put\",le=\"0.001\"} 1
ringwire_db_query_duration_seconds_bucket{core=\"all\",op=\"put\",le=\"+Inf\"} 4
";
        let v = summary(text);
        assert_eq!(v["source"], "ringwire_db_query_duration_seconds");
        assert_eq!(v["count"], 8);
        // Ranks above the last finite bound report that bound.
        assert_eq!(v["p90_us"], 1000.0);
    }

    #[test]
    fn no_store_family_or_no_observations() {
        assert_eq!(summary("ringwire_other 1\n"), Value::Null);
        let empty = EMBEDDED.replace("} 50", "} 0").replace("} 90", "} 0");
        let empty = empty.replace("} 100", "} 0");
        assert_eq!(summary(&empty)["p50_us"], Value::Null);
    }
}
