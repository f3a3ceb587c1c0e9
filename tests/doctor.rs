//! `ringwire doctor` as a user runs it: the real binary over a fake `/proc` and `/sys` tree
//! (the hidden `--sys-root`), with the io_uring probe forced through the environment where the
//! test needs a given answer, and once against the real machine.

use serde_json::Value;
use std::{fs, path::Path, process::Command};

/// A fake root with every file a check reads, all of them good for CPUs 0-1.
fn good_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let set = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, format!("{text}\n")).unwrap();
    };
    set("proc/sys/kernel/osrelease", "6.8.0-45-generic");
    set("proc/sys/kernel/io_uring_disabled", "0");
    set(
        "proc/self/status",
        "Seccomp:\t0\nSeccomp_filters:\t0\nCpus_allowed_list:\t0-3",
    );
    set(
        "proc/self/limits",
        "Limit                     Soft Limit           Hard Limit           Units\n\
         Max open files            1048576              1048576              files\n\
         Max locked memory         8388608              8388608              bytes",
    );
    set("proc/sys/net/core/somaxconn", "4096");
    set("proc/sys/net/ipv4/ip_local_port_range", "32768\t60999");
    set("proc/sys/net/ipv4/tcp_tw_reuse", "2");
    set("sys/devices/system/cpu/online", "0-3");
    set("sys/devices/system/cpu/isolated", "");
    for c in 0..4 {
        set(
            &format!("sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor"),
            "performance",
        );
    }
    set(
        "sys/kernel/mm/transparent_hugepage/enabled",
        "always [madvise] never",
    );
    set(
        "sys/kernel/mm/transparent_hugepage/defrag",
        "always defer defer+madvise [madvise] never",
    );
    fs::create_dir_all(dir.path().join("data")).unwrap();
    let data = dir.path().join("data").canonicalize().unwrap();
    set(
        "proc/self/mountinfo",
        &format!(
            "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
             40 22 8:2 / {} rw,relatime shared:5 - xfs /dev/sdb1 rw",
            data.display()
        ),
    );
    dir
}

fn write(root: &Path, rel: &str, text: &str) {
    fs::write(root.join(rel), format!("{text}\n")).unwrap();
}

/// Runs `ringwire doctor` with only `env` in its environment; returns (exit code, stdout).
fn doctor(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .arg("doctor")
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "doctor wrote to stderr: {stderr}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
    )
}

/// `doctor --json` over `tree` for CPUs 0-1, with the probe forced to `probe`.
fn doctor_json(tree: &Path, probe: &str, extra: &[&str]) -> (i32, Value) {
    let data = tree.join("data");
    let root = tree.to_str().unwrap();
    let mut args = vec![
        "--json",
        "--sys-root",
        root,
        "--cpus",
        "0-1",
        "--data-dir",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, out) = doctor(&args, &[("RINGWIRE_DOCTOR_FORCE_URING", probe)]);
    let json: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    (code, json)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

#[test]
fn a_good_machine_passes_every_check_and_exits_0() {
    let tree = good_tree();
    let (code, report) = doctor_json(tree.path(), "ok", &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["status"], "pass");
    assert_eq!(report["exit_code"], 0);
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 13, "{report:#}");
    for c in checks {
        assert_eq!(c["status"], "pass", "{c:#}");
        assert!(c["fix"].is_null(), "{c:#}");
        assert!(!c["finding"].as_str().unwrap().is_empty());
    }
}

#[test]
fn a_broken_machine_exits_1_and_names_the_sysctl_fixes() {
    let tree = good_tree();
    write(tree.path(), "proc/sys/net/core/somaxconn", "128");
    write(tree.path(), "proc/sys/kernel/io_uring_disabled", "2");
    // CPU 5 is neither online here nor (on a small CI machine) allowed to this process.
    let data = tree.path().join("data");
    let root = tree.path().to_str().unwrap();
    let base = [
        "--sys-root",
        root,
        "--io",
        "uring",
        "--cpus",
        "0,5",
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let env = [("RINGWIRE_DOCTOR_FORCE_URING", "ok")];
    let mut args = vec!["--json"];
    args.extend_from_slice(&base);
    let (code, out) = doctor(&args, &env);
    assert_eq!(code, 1, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["status"], "fail");
    let somaxconn = check(&report, "somaxconn");
    assert_eq!(somaxconn["status"], "fail");
    assert!(
        somaxconn["fix"]
            .as_str()
            .unwrap()
            .contains("sysctl -w net.core.somaxconn=1024"),
        "{somaxconn:#}"
    );
    let uring = check(&report, "io_uring");
    assert_eq!(uring["status"], "fail");
    assert!(
        uring["fix"]
            .as_str()
            .unwrap()
            .contains("sysctl -w kernel.io_uring_disabled=0")
    );
    let cpus = check(&report, "cpus");
    assert_eq!(cpus["status"], "fail");
    assert!(
        cpus["finding"].as_str().unwrap().contains("CPU 5"),
        "{cpus:#}"
    );

    // Text mode: one line per check, the fix under it, a summary with the exit status.
    let (code, text) = doctor(&base, &env);
    assert_eq!(code, 1);
    assert!(text.contains("FAIL  somaxconn"), "{text}");
    assert!(
        text.contains("fix: sudo sysctl -w net.core.somaxconn=1024"),
        "{text}"
    );
    assert!(
        text.contains("fix: sudo sysctl -w kernel.io_uring_disabled=0"),
        "{text}"
    );
    assert!(text.contains("(exit 1)"), "{text}");
}

#[test]
fn warnings_only_exit_2() {
    let tree = good_tree();
    write(
        tree.path(),
        "sys/kernel/mm/transparent_hugepage/enabled",
        "[always] madvise never",
    );
    write(
        tree.path(),
        "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
        "powersave",
    );
    let (code, report) = doctor_json(tree.path(), "ok", &[]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["status"], "warn");
    assert_eq!(check(&report, "transparent_hugepages")["status"], "warn");
    assert_eq!(check(&report, "cpu_governor")["status"], "warn");
    assert_eq!(report["counts"]["fail"], 0);
}

#[test]
fn the_root_can_come_from_the_environment() {
    let tree = good_tree();
    write(tree.path(), "proc/sys/net/core/somaxconn", "16");
    let data = tree.path().join("data");
    let (code, out) = doctor(
        &[
            "--json",
            "--cpus",
            "0-1",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[
            ("RINGWIRE_DOCTOR_ROOT", tree.path().to_str().unwrap()),
            ("RINGWIRE_DOCTOR_FORCE_URING", "ok"),
            // The configuration's environment layer applies as it does for serve.
            ("RINGWIRE_LIMITS_BACKLOG", "8"),
        ],
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 0, "{report:#}");
    assert!(
        check(&report, "somaxconn")["finding"]
            .as_str()
            .unwrap()
            .contains("limits.backlog 8")
    );
}

#[test]
fn io_uring_reports_the_reason_the_servers_auto_probe_gives() {
    // The sysctl read from the fake root gives the sentence the reactor's probe uses.
    let tree = good_tree();
    write(tree.path(), "proc/sys/kernel/io_uring_disabled", "2");
    let (code, report) = doctor_json(tree.path(), "ok", &[]);
    assert_eq!(code, 2, "io = auto falls back, so a warning: {report:#}");
    let finding = check(&report, "io_uring")["finding"]
        .as_str()
        .unwrap()
        .to_string();
    let reason = ringwire_reactor::uring_sysctl_refusal("2").unwrap();
    assert!(finding.contains(&reason), "{finding}");

    // Without the force hook, doctor runs the real probe; a refusal forced the way operators
    // force it reads the same in doctor and in `ringwire probe-io`.
    let tree = good_tree();
    let data = tree.path().join("data");
    let env = [("RINGWIRE_URING_UNAVAILABLE", "kept off for this test")];
    let (code, out) = doctor(
        &[
            "--json",
            "--sys-root",
            tree.path().to_str().unwrap(),
            "--cpus",
            "0-1",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &env,
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 2, "{report:#}");
    let c = check(&report, "io_uring");
    let finding = c["finding"].as_str().unwrap();
    let expected = "disabled by RINGWIRE_URING_UNAVAILABLE: kept off for this test";
    assert!(finding.contains(expected), "{finding}");
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("unset RINGWIRE_URING_UNAVAILABLE")
    );
    let probe = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .arg("probe-io")
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&probe.stdout).contains(expected),
        "{probe:?}"
    );
}

#[test]
fn a_bad_configuration_is_a_failed_check() {
    let (code, out) = doctor(&["--json", "--backlog", "lots"], &[]);
    assert_eq!(code, 1, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let c = check(&report, "config");
    assert_eq!(c["status"], "fail");
    assert!(
        c["finding"].as_str().unwrap().contains("limits.backlog"),
        "{c:#}"
    );
}

#[test]
fn the_real_machine_gets_a_well_formed_report() {
    let data = tempfile::tempdir().unwrap();
    let (code, out) = doctor(
        &["--json", "--data-dir", data.path().to_str().unwrap()],
        &[],
    );
    assert!(matches!(code, 0..=2), "exit {code}: {out}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["exit_code"], code);
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 13);
    for c in checks {
        let status = c["status"].as_str().unwrap();
        assert!(["pass", "warn", "fail"].contains(&status), "{c:#}");
        assert_eq!(c["fix"].is_null(), status == "pass", "{c:#}");
    }
    let (code_text, text) = doctor(&["--data-dir", data.path().to_str().unwrap()], &[]);
    assert_eq!(code_text, code, "{text}");
    assert!(text.contains(&format!("(exit {code})")), "{text}");
}
