//! W3C Trace Context for one request: continued from a received `traceparent`, or started
//! here when `trace.sample` says so. The context is a few plain bytes on the stack; a request
//! without one costs a header lookup and (when `trace.sample` > 0) a sampler add.

mod export;

pub use export::{SpanRecord, dropped_spans, start_export};

use crate::access::Sampler;
use ringwire_protocol::http1::{TRACEPARENT_LEN, TraceParent, hex};
use std::cell::Cell;

/// A W3C `traceparent` field value, as sent: 55 ASCII bytes.
pub type Traceparent = [u8; TRACEPARENT_LEN];

/// The trace this request belongs to and the span this server opened for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace id (received, or generated here).
    pub trace_id: [u8; 16],
    /// The caller's span id, when the trace was received.
    pub parent_id: Option<[u8; 8]>,
    /// The span id of this server's handling of the request (new for every request).
    pub span_id: [u8; 8],
    /// The trace flags, as received (bit 0: sampled); `01` for a trace started here.
    pub flags: u8,
}

impl TraceContext {
    /// The context of a request with `traceparent` field value `received` (if valid), else a
    /// new sampled trace when the per-core sampler picks this request at `sample` (0..=1).
    pub fn for_request(received: Option<&[u8]>, sample: f64) -> Option<TraceContext> {
        match received.and_then(TraceParent::parse) {
            Some(tp) => Some(TraceContext {
                trace_id: tp.trace_id,
                parent_id: Some(tp.parent_id),
                span_id: new_span_id(),
                flags: tp.flags,
            }),
            None if sample > 0.0 && SAMPLER.with(|s| s.sample(sample)) => Some(TraceContext {
                trace_id: new_trace_id(),
                parent_id: None,
                span_id: new_span_id(),
                flags: 0x01,
            }),
            None => None,
        }
    }

    /// Whether the sampled flag is set.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The `traceparent` value naming this server's span as the parent: for the response and
    /// for calls made on the request's behalf (databases, the cluster).
    pub fn traceparent(&self) -> [u8; TRACEPARENT_LEN] {
        TraceParent {
            version: 0,
            trace_id: self.trace_id,
            parent_id: self.span_id,
            flags: self.flags,
        }
        .encode()
    }

    /// The `request` tracing span: the service's log lines carry the trace.
    pub(crate) fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "request",
            trace_id = self.trace_id_hex().as_str(),
            span_id = self.span_id_hex().as_str(),
            sampled = self.sampled()
        )
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> Hex<32> {
        Hex::of(&self.trace_id)
    }

    /// This server's span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> Hex<16> {
        Hex::of(&self.span_id)
    }

    /// The caller's span id as 16 lowercase hex digits, if the trace was received.
    pub fn parent_id_hex(&self) -> Option<Hex<16>> {
        self.parent_id.map(|p| Hex::of(&p))
    }
}

/// An id as lowercase hex, on the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hex<const N: usize>([u8; N]);

impl<const N: usize> Hex<N> {
    fn of(bytes: &[u8]) -> Self {
        let mut out = [0u8; N];
        hex(bytes, &mut out);
        Hex(out)
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> std::fmt::Display for Hex<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

thread_local! {
    /// Which untraced requests start a trace: one sampler per worker thread (= core), an
    /// accumulator like the access log's, so `trace.sample = 1` traces every request.
    static SAMPLER: Sampler = const { Sampler::new() };
    /// splitmix64 state for ids, seeded from the OS on first use on each thread.
    static RNG: Cell<u64> = const { Cell::new(0) };
}

fn next_u64() -> u64 {
    RNG.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = getrandom::u64().unwrap_or(0x9e37_79b9_7f4a_7c15) | 1;
        }
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// A random span id, never all zeros (W3C: an all-zero id is invalid).
fn new_span_id() -> [u8; 8] {
    loop {
        let v = next_u64();
        if v != 0 {
            return v.to_be_bytes();
        }
    }
}

/// A random trace id, never all zeros.
fn new_trace_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&next_u64().to_be_bytes());
    id[8..].copy_from_slice(&new_span_id());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

    #[test]
    fn received_is_continued_with_a_new_span_and_its_flags() {
        let t = TraceContext::for_request(Some(GOOD), 0.0).unwrap();
        assert_eq!(
            t.trace_id_hex().as_str(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(t.parent_id_hex().unwrap().as_str(), "00f067aa0ba902b7");
        assert!(!t.sampled());
        let out = t.traceparent();
        assert_eq!(&out[..36], &GOOD[..36]);
        assert_eq!(&out[52..], b"-00");
        assert_ne!(&out[36..52], &GOOD[36..52], "a new span id");
        let again = TraceContext::for_request(Some(GOOD), 0.0).unwrap();
        assert_ne!(again.span_id, t.span_id);
    }

    #[test]
    fn absent_or_invalid_starts_one_only_when_sampled() {
        assert_eq!(TraceContext::for_request(None, 0.0), None);
        assert_eq!(TraceContext::for_request(Some(b"00-zz"), 0.0), None);
        let t = TraceContext::for_request(Some(b"00-zz"), 1.0).unwrap();
        assert!(t.sampled() && t.parent_id.is_none());
        let text = t.traceparent();
        assert_eq!(TraceParent::parse(&text).unwrap().trace_id, t.trace_id);
        let n = (0..1000)
            .filter(|_| TraceContext::for_request(None, 0.25).is_some())
            .count();
        assert!((240..=260).contains(&n), "{n} of 1000 at 0.25");
    }
}
