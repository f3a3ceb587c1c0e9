//! The server's own keys: addresses, workers, files, limits, timeouts. Top-level keys come
//! first: in TOML, keys after a `[section]` header belong to it.

use super::{Key, Kind, opt_text, positive};
use crate::config::{ControlCpu, values};
use std::path::PathBuf;

pub static KEYS: &[Key] = &[
    Key {
        name: "listen",
        flag: "listen",
        kind: Kind::Text,
        default: "127.0.0.1:8080",
        help: "Address of the HTTP listener (one SO_REUSEPORT socket per worker).",
        set: |s, v| {
            s.listen = v
                .trim()
                .parse()
                .map_err(|_| format!("expected an address such as 127.0.0.1:8080, got {v:?}"))?;
            Ok(())
        },
        get: |s| s.listen.to_string(),
    },
    Key {
        name: "io",
        flag: "io",
        kind: Kind::Text,
        default: "auto",
        help: "I/O backend: auto (io_uring if the kernel allows, else epoll), uring (fail if unavailable), epoll.",
        set: |s, v| {
            s.io = v
                .trim()
                .parse()
                .map_err(|e: ringwire_reactor::ParseBackendError| e.to_string())?;
            Ok(())
        },
        get: |s| s.io.to_string(),
    },
    Key {
        name: "workers",
        flag: "workers",
        kind: Kind::Number,
        default: "0",
        help: "Worker threads (one reactor each); 0 means one per CPU in `cpus` (or per available CPU).",
        set: |s, v| {
            s.workers = values::number(v, 0usize, 1024)?;
            Ok(())
        },
        get: |s| s.workers.to_string(),
    },
    Key {
        name: "cpus",
        flag: "cpus",
        kind: Kind::Text,
        default: "",
        help: "CPUs to pin workers to, e.g. 0-3,8 (empty: every CPU the process may use).",
        set: |s, v| {
            s.cpus = match v.trim() {
                "" => None,
                list => Some(
                    ringwire_reactor::launcher::parse_cpu_list(list).map_err(|e| e.to_string())?,
                ),
            };
            Ok(())
        },
        get: |s| {
            s.cpus
                .as_ref()
                .map(|c| {
                    c.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default()
        },
    },
    Key {
        name: "root",
        flag: "root",
        kind: Kind::Text,
        default: "",
        help: "Directory served under /static/ (empty: static files off).",
        set: |s, v| {
            s.root = opt_text(v).map(PathBuf::from);
            Ok(())
        },
        get: |s| {
            s.root
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        },
    },
    Key {
        name: "server_name",
        flag: "server-name",
        kind: Kind::Text,
        default: "ringwire",
        help: "Value of the Server response field (empty: no Server field).",
        set: |s, v| {
            s.server_name = opt_text(v);
            Ok(())
        },
        get: |s| s.server_name.clone().unwrap_or_default(),
    },
    Key {
        name: "admin",
        flag: "admin",
        kind: Kind::Text,
        default: "127.0.0.1:9090",
        help: "Address of the admin endpoints (/metrics, /health/live, /health/ready, /health/startup); empty: off.",
        set: |s, v| {
            s.admin = match v.trim() {
                "" => None,
                a => Some(a.parse().map_err(|_| {
                    format!("expected an address such as 127.0.0.1:9090, got {v:?}")
                })?),
            };
            Ok(())
        },
        get: |s| s.admin.map(|a| a.to_string()).unwrap_or_default(),
    },
    Key {
        name: "control_cpu",
        flag: "control-cpu",
        kind: Kind::Text,
        default: "auto",
        help: "CPU of the control core: auto (a CPU no worker uses, else unpinned), none, or a CPU number.",
        set: |s, v| {
            s.control_cpu = match v.trim() {
                "auto" => ControlCpu::Auto,
                "none" => ControlCpu::None,
                n => ControlCpu::Cpu(
                    n.parse()
                        .map_err(|_| format!("expected auto, none or a CPU number, got {v:?}"))?,
                ),
            };
            Ok(())
        },
        get: |s| match s.control_cpu {
            ControlCpu::Auto => "auto".into(),
            ControlCpu::None => "none".into(),
            ControlCpu::Cpu(c) => c.to_string(),
        },
    },
    Key {
        name: "stream_listen",
        flag: "stream-listen",
        kind: Kind::Text,
        default: "127.0.0.1:7070",
        help: "Address of the binary stream protocol's own listener (one per worker); empty: no listener of its own (HTTP Upgrade on GET / still works; stream.enabled = false turns both off).",
        set: |s, v| {
            s.stream_listen = match v.trim() {
                "" => None,
                a => Some(a.parse().map_err(|_| {
                    format!("expected an address such as 127.0.0.1:7070, got {v:?}")
                })?),
            };
            Ok(())
        },
        get: |s| s.stream_listen.map(|a| a.to_string()).unwrap_or_default(),
    },
    Key {
        name: "limits.backlog",
        flag: "backlog",
        kind: Kind::Number,
        default: "1024",
        help: "Listen backlog per worker socket (the kernel caps it at net.core.somaxconn).",
        set: |s, v| {
            s.backlog = values::number(v, 1u32, 1 << 20)?;
            Ok(())
        },
        get: |s| s.backlog.to_string(),
    },
    Key {
        name: "limits.max_connections",
        flag: "max-connections",
        kind: Kind::Number,
        default: "16384",
        help: "Open connections per worker; more are accepted and closed at once (counted as rejected).",
        set: |s, v| {
            s.max_connections = values::number(v, 1usize, 10_000_000)?;
            Ok(())
        },
        get: |s| s.max_connections.to_string(),
    },
    Key {
        name: "limits.max_request_line",
        flag: "max-request-line",
        kind: Kind::Number,
        default: "8192",
        help: "Longest request line in bytes; longer gets 414 (capped by limits.max_head).",
        set: |s, v| {
            s.max_request_line = values::size(v)?
                .try_into()
                .map_err(|_| "too large".to_string())?;
            Ok(())
        },
        get: |s| s.max_request_line.to_string(),
    },
    Key {
        name: "limits.max_head",
        flag: "max-head",
        kind: Kind::Number,
        default: "16384",
        help: "Largest request head (request line + fields) in bytes; larger gets 431.",
        set: |s, v| {
            let n: usize = values::size(v)?
                .try_into()
                .map_err(|_| "too large".to_string())?;
            if !(64..=1 << 24).contains(&n) {
                return Err(format!("{n} is out of range 64..=16777216"));
            }
            s.max_head = n;
            Ok(())
        },
        get: |s| s.max_head.to_string(),
    },
    Key {
        name: "limits.max_headers",
        flag: "max-headers",
        kind: Kind::Number,
        default: "100",
        help: "Most header fields per request (at most 256); more gets 431.",
        set: |s, v| {
            s.max_headers = values::number(v, 1usize, ringwire_protocol::http1::MAX_HEADERS_CAP)?;
            Ok(())
        },
        get: |s| s.max_headers.to_string(),
    },
    Key {
        name: "limits.max_body",
        flag: "max-body",
        kind: Kind::Number,
        default: "1048576",
        help: "Largest request body in bytes (k/m/g suffixes allowed); larger gets 413 before it is read.",
        set: |s, v| {
            s.max_body = values::size(v)?;
            Ok(())
        },
        get: |s| s.max_body.to_string(),
    },
    Key {
        name: "timeouts.head",
        flag: "head-timeout",
        kind: Kind::Text,
        default: "10s",
        help: "Time to receive a request head from its first byte; then 408 and close.",
        set: |s, v| {
            s.head_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.head_timeout),
    },
    Key {
        name: "timeouts.keepalive",
        flag: "keepalive-timeout",
        kind: Kind::Text,
        default: "60s",
        help: "Time an idle keep-alive connection may wait for its next request.",
        set: |s, v| {
            s.keepalive_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.keepalive_timeout),
    },
    Key {
        name: "timeouts.body",
        flag: "body-timeout",
        kind: Kind::Text,
        default: "10s",
        help: "Time a request body may go without a byte arriving; then 408 and close.",
        set: |s, v| {
            s.body_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.body_timeout),
    },
    Key {
        name: "timeouts.write",
        flag: "write-timeout",
        kind: Kind::Text,
        default: "30s",
        help: "Time a response write may make no progress; then close.",
        set: |s, v| {
            s.write_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.write_timeout),
    },
    Key {
        name: "timeouts.shutdown",
        flag: "shutdown-timeout",
        kind: Kind::Text,
        default: "25s",
        help: "On SIGTERM/SIGINT: time in-flight requests get to finish before connections are force-closed.",
        set: |s, v| {
            s.shutdown_timeout = values::duration(v)?;
            Ok(())
        },
        get: |s| values::show_duration(s.shutdown_timeout),
    },
];
