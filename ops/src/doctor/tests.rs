//! Each check against fake `/proc` and `/sys` trees.

use super::*;
use std::fs;

/// A fake root whose files are all good for [`config`].
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn good() -> Tree {
        let t = Tree {
            dir: tempfile::tempdir().unwrap(),
        };
        t.set("proc/sys/kernel/osrelease", "6.8.0-45-generic");
        t.set("proc/sys/kernel/io_uring_disabled", "0");
        t.set(
            "proc/self/status",
            "Name:\tringwire\nSeccomp:\t0\nSeccomp_filters:\t0\nCpus_allowed_list:\t0-3\n",
        );
        t.set(
            "proc/self/limits",
            "Limit                     Soft Limit           Hard Limit           Units     \n\
             Max open files            1048576              1048576              files     \n\
             Max locked memory         8388608              8388608              bytes     \n",
        );
        t.set("proc/sys/fs/nr_open", "1048576");
        t.set("proc/sys/net/core/somaxconn", "4096");
        t.set("proc/sys/net/ipv4/ip_local_port_range", "32768\t60999");
        t.set("proc/sys/net/ipv4/tcp_tw_reuse", "2");
        t.set("sys/devices/system/cpu/online", "0-3");
        t.set("sys/devices/system/cpu/isolated", "");
        for c in 0..4 {
            t.set(
                &format!("sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor"),
                "performance",
            );
        }
        t.set(
            "sys/kernel/mm/transparent_hugepage/enabled",
            "always [madvise] never",
        );
        t.set(
            "sys/kernel/mm/transparent_hugepage/defrag",
            "always defer defer+madvise [madvise] never",
        );
        t.mounts("ext4", "rw,relatime", "rw,errors=remount-ro");
        t
    }

    fn set(&self, rel: &str, text: &str) {
        let p = self.dir.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, format!("{text}\n")).unwrap();
    }

    fn remove(&self, rel: &str) {
        let p = self.dir.path().join(rel);
        if p.is_dir() {
            fs::remove_dir_all(p).unwrap();
        } else {
            fs::remove_file(p).unwrap();
        }
    }

    /// `/` on ext4, and the data directory (`<tree>/data`) on `fstype` with these options.
    fn mounts(&self, fstype: &str, opts: &str, super_opts: &str) {
        let data = self.data_dir();
        fs::create_dir_all(&data).unwrap();
        let data = data.canonicalize().unwrap();
        self.set(
            "proc/self/mountinfo",
            &format!(
                "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                 40 22 8:2 / {} {opts} shared:5 - {fstype} /dev/sdb1 {super_opts}",
                data.display().to_string().replace(' ', "\\040")
            ),
        );
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn machine(&self) -> Machine {
        Machine {
            root: self.dir.path().to_path_buf(),
            ld_preload: None,
            forced_probe: Some(Probe::Available),
        }
    }

    fn config(&self) -> Configured {
        Configured {
            io: Backend::Auto,
            workers: 0,
            cpus: Some(vec![0, 1]),
            control_cpu: None,
            max_connections: 16384,
            max_connections_total: 0,
            backlog: 1024,
            listen_ports: vec![8080, 9090],
            ring_entries: 1024,
            recv_buffers: 512,
            recv_buffer_size: 4096,
            extra_fds_per_worker: 0,
            data_dir: Some(self.data_dir()),
            outbound: Vec::new(),
        }
    }

    fn check(&self, cfg: &Configured, name: &str) -> Check {
        self.check_on(cfg, &self.machine(), name)
    }

    fn check_on(&self, cfg: &Configured, m: &Machine, name: &str) -> Check {
        run(cfg, m)
            .checks
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name}"))
    }
}

#[test]
fn a_good_tree_passes_every_check() {
    let t = Tree::good();
    let r = run(&t.config(), &t.machine());
    for c in &r.checks {
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(c.fix.is_none());
    }
    assert_eq!(r.exit_code(), 0);
    assert_eq!(r.checks.len(), 13);
}

#[test]
fn exit_codes_follow_the_worst_status() {
    let c = |status| Check {
        name: "x",
        status,
        finding: String::new(),
        fix: None,
    };
    let r = |s: &[Status]| Report {
        checks: s.iter().map(|s| c(*s)).collect(),
    };
    assert_eq!(r(&[]).exit_code(), 0);
    assert_eq!(r(&[Status::Pass, Status::Warn]).exit_code(), 2);
    assert_eq!(
        r(&[Status::Warn, Status::Fail, Status::Pass]).exit_code(),
        1
    );
}

#[test]
fn old_kernel_fails_only_when_uring_is_required() {
    let t = Tree::good();
    t.set("proc/sys/kernel/osrelease", "5.15.0-100-generic");
    let mut cfg = t.config();
    assert_eq!(t.check(&cfg, "kernel").status, Status::Warn);
    cfg.io = Backend::Uring;
    let c = t.check(&cfg, "kernel");
    assert_eq!(c.status, Status::Fail);
    assert!(c.fix.unwrap().contains("6.1"));
    cfg.io = Backend::Poll;
    assert_eq!(t.check(&cfg, "kernel").status, Status::Pass);
    assert_eq!(kernel::parse_release("6.18.44-fc-v657"), Some((6, 18)));
}

#[test]
fn io_uring_disabled_2_gives_the_probes_reason_and_the_sysctl() {
    let t = Tree::good();
    t.set("proc/sys/kernel/io_uring_disabled", "2");
    let mut cfg = t.config();
    cfg.io = Backend::Uring;
    let c = t.check(&cfg, "io_uring");
    assert_eq!(c.status, Status::Fail);
    let reason = ringwire_reactor::uring_sysctl_refusal("2").unwrap();
    assert!(c.finding.contains(&reason), "{}", c.finding);
    assert!(
        c.fix
            .unwrap()
            .contains("sysctl -w kernel.io_uring_disabled=0")
    );
    cfg.io = Backend::Auto;
    let c = t.check(&cfg, "io_uring");
    assert_eq!(c.status, Status::Warn);
    assert!(c.finding.contains("falls back to epoll"));
}

#[test]
fn io_uring_refusals_get_matching_fixes() {
    let t = Tree::good();
    let cfg = t.config();
    let with = |reason: &str, disabled: &str| {
        t.set("proc/sys/kernel/io_uring_disabled", disabled);
        let mut m = t.machine();
        m.forced_probe = Some(Probe::Unavailable(reason.into()));
        t.check_on(&cfg, &m, "io_uring").fix.unwrap()
    };
    assert!(with("io_uring_setup was denied (EPERM): ...", "1").contains("io_uring_group"));
    assert!(with("io_uring_setup was denied (EPERM): ...", "0").contains("seccomp"));
    assert!(with("could not lock memory (ENOMEM)", "0").contains("LimitMEMLOCK"));
    assert!(with("needs Linux 6.1 or newer", "0").contains("upgrade"));
}

#[test]
fn seccomp_filter_matters_only_when_it_blocks_io_uring() {
    let t = Tree::good();
    t.set(
        "proc/self/status",
        "Seccomp:\t2\nSeccomp_filters:\t1\nCpus_allowed_list:\t0-3\n",
    );
    let cfg = t.config();
    assert_eq!(t.check(&cfg, "seccomp").status, Status::Pass);
    let mut m = t.machine();
    m.forced_probe = Some(Probe::Unavailable(
        "io_uring_setup was denied (EPERM)".into(),
    ));
    let c = t.check_on(&cfg, &m, "seccomp");
    assert_eq!(c.status, Status::Warn);
    assert!(c.fix.unwrap().contains("io_uring_enter"));
}

#[test]
fn nofile_below_the_configured_connections_fails() {
    let t = Tree::good();
    t.set(
        "proc/self/limits",
        "Max open files            1024                 4096                 files     \n\
         Max locked memory         65536                65536                bytes     \n",
    );
    let mut cfg = t.config();
    let c = t.check(&cfg, "nofile");
    assert_eq!(c.status, Status::Fail, "{c:?}");
    let need = limits::nofile_needed(&cfg, 2);
    assert_eq!(
        need,
        2 * 16384 + 2 * limits::FDS_PER_WORKER + limits::FDS_PER_PROCESS
    );
    let fix = c.fix.unwrap();
    assert!(fix.contains(&format!("LimitNOFILE={need}")), "{fix}");
    assert!(fix.contains("hard limit is 4096"), "{fix}");
    // The total cap brings the need under the limit.
    cfg.max_connections_total = 500;
    assert_eq!(t.check(&cfg, "nofile").status, Status::Pass);
    // Limits are not the kernel's memlock concern from 5.12 on.
    assert_eq!(t.check(&cfg, "memlock").status, Status::Pass);
    t.set("proc/sys/kernel/osrelease", "5.10.0");
    let c = t.check(&cfg, "memlock");
    assert_eq!(c.status, Status::Warn, "{c:?}");
    assert!(c.fix.unwrap().contains("LimitMEMLOCK"));
}

#[test]
fn somaxconn_below_the_backlog_fails_with_the_sysctl() {
    let t = Tree::good();
    t.set("proc/sys/net/core/somaxconn", "128");
    let c = t.check(&t.config(), "somaxconn");
    assert_eq!(c.status, Status::Fail);
    let fix = c.fix.unwrap();
    assert!(
        fix.contains("sudo sysctl -w net.core.somaxconn=1024"),
        "{fix}"
    );
    assert!(fix.contains("/etc/sysctl.d/"), "{fix}");
}

#[test]
fn ephemeral_ports_and_tw_reuse_matter_for_outbound_and_listen_ports() {
    let t = Tree::good();
    let mut cfg = t.config();
    cfg.listen_ports = vec![40000];
    let c = t.check(&cfg, "ip_local_port_range");
    assert_eq!(c.status, Status::Warn);
    assert!(
        c.fix
            .unwrap()
            .contains("net.ipv4.ip_local_reserved_ports=40000")
    );
    t.set("proc/sys/net/ipv4/ip_local_reserved_ports", "39000-41000");
    assert_eq!(t.check(&cfg, "ip_local_port_range").status, Status::Pass);

    t.set("proc/sys/net/ipv4/ip_local_port_range", "60000\t61000");
    t.set("proc/sys/net/ipv4/tcp_tw_reuse", "0");
    assert_eq!(t.check(&cfg, "ip_local_port_range").status, Status::Pass);
    assert_eq!(t.check(&cfg, "tcp_tw_reuse").status, Status::Pass);
    cfg.outbound = vec!["PostgreSQL (db.url)".into()];
    let c = t.check(&cfg, "ip_local_port_range");
    assert_eq!(c.status, Status::Warn);
    assert!(
        c.fix
            .unwrap()
            .contains("ip_local_port_range=\"15000 64999\"")
    );
    let c = t.check(&cfg, "tcp_tw_reuse");
    assert_eq!(c.status, Status::Warn);
    assert!(c.fix.unwrap().contains("net.ipv4.tcp_tw_reuse=1"));
}

#[test]
fn configured_cpus_must_be_online_and_allowed() {
    let t = Tree::good();
    let mut cfg = t.config();
    cfg.cpus = Some(vec![0, 6]);
    let c = t.check(&cfg, "cpus");
    assert_eq!(c.status, Status::Fail);
    assert!(c.finding.contains("CPU 6"), "{}", c.finding);
    assert!(c.fix.unwrap().contains("0-3"));
    t.set("sys/devices/system/cpu/online", "0-7");
    let c = t.check(&cfg, "cpus");
    assert_eq!(c.status, Status::Fail);
    assert!(c.finding.contains("affinity"), "{}", c.finding);
    cfg.cpus = Some(vec![2]);
    cfg.workers = 3;
    assert_eq!(t.check(&cfg, "cpus").status, Status::Warn);
    // A missing CPU is a failure even where too many workers would only warn.
    cfg.cpus = Some(vec![2, 9]);
    assert_eq!(t.check(&cfg, "cpus").status, Status::Fail);
    cfg.cpus = None;
    cfg.workers = 5;
    let c = t.check(&cfg, "cpus");
    assert_eq!(c.status, Status::Warn);
    assert!(c.fix.unwrap().contains("workers = 4"));
    cfg.workers = 0;
    cfg.control_cpu = Some(6);
    let c = t.check(&cfg, "cpus");
    assert_eq!(c.status, Status::Fail);
    assert!(c.finding.contains("control_cpu = 6"), "{}", c.finding);
    cfg.control_cpu = Some(3);
    let c = t.check(&cfg, "cpus");
    assert_eq!(c.status, Status::Pass);
    assert!(c.finding.contains("4 workers"), "{}", c.finding);
}

#[test]
fn isolation_is_judged_against_the_configured_cpus() {
    let t = Tree::good();
    let mut cfg = t.config();
    t.set("sys/devices/system/cpu/isolated", "2-3");
    t.set("sys/devices/system/cpu/nohz_full", "2-3");
    // Pinned to shared CPUs while others are isolated: fine, said.
    assert_eq!(t.check(&cfg, "cpu_isolation").status, Status::Pass);
    cfg.cpus = Some(vec![1, 2]);
    let c = t.check(&cfg, "cpu_isolation");
    assert_eq!(c.status, Status::Warn);
    assert!(c.fix.unwrap().contains("cpus = \"2-3\""));
    cfg.cpus = Some(vec![2, 3]);
    assert_eq!(t.check(&cfg, "cpu_isolation").status, Status::Pass);
    cfg.cpus = None;
    assert_eq!(t.check(&cfg, "cpu_isolation").status, Status::Warn);
}

#[test]
fn governor_other_than_performance_warns_and_missing_cpufreq_passes() {
    let t = Tree::good();
    let cfg = t.config();
    t.set(
        "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
        "powersave",
    );
    let c = t.check(&cfg, "cpu_governor");
    assert_eq!(c.status, Status::Warn);
    assert!(c.finding.contains("powersave on 1"), "{}", c.finding);
    assert!(c.fix.unwrap().contains("performance"));
    for cpu in 0..4 {
        t.remove(&format!("sys/devices/system/cpu/cpu{cpu}"));
    }
    let c = t.check(&cfg, "cpu_governor");
    assert_eq!(c.status, Status::Pass);
    assert!(c.finding.contains("VM"));
}

#[test]
fn thp_always_warns() {
    let t = Tree::good();
    t.set(
        "sys/kernel/mm/transparent_hugepage/enabled",
        "[always] madvise never",
    );
    let c = t.check(&t.config(), "transparent_hugepages");
    assert_eq!(c.status, Status::Warn);
    assert!(c.fix.unwrap().contains("echo madvise"));
    t.remove("sys/kernel/mm/transparent_hugepage");
    assert_eq!(
        t.check(&t.config(), "transparent_hugepages").status,
        Status::Pass
    );
}

#[test]
fn data_dir_filesystems_that_lose_fsync() {
    let t = Tree::good();
    let cfg = t.config();
    let status = |fstype: &str, opts: &str, sup: &str| {
        t.mounts(fstype, opts, sup);
        let c = t.check(&cfg, "data_dir");
        (c.status, c.finding)
    };
    assert_eq!(status("ext4", "rw", "rw").0, Status::Pass);
    let (s, f) = status("tmpfs", "rw,nosuid", "rw,size=100m");
    assert_eq!(s, Status::Warn);
    assert!(f.contains("reboot"), "{f}");
    assert_eq!(status("ext4", "rw", "rw,nobarrier").0, Status::Fail);
    assert_eq!(status("ext4", "rw", "rw,barrier=0").0, Status::Fail);
    assert_eq!(status("ext4", "rw", "rw,data=writeback").0, Status::Warn);
    assert_eq!(status("nfs4", "rw", "rw,vers=4.2").0, Status::Warn);
    assert_eq!(status("fuse.sshfs", "rw", "rw").0, Status::Warn);
    // A missing directory is judged by its nearest existing parent: the tmpfs mount.
    t.mounts("tmpfs", "rw", "rw");
    let mut cfg = t.config();
    cfg.data_dir = Some(t.data_dir().join("not/yet"));
    let c = t.check(&cfg, "data_dir");
    assert_eq!(c.status, Status::Warn);
    assert!(c.finding.contains("missing"), "{}", c.finding);
    // eatmydata turns fsync into nothing.
    t.mounts("ext4", "rw", "rw");
    let mut m = t.machine();
    m.ld_preload = Some("/usr/lib/x86_64-linux-gnu/libeatmydata.so".into());
    let c = t.check_on(&t.config(), &m, "data_dir");
    assert_eq!(c.status, Status::Fail);
    assert!(c.fix.unwrap().contains("LD_PRELOAD"));
    cfg.data_dir = None;
    assert_eq!(t.check(&cfg, "data_dir").status, Status::Pass);
}

#[test]
fn mountinfo_escapes_and_longest_prefix() {
    let mounts = storage::parse_mountinfo(
        "1 0 8:1 / / rw - ext4 /dev/a rw\n\
         2 1 8:2 / /srv/my\\040data rw - xfs /dev/b rw\n\
         3 1 8:3 / /srv rw - ext4 /dev/c rw\n",
    );
    let m = storage::mount_of(&mounts, Path::new("/srv/my data/x")).unwrap();
    assert_eq!(m.fstype, "xfs");
    let m = storage::mount_of(&mounts, Path::new("/srv/other")).unwrap();
    assert_eq!(m.source, "/dev/c");
    let m = storage::mount_of(&mounts, Path::new("/srvx")).unwrap();
    assert_eq!(m.point, Path::new("/"));
}

#[test]
fn text_shows_fixes_and_json_has_stable_fields() {
    let t = Tree::good();
    t.set("proc/sys/net/core/somaxconn", "128");
    let r = run(&t.config(), &t.machine());
    let out = text(&r);
    assert!(out.contains("FAIL  somaxconn"), "{out}");
    assert!(
        out.contains("fix: sudo sysctl -w net.core.somaxconn=1024"),
        "{out}"
    );
    assert!(out.contains("(exit 1)"), "{out}");
    let j = json(&r);
    assert_eq!(j["status"], "fail");
    assert_eq!(j["exit_code"], 1);
    let checks = j["checks"].as_array().unwrap();
    assert_eq!(checks.len(), r.checks.len());
    for c in checks {
        for k in ["name", "status", "finding", "fix"] {
            assert!(c.get(k).is_some(), "{c}");
        }
    }
}

#[test]
fn cpu_lists_round_trip() {
    assert_eq!(cpu_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
    assert_eq!(parse_cpu_list("(null)"), Vec::<usize>::new());
    assert_eq!(parse_cpu_list("0-2,5\n"), vec![0, 1, 2, 5]);
}
