//! What other parts of the server plug into the exposition: their own families
//! ([`Collector`]) and histograms from hdrhistogram recordings ([`histogram`]).

use super::text::{Exposition, Kind};

/// Metrics from a part of the server that `ops` does not know (the store, say): rendered
/// after the built-in families on every scrape, on the control core.
pub trait Collector: Send + 'static {
    /// Appends this part's families.
    fn collect(&self, e: &mut Exposition);
}

/// A Prometheus histogram (cumulative `le` buckets at `bounds`, `_sum`, `_count`) from an
/// hdrhistogram recorded in units of `1/scale` of the metric (microseconds for seconds: 1e6).
pub fn histogram(
    e: &mut Exposition,
    name: &str,
    help: &str,
    h: &hdrhistogram::Histogram<u64>,
    bounds: &[f64],
    scale: f64,
) {
    e.family(name, Kind::Histogram, help);
    for le in bounds {
        let upto = (le * scale).round() as u64;
        let count = if h.is_empty() {
            0
        } else {
            h.count_between(0, upto).min(h.len())
        };
        e.sample(
            &format!("{name}_bucket"),
            &[("le", &le.to_string())],
            count as f64,
        );
    }
    e.sample(&format!("{name}_bucket"), &[("le", "+Inf")], h.len() as f64);
    // hdrhistogram keeps counts per value bucket, not a sum: mean × count is within its
    // precision (2 significant digits here: about 1 %).
    let sum = if h.is_empty() {
        0.0
    } else {
        h.mean() * h.len() as f64 / scale
    };
    e.sample(&format!("{name}_sum"), &[], sum);
    e.sample(&format!("{name}_count"), &[], h.len() as f64);
}
