//! Turning the part of a URL path below a static-file prefix (`/static/`) into a relative file
//! path, strictly. Fuzzed by the `http1_static_path` target.
//!
//! Percent-escapes are decoded per segment; a decoded segment may not be empty, `.`, `..`, a
//! dotfile, or contain `/`, `\` or NUL. So `..`, `%2e%2e`, `%2f`, `%5c` and `%00` tricks are
//! refused before the file system is touched, and `openat2(RESOLVE_BENEATH)` then guarantees
//! that symlinks cannot lead outside the root either.

use std::path::PathBuf;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a valid path (bad escape, traversal, control characters): 400.
    Malformed(&'static str),
    /// A hidden file or an empty path: 404, as if it did not exist.
    Hidden,
}

/// The relative path for `raw` (already without `/static/` and without the query).
pub fn resolve(raw: &str) -> Result<PathBuf, Refused> {
    if raw.is_empty() {
        return Err(Refused::Hidden);
    }
    let mut path = PathBuf::new();
    for segment in raw.split('/') {
        let decoded = decode(segment)?;
        match decoded.as_str() {
            "" => return Err(Refused::Malformed("empty path segment")),
            "." | ".." => return Err(Refused::Malformed("dot segment")),
            s if s.contains(['/', '\\', '\0']) => {
                return Err(Refused::Malformed("slash, backslash or NUL in a segment"));
            }
            s if s.starts_with('.') => return Err(Refused::Hidden),
            s => path.push(s),
        }
    }
    Ok(path)
}

fn decode(segment: &str) -> Result<String, Refused> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .ok_or(Refused::Malformed("truncated percent-escape"))?;
                let hex = std::str::from_utf8(hex)
                    .map_err(|_| Refused::Malformed("bad percent-escape"))?;
                let b = u8::from_str_radix(hex, 16)
                    .map_err(|_| Refused::Malformed("bad percent-escape"))?;
                out.push(b);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| Refused::Malformed("path is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_encoded_names_resolve() {
        assert_eq!(resolve("a/b.txt").unwrap(), PathBuf::from("a/b.txt"));
        assert_eq!(
            resolve("with%20space.txt").unwrap(),
            PathBuf::from("with space.txt")
        );
        assert_eq!(resolve("caf%C3%A9").unwrap(), PathBuf::from("café"));
    }

    #[test]
    fn every_traversal_trick_is_refused() {
        for bad in [
            "..",
            "../etc/passwd",
            "a/../../x",
            "a/./b",
            "%2e%2e/x",
            "%2E%2E",
            ".%2e/x",
            "a%2f..%2fb",
            "a%2Fb",
            "..%5cx",
            "a\\b",
            "a%00b",
            "a//b",
            "/etc/passwd",
            "a/",
            "%",
            "%zz",
            "%c3",
            "%ff%fe",
        ] {
            assert!(
                matches!(resolve(bad), Err(Refused::Malformed(_))),
                "{bad:?} was accepted: {:?}",
                resolve(bad)
            );
        }
    }

    #[test]
    fn dotfiles_are_hidden() {
        assert_eq!(resolve(".git/config"), Err(Refused::Hidden));
        assert_eq!(resolve("a/.env"), Err(Refused::Hidden));
        assert_eq!(resolve("%2egit"), Err(Refused::Hidden));
        assert_eq!(resolve(""), Err(Refused::Hidden));
    }

    proptest::proptest! {
        /// Whatever the input, an accepted path has only normal components.
        #[test]
        fn accepted_paths_never_climb(raw in "[a-z./%0-9A-F\\\\]{0,24}") {
            if let Ok(p) = resolve(&raw) {
                for c in p.components() {
                    proptest::prop_assert!(matches!(c, std::path::Component::Normal(_)), "{raw:?} -> {p:?}");
                }
            }
        }
    }
}
