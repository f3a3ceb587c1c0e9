//! `trace.*`: W3C Trace Context propagation and OTLP export (docs/OPERATIONS.md, "Tracing").

use super::{Key, Kind};

/// The `trace.*` values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceSettings {
    /// Share of requests without a valid `traceparent` that start a trace, 0 to 1.
    pub sample: f64,
    /// Where sampled spans are posted (OTLP/HTTP protobuf); `None`: not exported.
    pub otlp_endpoint: Option<OtlpEndpoint>,
}

/// An `http://host:port/path` OTLP/HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpEndpoint {
    /// Host name or address, as written (brackets kept for IPv6).
    pub host: String,
    pub port: u16,
    /// The request path, starting with `/`.
    pub path: String,
}

impl OtlpEndpoint {
    /// Reads `http://host[:port][/path]` (port 4318 and path `/v1/traces` by default, as the
    /// OTLP specification's defaults for HTTP).
    pub fn parse(v: &str) -> Result<OtlpEndpoint, String> {
        let rest = v.trim().strip_prefix("http://").ok_or_else(|| {
            format!(
                "expected http://host:port/path (plain HTTP, e.g. to a local collector), got {v:?}"
            )
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/v1/traces"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !authority.starts_with('[') || h.ends_with(']') => {
                let port = p.parse().map_err(|_| format!("bad port {p:?} in {v:?}"))?;
                (h, port)
            }
            _ => (authority, 4318),
        };
        let visible = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
        if host.is_empty() || !visible(host) || !visible(path) {
            return Err(format!("expected http://host:port/path, got {v:?}"));
        }
        Ok(OtlpEndpoint {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

impl std::fmt::Display for OtlpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.path)
    }
}

pub static KEYS: &[Key] = &[
    Key {
        name: "trace.sample",
        flag: "trace-sample",
        kind: Kind::Number,
        default: "0",
        help: "Share of requests without a valid traceparent that start a new sampled trace, 0 to 1 (0: none). A received traceparent is always continued, its sampled flag as sent.",
        set: |s, v| {
            let r: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("expected a number from 0 to 1, got {v:?}"))?;
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("{r} is out of range 0..=1"));
            }
            s.trace.sample = r;
            Ok(())
        },
        get: |s| s.trace.sample.to_string(),
    },
    Key {
        name: "trace.otlp_endpoint",
        flag: "trace-otlp-endpoint",
        kind: Kind::Text,
        default: "",
        help: "OTLP/HTTP (protobuf) endpoint that sampled request spans are posted to, e.g. http://127.0.0.1:4318/v1/traces (empty: no export). Needs a binary built with the otlp cargo feature.",
        set: |s, v| {
            if v.trim().is_empty() {
                s.trace.otlp_endpoint = None;
                return Ok(());
            }
            if !cfg!(feature = "otlp") {
                return Err("this ringwire was built without the otlp feature: build it with `cargo build --release --features otlp`, or leave trace.otlp_endpoint empty".into());
            }
            s.trace.otlp_endpoint = Some(OtlpEndpoint::parse(v)?);
            Ok(())
        },
        get: |s| {
            s.trace
                .otlp_endpoint
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default()
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = OtlpEndpoint::parse("http://127.0.0.1:4318/v1/traces").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("127.0.0.1", 4318, "/v1/traces")
        );
        let e = OtlpEndpoint::parse("http://collector").unwrap();
        assert_eq!(e.to_string(), "http://collector:4318/v1/traces");
        let e = OtlpEndpoint::parse("http://[::1]:9/x").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("[::1]", 9));
        assert_eq!(OtlpEndpoint::parse("http://[::1]").unwrap().port, 4318);
        for bad in [
            "https://x/v1/traces",
            "x:4318",
            "http://:1/",
            "http://h:port/",
            "http://h/a b",
        ] {
            assert!(OtlpEndpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
