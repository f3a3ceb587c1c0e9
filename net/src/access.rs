//! Access logging: which requests to log (sampling), their request id, and their W3C trace
//! context (trace id, this server's span id, sampled).

use crate::trace::Hex;
use std::cell::Cell;

/// Decides which requests are logged. An accumulator rather than a random draw: over any run
/// of requests the number logged is within one of `rate × count`, and it costs an add.
#[derive(Debug, Default)]
pub struct Sampler {
    acc: Cell<f64>,
}

impl Sampler {
    /// A sampler that has logged nothing yet.
    pub const fn new() -> Sampler {
        Sampler {
            acc: Cell::new(0.0),
        }
    }

    /// Whether the next request is logged, at `rate` (0 = never, 1 = always).
    pub fn sample(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let acc = self.acc.get() + rate.min(1.0);
        if acc >= 1.0 {
            self.acc.set(acc - 1.0);
            true
        } else {
            self.acc.set(acc);
            false
        }
    }
}

/// The trace id of a valid `traceparent` field (W3C Trace Context); the parser lives in the
/// sans-I/O protocol crate, where it is fuzzed.
pub use ringwire_protocol::http1::trace_id;

/// A client's `X-Request-Id` if it is usable in a log line: 1 to 128 visible ASCII bytes.
pub fn client_request_id(value: &[u8]) -> Option<&str> {
    let ok = !value.is_empty() && value.len() <= 128 && value.iter().all(|c| c.is_ascii_graphic());
    ok.then(|| std::str::from_utf8(value).ok()).flatten()
}

/// What an access log line needs, captured when the request is answered (only for logged
/// requests: the path and ids are copied then).
pub(crate) struct Access {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) request_id: String,
    pub(crate) trace: Option<crate::trace::TraceContext>,
    pub(crate) status: u16,
    pub(crate) bytes: u64,
}

impl Access {
    pub(crate) fn log(&self, core: usize, micros: u64) {
        let trace_id = self.trace.map(|t| t.trace_id_hex());
        let span_id = self.trace.map(|t| t.span_id_hex());
        tracing::info!(
            target: "ringwire::access",
            method = %self.method,
            path = %self.path,
            status = self.status,
            bytes = self.bytes,
            duration_us = micros,
            core,
            request_id = %self.request_id,
            trace_id = trace_id.as_ref().map_or("", Hex::as_str),
            span_id = span_id.as_ref().map_or("", Hex::as_str),
            sampled = self.trace.is_some_and(|t| t.sampled()),
            "request"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // trace_id's own tests live with it in ringwire_protocol::http1::traceparent.

    #[test]
    fn request_ids_must_be_printable_and_short() {
        assert_eq!(client_request_id(b"abc-123"), Some("abc-123"));
        assert_eq!(client_request_id(b""), None);
        assert_eq!(client_request_id(b"with space"), None);
        assert_eq!(client_request_id(&[b'a'; 129]), None);
    }

    proptest! {
        /// The sampled share stays within 10 % of the configured rate over >= 1,000 requests
        /// (the accumulator makes it exact to within one request).
        #[test]
        fn sampling_rate_holds(rate in 0.01f64..=1.0, n in 1000usize..20_000) {
            let s = Sampler::default();
            let logged = (0..n).filter(|_| s.sample(rate)).count() as f64;
            let expected = rate * n as f64;
            prop_assert!((logged - expected).abs() <= (0.1 * expected).max(1.0), "rate {rate}: {logged} of {n}");
        }

        #[test]
        fn zero_rate_logs_nothing(n in 1usize..5000) {
            let s = Sampler::default();
            prop_assert_eq!((0..n).filter(|_| s.sample(0.0)).count(), 0);
        }
    }
}
