//! Opening the LMDB environment and its three tables.
//!
//! This file holds the crate's only `unsafe` code, two calls `heed` marks unsafe because of
//! what a memory map cannot defend against by itself. `docs/ARCHITECTURE.md` records the
//! exception to "unsafe only in the reactor and buffer code" and why it is sound here.

use crate::{Config, Error, Sync};
use heed::{Database, EnvFlags, EnvOpenOptions, types::Bytes as Raw};

/// The environment and its tables (named LMDB databases).
#[derive(Clone)]
pub(crate) struct Tables {
    pub env: heed::Env,
    pub kv: Database<Raw, Raw>,
    pub logs: Database<Raw, Raw>,
    pub meta: Database<Raw, Raw>,
}

/// Opens (creating if needed) the environment in `cfg.dir`.
pub(crate) fn open(cfg: &Config, read_only: bool) -> Result<Tables, Error> {
    if !read_only && !cfg.dir.exists() {
        std::fs::create_dir_all(&cfg.dir).map_err(|e| {
            Error::Storage(format!(
                "cannot create the data directory {}: {e}",
                cfg.dir.display()
            ))
        })?;
        // Only a directory created here is made private: an existing one (`--data-dir .`)
        // keeps the mode its owner gave it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let private = std::fs::Permissions::from_mode(0o700);
            if let Err(e) = std::fs::set_permissions(&cfg.dir, private) {
                tracing::warn!("cannot make {} private (0700): {e}", cfg.dir.display());
            }
        }
    }
    let mut opts = EnvOpenOptions::new();
    opts.map_size(page_multiple(cfg.map_size))
        .max_dbs(4)
        .max_readers(cfg.max_readers);
    let mut flags = EnvFlags::empty();
    if cfg.sync != Sync::Always {
        flags |= EnvFlags::NO_SYNC;
    }
    if read_only {
        flags |= EnvFlags::READ_ONLY;
    }
    // SAFETY: `flags` only asks for NO_SYNC (with `db.sync` batch or none) and READ_ONLY.
    // NO_SYNC is unsafe in heed's sense because an OS crash may then lose or corrupt the last
    // transactions: that is exactly the promise `Sync::Batch`/`Sync::None` document and the
    // user chose; it has no effect on memory safety in this process. NO_LOCK, the flag that
    // would let two writers race on the map, is never set.
    unsafe {
        opts.flags(flags);
    }
    // SAFETY: a map is UB only if its file changes other than through LMDB. This process
    // opens it once (heed refuses a second open with `EnvAlreadyOpened`), `MDB_NOLOCK` is never
    // set so other processes (`db backup`, `db stats`) go through LMDB's lock file, and editing
    // `data.mdb` by hand while it runs is excluded in STORAGE.md.
    let env = unsafe { opts.open(&cfg.dir) }.map_err(|e| {
        Error::Storage(format!(
            "cannot open the store in {}: {e}",
            cfg.dir.display()
        ))
    })?;
    let heed = |e: heed::Error| Error::from_heed(e, cfg.map_size);
    if read_only {
        let rtxn = env.read_txn().map_err(heed)?;
        let get = |name| -> Result<Database<Raw, Raw>, Error> {
            env.open_database(&rtxn, Some(name))
                .map_err(heed)?
                .ok_or_else(|| {
                    Error::Storage(format!("{} holds no ringwire store", cfg.dir.display()))
                })
        };
        let (kv, logs, meta) = (get("kv")?, get("logs")?, get("meta")?);
        // Handles opened in a read transaction survive only if it commits (an abort closes
        // them).
        rtxn.commit().map_err(heed)?;
        return Ok(Tables {
            env,
            kv,
            logs,
            meta,
        });
    }
    let mut wtxn = env.write_txn().map_err(heed)?;
    let kv = env.create_database(&mut wtxn, Some("kv")).map_err(heed)?;
    let logs = env.create_database(&mut wtxn, Some("logs")).map_err(heed)?;
    let meta = env.create_database(&mut wtxn, Some("meta")).map_err(heed)?;
    wtxn.commit().map_err(heed)?;
    // Reader slots of processes that died with a read transaction open.
    if let Ok(n) = env.clear_stale_readers() {
        if n > 0 {
            tracing::warn!("cleared {n} stale LMDB reader slots left by dead processes");
        }
    }
    Ok(Tables {
        env,
        kv,
        logs,
        meta,
    })
}

/// LMDB wants the map size to be a multiple of the OS page size (4 KiB on x86-64, up to
/// 64 KiB on some arm64 kernels).
fn page_multiple(size: usize) -> usize {
    let page = page_size::get();
    size.max(page).div_ceil(page) * page
}
