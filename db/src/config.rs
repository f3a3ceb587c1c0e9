//! What a store is opened with: where, how durable, how large.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

/// The longest key LMDB accepts (its compile-time `MDB_MAXKEYSIZE`).
pub const MAX_KEY: usize = 511;

/// When an acknowledged write reaches the disk (`db.sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sync {
    /// Every batch is `fsync`ed before any of its requests is answered: acknowledged means on
    /// disk. The default.
    #[default]
    Always,
    /// Batches are committed without `fsync`; the writer syncs at most every `sync_interval`.
    /// A `kill -9` loses nothing (the page cache survives the process); a power failure or an
    /// OS crash can lose what was acknowledged since the last sync.
    Batch,
    /// Never `fsync` (except on a clean close). For caches and benchmarks.
    None,
}

impl Sync {
    /// The configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            Sync::Always => "always",
            Sync::Batch => "batch",
            Sync::None => "none",
        }
    }
}

impl std::str::FromStr for Sync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(Sync::Always),
            "batch" => Ok(Sync::Batch),
            "none" => Ok(Sync::None),
            _ => Err(format!("{s:?} is not one of always, batch, none")),
        }
    }
}

/// How a [`crate::Store`] is opened.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data directory (created if missing, mode 0700).
    pub dir: PathBuf,
    /// Durability of acknowledged writes.
    pub sync: Sync,
    /// With [`Sync::Batch`]: the longest time between two syncs.
    pub sync_interval: Duration,
    /// Size of the memory map: the most the data can grow to. Writes beyond it fail with
    /// [`crate::Error::MapFull`].
    pub map_size: usize,
    /// The largest value accepted.
    pub max_value: usize,
    /// LMDB reader slots: at least one per thread that reads at the same time.
    pub max_readers: u32,
    /// The most requests one commit takes.
    pub max_batch: usize,
    /// The most requests waiting for the writer; beyond it writes fail with
    /// [`crate::Error::Busy`] instead of queueing without bound.
    pub max_pending: usize,
}

impl Config {
    /// Defaults for a store in `dir`: sync always, a 1 GiB map, 1 MiB values.
    pub fn new(dir: impl AsRef<Path>) -> Config {
        Config {
            dir: dir.as_ref().to_path_buf(),
            sync: Sync::Always,
            sync_interval: Duration::from_millis(100),
            map_size: 1 << 30,
            max_value: 1 << 20,
            max_readers: 256,
            max_batch: 1024,
            max_pending: 65536,
        }
    }
}
