//! `headers.*`: the security header fields on every HTTP response (docs/SECURITY.md,
//! "Security headers").

use super::{Key, Kind};
use crate::config::values;
use ringwire_net::{RouteHeaders, SecurityHeaders};

/// The raw `headers.*` values; [`HeaderSettings::security_headers`] builds net's form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderSettings {
    pub nosniff: bool,
    pub referrer_policy: String,
    pub frame_options: String,
    pub csp_static: String,
    pub hsts: String,
    pub routes: Vec<RouteHeaders>,
}

/// The prefix static files are served under (src/routes.rs): `headers.csp_static` applies
/// there.
pub const STATIC_PREFIX: &str = "/static/";

impl HeaderSettings {
    /// The fields every response gets, with `headers.csp_static` as a route of its own under
    /// `/static/` (so a `headers.routes` entry for a longer prefix can still change it).
    pub fn security_headers(&self) -> SecurityHeaders {
        let mut defaults = Vec::new();
        let mut add = |name: &str, value: &str| {
            if !value.is_empty() {
                defaults.push((name.to_string(), value.to_string()));
            }
        };
        add(
            "X-Content-Type-Options",
            if self.nosniff { "nosniff" } else { "" },
        );
        add("Referrer-Policy", &self.referrer_policy);
        add("X-Frame-Options", &self.frame_options);
        add("Strict-Transport-Security", &self.hsts);
        let mut routes = Vec::new();
        if !self.csp_static.is_empty() {
            routes.push(RouteHeaders {
                prefix: STATIC_PREFIX.into(),
                fields: vec![(
                    "Content-Security-Policy".into(),
                    Some(self.csp_static.clone()),
                )],
            });
        }
        routes.extend(self.routes.iter().cloned());
        // Every value was checked when it was set.
        SecurityHeaders::new(defaults, routes).unwrap_or_else(|_| SecurityHeaders::default())
    }
}

/// A single field value: printable ASCII (empty: the field is off).
fn value(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.bytes()
        .all(|c| c == b' ' || c == b'\t' || c.is_ascii_graphic())
    {
        Ok(v.to_string())
    } else {
        Err("a header value is printable ASCII".into())
    }
}

fn routes(v: &str) -> Result<Vec<RouteHeaders>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(RouteHeaders::parse)
        .collect()
}

pub static KEYS: &[Key] = &[
    Key {
        name: "headers.nosniff",
        flag: "headers-nosniff",
        kind: Kind::Bool,
        default: "true",
        help: "Send X-Content-Type-Options: nosniff on every response (browsers then never guess a type other than the Content-Type sent). /echo always sends it.",
        set: |s, v| {
            s.headers.nosniff = values::boolean(v)?;
            Ok(())
        },
        get: |s| s.headers.nosniff.to_string(),
    },
    Key {
        name: "headers.referrer_policy",
        flag: "headers-referrer-policy",
        kind: Kind::Text,
        default: "no-referrer",
        help: "Referrer-Policy on every response (empty: none). no-referrer keeps URLs, which may hold key and channel names, out of other sites' logs.",
        set: |s, v| {
            s.headers.referrer_policy = value(v)?;
            Ok(())
        },
        get: |s| s.headers.referrer_policy.clone(),
    },
    Key {
        name: "headers.frame_options",
        flag: "headers-frame-options",
        kind: Kind::Text,
        default: "DENY",
        help: "X-Frame-Options on every response (empty: none): DENY forbids framing (clickjacking), SAMEORIGIN allows it from the same origin.",
        set: |s, v| {
            s.headers.frame_options = value(v)?;
            Ok(())
        },
        get: |s| s.headers.frame_options.clone(),
    },
    Key {
        name: "headers.csp_static",
        flag: "headers-csp-static",
        kind: Kind::Text,
        default: "",
        help: "Content-Security-Policy for static files under /static/, e.g. default-src 'self' (empty: none).",
        set: |s, v| {
            s.headers.csp_static = value(v)?;
            Ok(())
        },
        get: |s| s.headers.csp_static.clone(),
    },
    Key {
        name: "headers.hsts",
        flag: "headers-hsts",
        kind: Kind::Text,
        default: "",
        help: "Strict-Transport-Security on every response, e.g. max-age=31536000 (empty: none). Only for a server reached over HTTPS (behind a TLS proxy): browsers ignore it over plain HTTP.",
        set: |s, v| {
            s.headers.hsts = value(v)?;
            Ok(())
        },
        get: |s| s.headers.hsts.clone(),
    },
    Key {
        name: "headers.routes",
        flag: "headers-routes",
        kind: Kind::Text,
        default: "",
        help: "Per-route overrides, comma-separated PREFIX;Name=value;Name2= (an empty value removes the field), e.g. /static/embed/;X-Frame-Options=. The longest matching prefix has the last word. Values cannot hold , or ;.",
        set: |s, v| {
            s.headers.routes = routes(v)?;
            Ok(())
        },
        get: |s| {
            let texts: Vec<String> = s.headers.routes.iter().map(|r| r.to_string()).collect();
            texts.join(",")
        },
    },
];

#[cfg(test)]
mod tests {
    use crate::config::{Settings, keys::find};

    fn set(s: &mut Settings, key: &str, v: &str) -> Result<(), String> {
        (find(key).expect("a key").set)(s, v)
    }

    #[test]
    fn defaults_are_the_net_defaults() {
        let s = Settings::default();
        assert_eq!(
            s.net_config().headers,
            ringwire_net::SecurityHeaders::default()
        );
    }

    #[test]
    fn csp_is_for_static_files_and_routes_override() {
        let mut s = Settings::default();
        set(&mut s, "headers.csp_static", "default-src 'self'").unwrap();
        set(&mut s, "headers.hsts", "max-age=60").unwrap();
        set(&mut s, "headers.nosniff", "false").unwrap();
        set(
            &mut s,
            "headers.routes",
            "/static/embed/;X-Frame-Options=, /kv/;A=b",
        )
        .unwrap();
        let h = s.net_config().headers;
        let has = |path: &str, name: &str| h.fields_for(path).iter().any(|(n, _)| n == name);
        assert!(has("/static/a", "Content-Security-Policy"));
        assert!(!has("/plaintext", "Content-Security-Policy"));
        assert!(has("/plaintext", "Strict-Transport-Security"));
        assert!(!has("/plaintext", "X-Content-Type-Options"));
        assert!(has("/static/embed/x", "Content-Security-Policy"));
        assert!(!has("/static/embed/x", "X-Frame-Options"));
        assert!(has("/kv/x", "A") && has("/kv/x", "X-Frame-Options"));
        let text = (find("headers.routes").unwrap().get)(&s);
        assert_eq!(text, "/static/embed/;X-Frame-Options=,/kv/;A=b");
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let mut s = Settings::default();
        let e = set(&mut s, "headers.routes", "/x;Content-Length=1").unwrap_err();
        assert!(e.contains("Content-Length"), "{e}");
        assert!(set(&mut s, "headers.routes", "x;A=b").is_err());
        assert!(set(&mut s, "headers.hsts", "max-age=1\u{7f}").is_err());
    }
}
