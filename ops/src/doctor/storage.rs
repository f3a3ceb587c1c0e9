//! The data directory: is it on a filesystem where `fsync` makes a commit durable?

use super::{Check, Configured, Machine, Status, shown};
use std::path::{Path, PathBuf};

/// One line of `/proc/self/mountinfo`, the fields the check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mount {
    pub point: PathBuf,
    pub fstype: String,
    pub source: String,
    /// Per-mount and superblock options together.
    pub options: Vec<String>,
}

/// Undoes mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|d| (b'0'..=b'7').contains(d))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/self/mountinfo`; malformed lines are skipped.
pub(super) fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let fstype = right.next()?.to_string();
            let source = unescape(right.next()?);
            let mut options: Vec<String> = left.get(5)?.split(',').map(str::to_string).collect();
            options.extend(right.next().unwrap_or("").split(',').map(str::to_string));
            Some(Mount {
                point: PathBuf::from(unescape(left.get(4)?)),
                fstype,
                source,
                options,
            })
        })
        .collect()
}

/// The mount `path` lives on: the longest mount point above it (the last one mounted, where
/// several are stacked on one point).
pub(super) fn mount_of<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    mounts
        .iter()
        .filter(|m| path.starts_with(&m.point))
        .fold(None, |best: Option<&Mount>, m| match best {
            Some(b) if b.point.components().count() > m.point.components().count() => Some(b),
            _ => Some(m),
        })
}

/// `path` made absolute, or its nearest existing parent when it does not exist yet.
fn existing(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut p = abs.as_path();
    loop {
        if let Ok(c) = p.canonicalize() {
            return c;
        }
        match p.parent() {
            Some(parent) => p = parent,
            None => return PathBuf::from("/"),
        }
    }
}

/// Filesystems where LMDB's memory map, locks or `fsync` depend on another machine.
const REMOTE: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "9p",
    "virtiofs",
    "ceph",
    "glusterfs",
];

pub(super) fn data_dir(cfg: &Configured, m: &Machine) -> Check {
    const NAME: &str = "data_dir";
    let Some(dir) = &cfg.data_dir else {
        return Check::pass(NAME, "no local data directory (db.backend = postgres)");
    };
    let at = existing(dir);
    let subject = if dir.exists() {
        format!("db.data_dir {}", shown(&at))
    } else {
        format!(
            "db.data_dir {} (missing; checked {})",
            shown(dir),
            shown(&at)
        )
    };
    let mut found: Vec<(Status, String, String)> = Vec::new();
    let preload_file = m.read("etc/ld.so.preload").unwrap_or_default();
    if m.ld_preload.as_deref().unwrap_or("").contains("eatmydata") {
        found.push((
            Status::Fail,
            "LD_PRELOAD has libeatmydata: fsync does nothing".into(),
            "start ringwire without eatmydata in LD_PRELOAD".into(),
        ));
    }
    if preload_file.contains("eatmydata") {
        found.push((
            Status::Fail,
            "/etc/ld.so.preload loads libeatmydata: fsync does nothing".into(),
            "remove libeatmydata from /etc/ld.so.preload".into(),
        ));
    }
    let Some(text) = m.read("proc/self/mountinfo") else {
        found.push((
            Status::Warn,
            "cannot read /proc/self/mountinfo to find its filesystem".into(),
            format!("check by hand: findmnt -T {}", shown(&at)),
        ));
        return combine(NAME, &subject, found, "");
    };
    let mounts = parse_mountinfo(&text);
    let Some(mnt) = mount_of(&mounts, &at) else {
        found.push((
            Status::Warn,
            "no mount in /proc/self/mountinfo holds it".into(),
            format!("check by hand: findmnt -T {}", shown(&at)),
        ));
        return combine(NAME, &subject, found, "");
    };
    let point = shown(&mnt.point);
    let fs = mnt.fstype.as_str();
    let has = |o: &str| mnt.options.iter().any(|x| x == o);
    if fs == "tmpfs" || fs == "ramfs" {
        found.push((
            Status::Warn,
            format!("{fs} keeps data in memory only: every commit is lost at reboot"),
            format!("set db.data_dir to a directory on a disk (not under {point})"),
        ));
    }
    if has("nobarrier") || has("barrier=0") {
        found.push((
            Status::Fail,
            "write barriers are off (nobarrier): fsync returns before the disk's cache \
             reaches stable storage"
                .into(),
            format!(
                "sudo mount -o remount,barrier {point} and drop nobarrier/barrier=0 from /etc/fstab"
            ),
        ));
    }
    if has("data=writeback") {
        found.push((
            Status::Warn,
            "data=writeback: after a crash, files can hold stale blocks written before the \
             last fsync"
                .into(),
            format!("mount {point} with data=ordered (the ext4 default): remove data=writeback from /etc/fstab"),
        ));
    }
    if fs == "ext2" {
        found.push((
            Status::Warn,
            "ext2 has no journal: a crash needs fsck before the store opens".into(),
            format!(
                "move db.data_dir to ext4 or xfs (or tune2fs -j {})",
                mnt.source
            ),
        ));
    }
    if REMOTE.contains(&fs) || fs.starts_with("fuse") {
        found.push((
            Status::Warn,
            format!(
                "{fs} is a network or host filesystem: the store's memory map, locks and fsync \
                 depend on the server behind it"
            ),
            "set db.data_dir to a local filesystem (ext4, xfs)".into(),
        ));
    }
    combine(NAME, &subject, found, &format!("{fs} on {point}"))
}

/// One check out of several findings: the worst status, findings and fixes joined.
fn combine(
    name: &'static str,
    subject: &str,
    found: Vec<(Status, String, String)>,
    fs: &str,
) -> Check {
    let on = if fs.is_empty() {
        String::new()
    } else {
        format!(" is on {fs}")
    };
    let Some(worst) = found.iter().map(|f| f.0).max() else {
        return Check::pass(name, format!("{subject}{on}: fsync is durable"));
    };
    let findings: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
    let fixes: Vec<&str> = found.iter().map(|f| f.2.as_str()).collect();
    let finding = format!("{subject}{on}: {}", findings.join("; "));
    if worst == Status::Fail {
        Check::fail(name, finding, fixes.join("; "))
    } else {
        Check::warn(name, finding, fixes.join("; "))
    }
}
