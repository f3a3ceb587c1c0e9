//! Keys of the storage layer (`db.*`) and the key-value service (`kv.*`).

use super::{Key, Kind, positive};
use crate::config::{DbBackend, values};

pub static KEYS: &[Key] = &[
    Key {
        name: "db.data_dir",
        flag: "data-dir",
        kind: Kind::Text,
        default: "ringwire-data",
        help: "Data directory of the embedded store (created if missing, mode 0700). Relative paths start at the working directory; the systemd unit uses StateDirectory=ringwire. Also $RINGWIRE_DATA_DIR.",
        set: |s, v| {
            let v = v.trim();
            if v.is_empty() {
                return Err("must not be empty".into());
            }
            s.db.data_dir = v.into();
            Ok(())
        },
        get: |s| s.db.data_dir.display().to_string(),
    },
    Key {
        name: "db.backend",
        flag: "db-backend",
        kind: Kind::Text,
        default: "embedded",
        help: "Storage backend: embedded (LMDB in db.data_dir, one machine) or postgres (a PostgreSQL server at db.url, shared by several nodes). Also $RINGWIRE_DB_BACKEND.",
        set: |s, v| {
            s.db.backend = match v.trim() {
                "embedded" => DbBackend::Embedded,
                "postgres" => DbBackend::Postgres,
                other => return Err(format!("expected embedded or postgres, got {other:?}")),
            };
            Ok(())
        },
        get: |s| match s.db.backend {
            DbBackend::Embedded => "embedded".into(),
            DbBackend::Postgres => "postgres".into(),
        },
    },
    Key {
        name: "db.sync",
        flag: "db-sync",
        kind: Kind::Text,
        default: "always",
        help: "When an acknowledged write is on disk: always (fsync per commit batch before answering), batch (fsync at most every db.sync_interval: a power failure can lose acknowledged writes), none (never fsync).",
        set: |s, v| {
            s.db.sync = v.trim().parse()?;
            Ok(())
        },
        get: |s| s.db.sync.name().into(),
    },
    Key {
        name: "db.sync_interval",
        flag: "db-sync-interval",
        kind: Kind::Text,
        default: "100ms",
        help: "With db.sync = batch: the longest time between two fsyncs.",
        set: |s, v| {
            s.db.sync_interval = positive(values::duration(v)?)?;
            Ok(())
        },
        get: |s| values::show_duration(s.db.sync_interval),
    },
    Key {
        name: "db.map_size",
        flag: "db-map-size",
        kind: Kind::Text,
        default: "1GiB",
        help: "Size of the store's memory map: the most its data can grow to. When full, writes fail with 507 and /health/ready fails; raise it and restart (the file grows only as data is written).",
        set: |s, v| {
            let n = values::size(v)?;
            if n < 1 << 20 {
                return Err("must be at least 1MiB".into());
            }
            s.db.map_size =
                usize::try_from(n).map_err(|_| "too large for this machine".to_string())?;
            Ok(())
        },
        get: |s| s.db.map_size.to_string(),
    },
    Key {
        name: "db.max_readers",
        flag: "db-max-readers",
        kind: Kind::Number,
        default: "256",
        help: "LMDB reader slots: one per thread that reads (every worker, the control core, db backup/stats). Slots of dead processes are cleared at start.",
        set: |s, v| {
            s.db.max_readers = values::number(v, 8u32, 65536)?;
            Ok(())
        },
        get: |s| s.db.max_readers.to_string(),
    },
];

/// `kv.*`, printed after every `db.*` key (one TOML section each).
pub static KV_KEYS: &[Key] = &[Key {
    name: "kv.max_value",
    flag: "kv-max-value",
    kind: Kind::Text,
    default: "1MiB",
    help: "Largest value the key-value service accepts (413 beyond it).",
    set: |s, v| {
        let n = values::size(v)?;
        // The stream protocol's `kv` messages carry at most 16 MiB + 1 KiB.
        if n == 0 || n > 16 << 20 {
            return Err("must be from 1 byte to 16MiB".into());
        }
        s.db.max_value = n as usize;
        Ok(())
    },
    get: |s| s.db.max_value.to_string(),
}];
