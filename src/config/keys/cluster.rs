//! Keys of the cluster bridge (`cluster.*`): ephemeral channels across nodes through NATS.

use super::{Key, Kind};
use crate::config::values;

/// The `nats://host:port` URLs of `cluster.nats` (comma-separated; TOML arrays are joined).
fn urls(v: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for url in v.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let rest = url
            .strip_prefix("nats://")
            .ok_or_else(|| format!("{url:?}: a NATS server is nats://host:port"))?;
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{url:?}: the port is missing (nats://host:4222)"))?;
        if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!("{url:?}: expected nats://host:port"));
        }
        ringwire_services::channels::bridge::check_url(url)?;
        out.push(url.to_string());
    }
    Ok(out)
}

pub static KEYS: &[Key] = &[
    Key {
        name: "cluster.nats",
        flag: "cluster-nats",
        kind: Kind::Text,
        default: "",
        help: "NATS servers to join, comma-separated nats://host:port (any reachable one is enough; the client learns the rest of the cluster from it). Empty: no cluster, channels stay on this node. Set: every publish on an ephemeral channel also goes to subject ringwire.ch.<channel>, and what other nodes publish reaches this node's subscribers (docs/OPERATIONS.md, Clustering).",
        set: |s, v| {
            s.cluster.nats = urls(v)?;
            Ok(())
        },
        get: |s| s.cluster.nats.join(","),
    },
    Key {
        name: "cluster.replicas",
        flag: "cluster-replicas",
        kind: Kind::Number,
        default: "1",
        help: "In cluster mode durable channels (pubsub.durable) are JetStream streams with file storage and this many replicas (1 to 5; at most the JetStream servers of the NATS cluster; 3 survives the loss of one). Consumer state goes to the JetStream KV bucket RW_CONSUMERS with as many.",
        set: |s, v| {
            s.cluster.replicas = values::number(v, 1usize, 5)?;
            Ok(())
        },
        get: |s| s.cluster.replicas.to_string(),
    },
    Key {
        name: "cluster.buffer",
        flag: "cluster-buffer",
        kind: Kind::Text,
        default: "64MiB",
        help: "Bytes of cluster publishes held, in order, while NATS is unreachable (at most 1048576 messages too). When full, ephemeral publishes are refused before any delivery (pubsub: RESET UNAVAILABLE; channels: status UNAVAILABLE; HTTP: 503) until NATS is back and the buffer is sent; until then local delivery goes on. After a reconnect the buffer waits 5 s for the other nodes to re-subscribe.",
        set: |s, v| {
            let n = values::size(v)?;
            if n == 0 || n > 1 << 40 {
                return Err("must be from 1 byte to 1TiB".into());
            }
            s.cluster.buffer = n as usize;
            Ok(())
        },
        get: |s| s.cluster.buffer.to_string(),
    },
    Key {
        name: "cluster.node_name",
        flag: "cluster-node-name",
        kind: Kind::Text,
        default: "",
        help: "This node's name in the cluster, sent with each message it publishes so that it never takes its own messages back. Empty: <hostname>-<pid>. Must differ between nodes.",
        set: |s, v| {
            let v = v.trim();
            if !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err("printable ASCII without spaces only".into());
            }
            s.cluster.node_name = v.to_string();
            Ok(())
        },
        get: |s| s.cluster.node_name.clone(),
    },
];

#[cfg(test)]
mod tests {
    use super::urls;

    #[test]
    fn nats_urls() {
        assert_eq!(urls("").unwrap(), Vec::<String>::new());
        assert_eq!(
            urls("nats://a:4222, nats://127.0.0.1:4223").unwrap(),
            ["nats://a:4222", "nats://127.0.0.1:4223"]
        );
        assert!(urls("a:4222").unwrap_err().contains("nats://host:port"));
        assert!(urls("nats://a").unwrap_err().contains("port is missing"));
        assert!(urls("nats://a:0").is_err());
    }
}
