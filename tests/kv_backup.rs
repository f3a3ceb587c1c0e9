//! `ringwire db backup` while the server runs and writes, then the documented restore;
//! `ringwire db stats`.

mod util;

use std::process::Command;
use util::{Server, raw};

fn put(s: &Server, key: &str, value: &str) -> u16 {
    let r = format!(
        "PUT /kv/{key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{value}",
        value.len()
    );
    raw(s, r.as_bytes()).expect("answered").status
}

fn get(s: &Server, key: &str) -> (u16, Vec<u8>) {
    let r = format!("GET /kv/{key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = raw(s, r.as_bytes()).expect("answered");
    (r.status, r.body)
}

fn ringwire(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(args)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

both_backends! {
    fn backup_while_serving_then_restore(io) {
        let s = Server::start(io, &["--workers", "2"]);
        let dir = s.data.as_ref().unwrap().path().to_str().unwrap().to_string();
        for i in 0..200 {
            assert_eq!(put(&s, &format!("before/{i}"), &format!("v{i}")), 201);
        }
        let backup = tempfile::tempdir().unwrap();
        let file = backup.path().join("ringwire.backup");
        let file_s = file.to_str().unwrap();
        // Writers keep going while the backup runs.
        let (code, out) = std::thread::scope(|sc| {
            let writer = sc.spawn(|| {
                for i in 0..100 {
                    put(&s, &format!("during/{i}"), "x");
                }
            });
            let r = ringwire(&["db", "backup", "--data-dir", &dir, "--out", file_s]);
            writer.join().unwrap();
            r
        });
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("backed up"), "{out}");
        let (code, out) = ringwire(&["db", "backup", "--data-dir", &dir, "--out", file_s]);
        assert_eq!(code, 1, "overwrote an existing backup: {out}");
        assert_eq!(put(&s, "after", "y"), 201);
        let (code, stats) = ringwire(&["db", "stats", "--data-dir", &dir]);
        assert_eq!(code, 0, "{stats}");
        assert!(stats.contains("entries = 301"), "{stats}");
        assert!(stats.contains("map_size_bytes = "), "{stats}");
        drop(s);

        // Restore, as docs/STORAGE.md says: the backup becomes data.mdb of an empty directory.
        let restored = tempfile::tempdir().unwrap();
        std::fs::copy(&file, restored.path().join("data.mdb")).unwrap();
        let rdir = restored.path().to_str().unwrap();
        let r = Server::start(io, &["--workers", "1", "--data-dir", rdir]);
        for i in 0..200 {
            assert_eq!(get(&r, &format!("before/{i}")), (200, format!("v{i}").into_bytes()));
        }
        assert_eq!(get(&r, "after").0, 404, "a write after the backup is in it");
    }
}

#[test]
fn stats_of_a_missing_store_says_so() {
    let (code, out) = ringwire(&["db", "stats", "--data-dir", "/nonexistent/ringwire"]);
    assert_eq!(code, 1);
    assert!(out.contains("/nonexistent/ringwire"), "{out}");
}
