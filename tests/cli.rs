//! Command-line conventions: help and version go to stdout and exit 0, everywhere.

use std::process::Command;

fn ringwire(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The subcommand names listed under `Commands:` in a help text.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_help_prints_to_stdout_and_exits_zero() {
    let mut todo = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = todo.pop() {
        for flag in ["--help", "-h"] {
            let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
            args.push(flag);
            let (code, out, err) = ringwire(&args);
            assert_eq!(code, 0, "ringwire {}: {err}", args.join(" "));
            assert!(out.contains("Usage:"), "ringwire {}: {out}", args.join(" "));
            assert!(err.is_empty(), "ringwire {}: {err}", args.join(" "));
            if flag == "--help" {
                for sub in subcommands(&out) {
                    let mut p = path.clone();
                    p.push(sub);
                    todo.push(p);
                }
            }
        }
        seen += 1;
    }
    // ringwire, serve, check-config, client (and its commands), bench-stream at least.
    assert!(seen >= 5, "only {seen} commands found");
}

#[test]
fn version_prints_to_stdout_and_exits_zero() {
    for flag in ["--version", "-V"] {
        let (code, out, err) = ringwire(&[flag]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out.trim(),
            format!("ringwire {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn usage_errors_still_exit_two_on_stderr() {
    let (code, out, err) = ringwire(&["serve", "--no-such-flag"]);
    assert_eq!(code, 2);
    assert!(
        out.is_empty() && err.contains("--no-such-flag"),
        "{out} / {err}"
    );
    let (code, _, err) = ringwire(&[]);
    assert_eq!(code, 2, "no subcommand is a usage error");
    assert!(err.contains("Usage:"), "{err}");
}
