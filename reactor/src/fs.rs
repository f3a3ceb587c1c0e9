//! Files for serving: opening a path beneath a root directory so that nothing outside the
//! root can ever be reached, whatever the path or the symlinks in it say.

use std::{fs::File, io, path::Path};

/// Opens `relative` (read-only) beneath the directory `root`.
///
/// On Linux this is `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`: the kernel
/// refuses `..` that would climb out, absolute paths, and symlinks that lead outside `root`
/// (those that stay inside are followed). Elsewhere, and on kernels before 5.6, the path is
/// resolved with `realpath` and checked to stay under the root's real path.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))] // `root` is for openat2
pub fn open_beneath(root: &File, root_path: &Path, relative: &Path) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    match crate::sys::unix::openat2_beneath(root, relative) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
        other => return other,
    }
    open_checked(root_path, relative)
}

fn open_checked(root_path: &Path, relative: &Path) -> io::Result<File> {
    if relative.is_absolute() {
        return Err(escape());
    }
    let root = root_path.canonicalize()?;
    let full = root.join(relative).canonicalize()?;
    if !full.starts_with(&root) {
        return Err(escape());
    }
    File::open(full)
}

fn escape() -> io::Error {
    // NotFound, not PermissionDenied: a server must not reveal what lies outside its root.
    io::Error::new(io::ErrorKind::NotFound, "path leaves the root")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_inside_and_refuses_every_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"inside").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(outside.path().join("secret"), b"outside").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("out-link"))
                .unwrap();
            std::os::unix::fs::symlink("../a.txt", dir.path().join("sub/in-link")).unwrap();
        }
        let root = File::open(dir.path()).unwrap();
        let open = |p: &str| open_beneath(&root, dir.path(), Path::new(p));
        assert!(open("a.txt").is_ok());
        assert!(
            open("sub/../a.txt").is_ok(),
            "'..' that stays inside is fine"
        );
        assert!(open("../a.txt").is_err());
        assert!(open("sub/../../a.txt").is_err());
        assert!(
            open(&outside.path().join("secret").to_string_lossy()).is_err(),
            "absolute path"
        );
        #[cfg(unix)]
        {
            assert!(open("out-link").is_err(), "symlink leaving the root");
            assert!(open("sub/in-link").is_ok(), "symlink staying inside");
        }
        let mut s = String::new();
        std::io::Read::read_to_string(&mut open("sub/../a.txt").unwrap(), &mut s).unwrap();
        assert_eq!(s, "inside");
        for f in [
            open_checked(dir.path(), Path::new("../x")),
            open_checked(dir.path(), Path::new("out-link")),
        ] {
            assert!(f.is_err(), "the portable fallback refuses too");
        }
    }
}
