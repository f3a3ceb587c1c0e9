//! docs/ERRORS.md cannot drift: every error code the sources pass to the structured-error
//! writer (`ringwire_net::problem`) is listed there.

use std::path::{Path, PathBuf};

/// The families of HTTP error codes (docs/ERRORS.md).
const FAMILIES: &[&str] = &[
    "http", "route", "server", "auth", "rate", "kv", "channels", "files", "profile", "upgrade",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// String literals of the form `"family.name"` (lower case and `_`), whole.
fn codes_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices('"') {
        let rest = &text[i + 1..];
        let Some(end) = rest.find('"') else { continue };
        let lit = &rest[..end];
        let Some((family, name)) = lit.split_once('.') else {
            continue;
        };
        if FAMILIES.contains(&family)
            && !name.is_empty()
            && name.bytes().all(|c| c.is_ascii_lowercase() || c == b'_')
        {
            found.push(lit.to_string());
        }
    }
    found
}

#[test]
fn every_error_code_in_the_sources_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/ERRORS.md")).unwrap();
    let mut files = Vec::new();
    for dir in ["src", "net/src", "services/src", "ops/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut codes = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // Only files that answer with the writer: config key names look alike.
        let writes = [
            "send_error(",
            "write_error(",
            "error_body(",
            "fn http_code(",
        ]
        .iter()
        .any(|w| text.contains(w));
        if writes {
            for code in codes_in(&text) {
                codes.push((code, file.strip_prefix(root).unwrap().display().to_string()));
            }
        }
    }
    assert!(codes.len() >= 20, "the scan found too few codes: {codes:?}");
    let missing: Vec<_> = codes
        .iter()
        .filter(|(code, _)| !doc.contains(&format!("`{code}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "codes not listed in docs/ERRORS.md: {missing:?}"
    );
}

#[test]
fn the_scan_finds_whole_code_literals_only() {
    let text =
        r#"send_error(req, res, 404, "kv.not_found", "see (kv.max_value)", &[]); "Kv.X" "kv.""#;
    assert_eq!(codes_in(text), ["kv.not_found"]);
}
