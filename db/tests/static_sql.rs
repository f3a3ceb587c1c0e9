//! No SQL is built from strings at runtime: every statement the PostgreSQL backend sends is a
//! `&'static str` of `db/src/pg/sql.rs` (or an embedded migration file), prepared and run with
//! parameters. This test reads the backend's sources and holds them to that.

use std::{fs, path::Path};

const SQL_WORDS: [&str; 9] = [
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "DELETE ",
    "CREATE ",
    "DROP ",
    "ALTER ",
    "TRUNCATE ",
    "GRANT ",
];

/// Calls that send SQL text, and what their first argument may be.
const SENDERS: [&str; 9] = [
    ".query(",
    ".query_one(",
    ".query_opt(",
    ".execute(",
    ".prepare(",
    ".prepare_typed(",
    ".batch_execute(",
    ".simple_query(",
    ".query_raw(",
];

/// A statement handle prepared from the fixed set, or a constant of `sql.rs`, or a migration
/// file's text, or the transaction-control argument checked in conn.rs.
const ALLOWED_ARGS: [&str; 6] = ["c.stmt(", "self.stmt(", "sql::", "s.sql()", "m.sql", "what"];

fn sources() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pg");
    let mut out = Vec::new();
    for e in fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, fs::read_to_string(&p).unwrap()));
        }
    }
    assert!(
        out.len() >= 5,
        "found the backend's sources in {}",
        dir.display()
    );
    out
}

/// The code of a file without its `#[cfg(test)]` tail and without comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sql_text_lives_only_in_sql_rs() {
    for (name, text) in sources() {
        if name == "sql.rs" {
            continue;
        }
        let code = code(&text);
        for w in SQL_WORDS {
            assert!(
                !code.contains(&format!("\"{w}")),
                "{name} has a string that starts like SQL ({w:?}): SQL belongs in sql.rs"
            );
        }
    }
}

#[test]
fn sql_rs_is_constants_only() {
    let (_, text) = sources().into_iter().find(|(n, _)| n == "sql.rs").unwrap();
    let code = code(&text);
    for banned in [
        "format!",
        "concat!",
        "push_str",
        "String::",
        "to_string",
        "+ &",
        "join(",
    ] {
        assert!(
            !code.contains(banned),
            "sql.rs builds text at runtime ({banned})"
        );
    }
    // Every statement is a `const ...: &str`.
    let consts = code.matches("const ").count();
    assert!(consts >= 20, "statements are constants ({consts} found)");
}

#[test]
fn every_call_that_sends_sql_takes_a_fixed_statement() {
    let mut calls = 0;
    for (name, text) in sources() {
        let code = code(&text);
        for sender in SENDERS {
            for (at, _) in code.match_indices(sender) {
                let arg: String = code[at + sender.len()..]
                    .trim_start()
                    .chars()
                    .take(24)
                    .collect();
                calls += 1;
                assert!(
                    ALLOWED_ARGS.iter().any(|a| arg.starts_with(a)),
                    "{name}: {sender} called with {arg:?}: send only a prepared statement of \
                     the fixed set (c.stmt(Stmt::...)) or a constant of sql.rs"
                );
            }
        }
    }
    assert!(calls >= 10, "the scan found the call sites ({calls})");
}

#[test]
fn migrations_are_embedded_files() {
    let (_, text) = sources()
        .into_iter()
        .find(|(n, _)| n == "migrate.rs")
        .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for (i, f) in files.iter().enumerate() {
        assert!(
            f.starts_with(&format!("{:04}_", i + 1)),
            "migrations are numbered from 0001 without gaps: {f}"
        );
        assert!(
            text.contains(&format!("include_str!(\"../../migrations/{f}\")")),
            "{f} is embedded in migrate.rs"
        );
    }
}
