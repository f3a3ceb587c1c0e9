//! A per-core cache of small files, so hot small files cost no system call at all: the body is
//! kept as `Bytes` and goes out in the same vectored write as the response head. An entry is
//! trusted for one second, then revalidated (open + fstat; re-read only if size or mtime
//! changed), so edits show up within a second, like nginx's `open_file_cache_valid`.

use bytes::Bytes;
use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// Files larger than this are never cached (they go out with sendfile/splice).
pub const MAX_FILE: u64 = 64 * 1024;
/// Bytes of file content one core keeps at most.
const MAX_TOTAL: usize = 32 << 20;
/// How long an entry is served without looking at the file again.
pub const VALID_FOR: Duration = Duration::from_secs(1);

/// What a response needs to know about a file.
#[derive(Clone)]
pub struct Meta {
    pub size: u64,
    pub mtime_ns: u128,
    pub etag: String,
    pub last_modified: [u8; 29],
    pub content_type: &'static str,
}

struct Entry {
    meta: Meta,
    body: Bytes,
    checked: Instant,
}

/// Small files by relative path.
#[derive(Default)]
pub struct Cache {
    entries: RefCell<HashMap<PathBuf, Entry>>,
    total: Cell<usize>,
}

impl Cache {
    /// A cached file still within its validity window.
    pub fn fresh(&self, rel: &Path, now: Instant) -> Option<(Meta, Bytes)> {
        let entries = self.entries.borrow();
        let e = entries.get(rel)?;
        (now.saturating_duration_since(e.checked) < VALID_FOR)
            .then(|| (e.meta.clone(), e.body.clone()))
    }

    /// A cached body for this exact version of the file (size and mtime), re-stamped as fresh.
    pub fn revalidate(&self, rel: &Path, meta: &Meta, now: Instant) -> Option<Bytes> {
        let mut entries = self.entries.borrow_mut();
        let e = entries.get_mut(rel)?;
        if e.meta.size == meta.size && e.meta.mtime_ns == meta.mtime_ns {
            e.checked = now;
            return Some(e.body.clone());
        }
        None
    }

    pub fn insert(&self, rel: &Path, meta: Meta, body: Bytes, now: Instant) {
        let mut entries = self.entries.borrow_mut();
        if self.total.get() + body.len() > MAX_TOTAL {
            // Rare, and cheap to refill: start over rather than track recency.
            entries.clear();
            self.total.set(0);
        }
        self.total.set(self.total.get() + body.len());
        if let Some(old) = entries.insert(
            rel.to_path_buf(),
            Entry {
                meta,
                body,
                checked: now,
            },
        ) {
            self.total.set(self.total.get() - old.body.len());
        }
    }

    pub fn remove(&self, rel: &Path) {
        if let Some(old) = self.entries.borrow_mut().remove(rel) {
            self.total.set(self.total.get() - old.body.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, mtime_ns: u128) -> Meta {
        Meta {
            size,
            mtime_ns,
            etag: String::new(),
            last_modified: [b'x'; 29],
            content_type: "text/plain",
        }
    }

    #[test]
    fn entries_expire_and_revalidate_by_size_and_mtime() {
        let c = Cache::default();
        let t0 = Instant::now();
        let p = Path::new("a.txt");
        c.insert(p, meta(3, 7), Bytes::from_static(b"abc"), t0);
        assert!(c.fresh(p, t0 + Duration::from_millis(500)).is_some());
        assert!(
            c.fresh(p, t0 + VALID_FOR).is_none(),
            "stale after the window"
        );
        assert!(
            c.revalidate(p, &meta(3, 8), t0 + VALID_FOR).is_none(),
            "mtime changed"
        );
        assert_eq!(
            c.revalidate(p, &meta(3, 7), t0 + VALID_FOR).as_deref(),
            Some(&b"abc"[..])
        );
        assert!(c.fresh(p, t0 + VALID_FOR).is_some(), "re-stamped");
        c.remove(p);
        assert!(c.fresh(p, t0).is_none());
        assert_eq!(c.total.get(), 0);
    }
}
