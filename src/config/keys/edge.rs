//! Keys of the edge (`auth.*`, `limits.*`, `shed.*`): tokens, protected mode, rate and
//! connection limits, overload shedding (docs/SECURITY.md).

use super::{Key, Kind, opt_text};
use crate::config::values;
use ringwire_net::limit::{Pattern, Rules};
use std::path::PathBuf;

pub static KEYS: &[Key] = &[
    Key {
        name: "auth.keys",
        flag: "auth-keys",
        kind: Kind::Text,
        default: "",
        help: "Directory of Ed25519 public keys (<kid>.pub, written by `ringwire token keygen`) that sign the tokens clients present (HTTP Authorization: Bearer, or the stream handshake). Set: the data services (kv, channels, the stream protocol's services) need a token with the right scope. Unset: protected mode, data only for loopback clients. Reloaded on SIGHUP.",
        set: |s, v| {
            s.edge.keys = opt_text(v).map(PathBuf::from);
            Ok(())
        },
        get: |s| path(&s.edge.keys),
    },
    Key {
        name: "auth.revoked",
        flag: "auth-revoked",
        kind: Kind::Text,
        default: "",
        help: "File of revoked token ids (jti), one per line (# comments); tokens with these ids are refused. Reloaded on SIGHUP.",
        set: |s, v| {
            s.edge.revoked = opt_text(v).map(PathBuf::from);
            Ok(())
        },
        get: |s| path(&s.edge.revoked),
    },
    Key {
        name: "auth.leeway",
        flag: "auth-leeway",
        kind: Kind::Text,
        default: "5s",
        help: "Clock skew allowed when checking a token's expiry (exp) and issue time (iat).",
        set: |s, v| {
            s.edge.leeway = values::duration(v)?;
            Ok(())
        },
        get: |s| values::show_duration(s.edge.leeway),
    },
    Key {
        name: "auth.insecure_open",
        flag: "insecure-open",
        kind: Kind::Bool,
        default: "false",
        help: "Without auth.keys, serve the data services to every client instead of loopback clients only (turns protected mode off). Only behind a firewall you trust.",
        set: |s, v| {
            s.edge.insecure_open = values::boolean(v)?;
            Ok(())
        },
        get: |s| s.edge.insecure_open.to_string(),
    },
    Key {
        name: "auth.protect",
        flag: "auth-protect",
        kind: Kind::Text,
        default: "",
        help: "Public routes and services that need a valid token anyway (or, without keys, a loopback client), comma-separated patterns: an HTTP path, a prefix ending in * (`/static/*`), or stream:echo. Empty: /plaintext, /json, /echo, /static/ and stream echo are open to all.",
        set: |s, v| {
            s.edge.protect = v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| p.parse::<Pattern>())
                .collect::<Result<_, _>>()?;
            Ok(())
        },
        get: |s| {
            let list: Vec<String> = s.edge.protect.iter().map(|p| p.to_string()).collect();
            list.join(",")
        },
    },
    Key {
        name: "auth.public_metrics",
        flag: "public-metrics",
        kind: Kind::Bool,
        default: "true",
        help: "The admin listener's /metrics needs no token (probes /health/* never do). false: /metrics needs the admin scope.",
        set: |s, v| {
            s.public_metrics = values::boolean(v)?;
            Ok(())
        },
        get: |s| s.public_metrics.to_string(),
    },
    Key {
        name: "limits.rate",
        flag: "rate-limit",
        kind: Kind::Text,
        default: "",
        help: "Rate limits, a list of MATCH;key=ip|sub;rate=N/s|m|h|d;burst=N (TOML: [[limits.rate]] tables with match, key, rate, burst). MATCH is an HTTP path (`/kv/*` = prefix) or stream:SERVICE. Over the limit: HTTP 429 with Retry-After, stream RATE_LIMITED. Shared by all cores.",
        set: |s, v| {
            s.edge.rules = Rules::parse(v).map_err(|e| e.to_string())?;
            Ok(())
        },
        get: |s| s.edge.rules.to_string(),
    },
    Key {
        name: "limits.max_connections_per_ip",
        flag: "max-connections-per-ip",
        kind: Kind::Number,
        default: "0",
        help: "Connections one client address may hold across all cores (HTTP and stream together); more are accepted and closed at once. 0: no limit.",
        set: |s, v| {
            s.edge.max_connections_per_ip = values::number(v, 0usize, 1 << 24)?;
            Ok(())
        },
        get: |s| s.edge.max_connections_per_ip.to_string(),
    },
    Key {
        name: "limits.max_connections_total",
        flag: "max-connections-total",
        kind: Kind::Number,
        default: "0",
        help: "Connections across all cores (each core also has its own max_connections). 0: no limit beyond the per-core ones.",
        set: |s, v| {
            s.edge.max_connections_total = values::number(v, 0usize, 1 << 24)?;
            Ok(())
        },
        get: |s| s.edge.max_connections_total.to_string(),
    },
    Key {
        name: "shed.queue_delay",
        flag: "shed-queue-delay",
        kind: Kind::Text,
        default: "1s",
        help: "A core whose event loop runs this late sheds for a second: new connections are closed at once, new requests get 503 with Retry-After (stream: UNAVAILABLE). 0: never.",
        set: |s, v| {
            s.edge.shed_queue_delay = values::duration(v)?;
            Ok(())
        },
        get: |s| values::show_duration(s.edge.shed_queue_delay),
    },
    Key {
        name: "shed.memory",
        flag: "shed-memory",
        kind: Kind::Text,
        default: "0",
        help: "Resident memory (e.g. 8GiB) past which every core sheds new connections and requests until it falls below. 0: never.",
        set: |s, v| {
            s.edge.shed_memory = values::size(v)?;
            Ok(())
        },
        get: |s| s.edge.shed_memory.to_string(),
    },
];

fn path(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}
