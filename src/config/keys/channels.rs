//! Keys of the channels (`pubsub.*`): which are durable, consumers' defaults, Server-Sent
//! Events.

use super::{Key, Kind, positive};
use crate::config::values;
use ringwire_services::channels::policy::Durability;

pub static KEYS: &[Key] = &[
    Key {
        name: "pubsub.durable",
        flag: "durable",
        kind: Kind::Text,
        default: "",
        help: "Channels that keep their messages in the store, as a list of PATTERN[;max_count=N][;max_bytes=SIZE][;max_age=DURATION] (e.g. [\"orders.*;max_age=7d;max_bytes=1GiB\", \"audit\"]; on the command line comma-separated). In a pattern `*` matches one dot-separated token and a final `>` one or more; the first matching entry wins; a bound not given is unlimited. Other channels are in memory only (at most once). Also $RINGWIRE_PUBSUB_DURABLE.",
        set: |s, v| {
            s.channels.durable = Durability::parse(v, values::size, values::duration)?;
            Ok(())
        },
        get: |s| s.channels.durable.to_string(),
    },
    Key {
        name: "pubsub.ack_wait",
        flag: "ack-wait",
        kind: Kind::Text,
        default: "30s",
        help: "A consumer's time to acknowledge a delivery before it is delivered again, unless the consumer asks for another.",
        set: |s, v| {
            s.channels.ack_wait = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.channels.ack_wait),
    },
    Key {
        name: "pubsub.max_ack_pending",
        flag: "max-ack-pending",
        kind: Kind::Number,
        default: "1000",
        help: "A consumer's most deliveries not yet acknowledged, unless the consumer asks for another; further messages wait.",
        set: |s, v| {
            s.channels.max_ack_pending = values::number(v, 1u32, 1 << 20)?;
            Ok(())
        },
        get: |s| s.channels.max_ack_pending.to_string(),
    },
    Key {
        name: "pubsub.sse_heartbeat",
        flag: "sse-heartbeat",
        kind: Kind::Text,
        default: "15s",
        help: "How often a Server-Sent Events response (GET /channels/{name}/events) with nothing to send writes a comment, so proxies keep the connection.",
        set: |s, v| {
            s.channels.sse_heartbeat = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.channels.sse_heartbeat),
    },
];
