//! Runs every checked-in seed of the connection layer's fuzz targets through the entry point
//! cargo-fuzz uses, so their invariants are checked on stable Rust in every CI run.

use std::{fs, path::PathBuf};

fn run(target: &str, check: fn(&[u8])) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{target}: only {} seeds", files.len());
    files
        .iter()
        .map(|file| {
            let data = fs::read(file).unwrap();
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(result.is_ok(), "{target} failed on seed {}", file.display());
            data
        })
        .collect()
}

#[test]
fn corpus_pubsub_command() {
    use ringwire_net::stream::{Command, parse_command};
    let seeds = run(
        "pubsub_command",
        ringwire_net::stream::fuzzing::pubsub_command,
    );
    // The seeds keep their point: both verbs parse, and most lines are refused.
    let parsed: Vec<_> = seeds.iter().filter_map(|s| parse_command(s)).collect();
    assert!(parsed.iter().any(|c| matches!(c, Command::Sub(_))));
    assert!(parsed.iter().any(|c| matches!(c, Command::Pub(_))));
    assert!(seeds.len() - parsed.len() >= 10, "too few refused lines");
}
