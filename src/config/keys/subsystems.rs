//! Keys of the subsystems: logging, the control core, the stream protocol, io_uring.

use super::{Key, Kind, positive};
use crate::config::{LogFormat, values};

pub static KEYS: &[Key] = &[
    Key {
        name: "log.level",
        flag: "log-level",
        kind: Kind::Text,
        default: "info",
        help: "Log filter: error, warn, info, debug, trace, or a tracing directive such as ringwire_net=debug.",
        set: |s, v| {
            let v = v.trim();
            tracing_subscriber::EnvFilter::try_new(v).map_err(|e| format!("{e}"))?;
            s.log_level = v.to_string();
            Ok(())
        },
        get: |s| s.log_level.clone(),
    },
    Key {
        name: "log.format",
        flag: "log-format",
        kind: Kind::Text,
        default: "text",
        help: "Log format: text or json (one object per line).",
        set: |s, v| {
            s.log_format = match v.trim() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => return Err(format!("expected text or json, got {other:?}")),
            };
            Ok(())
        },
        get: |s| match s.log_format {
            LogFormat::Text => "text".into(),
            LogFormat::Json => "json".into(),
        },
    },
    Key {
        name: "log.access_sample",
        flag: "access-log-sample",
        kind: Kind::Number,
        default: "0.01",
        help: "Share of requests written to the access log, 0 to 1 (method, path, status, bytes, duration, core, request and trace id).",
        set: |s, v| {
            let r: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("expected a number from 0 to 1, got {v:?}"))?;
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("{r} is out of range 0..=1"));
            }
            s.access_sample = r;
            Ok(())
        },
        get: |s| s.access_sample.to_string(),
    },
    Key {
        name: "ops.heartbeat_interval",
        flag: "heartbeat-interval",
        kind: Kind::Text,
        default: "500ms",
        help: "How often the control core asks each worker for a heartbeat (and its stats).",
        set: |s, v| {
            s.heartbeat_interval = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.heartbeat_interval),
    },
    Key {
        name: "ops.heartbeat_timeout",
        flag: "heartbeat-timeout",
        kind: Kind::Text,
        default: "2s",
        help: "A worker silent this long fails /health/live and stops the systemd watchdog pings.",
        set: |s, v| {
            s.heartbeat_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.heartbeat_timeout),
    },
    Key {
        name: "stream.enabled",
        flag: "stream-enabled",
        kind: Kind::Bool,
        default: "true",
        help: "The binary stream protocol: true, or false to turn it off everywhere (no stream_listen listener, and HTTP Upgrade: ringwire-stream/1 is answered as plain HTTP).",
        set: |s, v| {
            s.stream_enabled = values::boolean(v)?;
            Ok(())
        },
        get: |s| s.stream_enabled.to_string(),
    },
    Key {
        name: "stream.handshake_timeout",
        flag: "stream-handshake-timeout",
        kind: Kind::Text,
        default: "10s",
        help: "Time a new stream connection has to deliver its whole HELLO; then GOAWAY TIMEOUT and close.",
        set: |s, v| {
            s.stream_handshake_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.stream_handshake_timeout),
    },
    Key {
        name: "stream.frame_timeout",
        flag: "stream-frame-timeout",
        kind: Kind::Text,
        default: "10s",
        help: "Time from a frame's first byte to its last; then GOAWAY TIMEOUT and close.",
        set: |s, v| {
            s.stream_frame_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.stream_frame_timeout),
    },
    Key {
        name: "stream.ping_interval",
        flag: "stream-ping-interval",
        kind: Kind::Text,
        default: "30s",
        help: "With streams open, the server PINGs a connection silent this long.",
        set: |s, v| {
            s.stream_ping_interval = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.stream_ping_interval),
    },
    Key {
        name: "stream.ping_timeout",
        flag: "stream-ping-timeout",
        kind: Kind::Text,
        default: "20s",
        help: "Time the peer has to answer the server's PING; then GOAWAY TIMEOUT and close (a dead peer).",
        set: |s, v| {
            s.stream_ping_timeout = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.stream_ping_timeout),
    },
    Key {
        name: "stream.max_streams",
        flag: "stream-max-streams",
        kind: Kind::Number,
        default: "100",
        help: "Streams a client may have open at once on one stream-protocol connection.",
        set: |s, v| {
            s.stream_max_streams = values::number(v, 1u32, 100_000)?;
            Ok(())
        },
        get: |s| s.stream_max_streams.to_string(),
    },
    Key {
        name: "stream.stream_window",
        flag: "stream-window",
        kind: Kind::Number,
        default: "262144",
        help: "Initial flow-control window per stream: bytes a client may send before the server consumes them.",
        set: |s, v| {
            s.stream_window =
                u32::try_from(values::size(v)?).map_err(|_| "too large".to_string())?;
            Ok(())
        },
        get: |s| s.stream_window.to_string(),
    },
    Key {
        name: "stream.connection_window",
        flag: "stream-connection-window",
        kind: Kind::Number,
        default: "1048576",
        help: "Initial flow-control window for all streams of one connection together.",
        set: |s, v| {
            s.stream_connection_window =
                u32::try_from(values::size(v)?).map_err(|_| "too large".to_string())?;
            Ok(())
        },
        get: |s| s.stream_connection_window.to_string(),
    },
    Key {
        name: "stream.max_frame",
        flag: "stream-max-frame",
        kind: Kind::Number,
        default: "16384",
        help: "Largest frame payload the server accepts (1024 to 16777215).",
        set: |s, v| {
            s.stream_max_frame =
                u32::try_from(values::size(v)?).map_err(|_| "too large".to_string())?;
            Ok(())
        },
        get: |s| s.stream_max_frame.to_string(),
    },
    Key {
        name: "stream.subscriber_queue",
        flag: "subscriber-queue",
        kind: Kind::Number,
        default: "1024",
        help: "Messages queued per pub/sub subscription; a subscriber further behind is reset with SLOW_CONSUMER.",
        set: |s, v| {
            s.subscriber_queue = values::number(v, 1usize, 1 << 24)?;
            Ok(())
        },
        get: |s| s.subscriber_queue.to_string(),
    },
    Key {
        name: "io_uring.ring_entries",
        flag: "ring-entries",
        kind: Kind::Number,
        default: "1024",
        help: "io_uring submission queue entries per worker (the completion queue is 4x).",
        set: |s, v| {
            s.ring_entries = values::number(v, 8u32, 32768)?;
            Ok(())
        },
        get: |s| s.ring_entries.to_string(),
    },
    Key {
        name: "io_uring.recv_buffers",
        flag: "recv-buffers",
        kind: Kind::Number,
        default: "512",
        help: "Provided receive buffers per worker (rounded up to a power of two).",
        set: |s, v| {
            s.recv_buffers = values::number(v, 1u16, 32768)?;
            Ok(())
        },
        get: |s| s.recv_buffers.to_string(),
    },
    Key {
        name: "io_uring.recv_buffer_size",
        flag: "recv-buffer-size",
        kind: Kind::Number,
        default: "4096",
        help: "Size of each receive buffer in bytes (also the pooled buffer size on epoll).",
        set: |s, v| {
            s.recv_buffer_size =
                values::number(values::size(v)?.to_string().as_str(), 512u32, 1 << 20)?;
            Ok(())
        },
        get: |s| s.recv_buffer_size.to_string(),
    },
];
