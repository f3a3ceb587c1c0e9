//! A network namespace of the test's own, joined to the host by a veth pair, so that a client
//! inside it reaches a server on the host from an address that is not loopback.
//!
//! [`Netns::create`] makes namespace `rwtest-<pid>-<n>` and the pair `rw<pid>h<n>` (host side,
//! `10.213.x.y+1/30`) / `rw<pid>n<n>` (moved into the namespace, `.y+2/30`), the /30 picked
//! from `10.213.0.0/16` by pid and counter so that concurrent tests do not collide. Only
//! addresses on links this harness creates are used. Both are deleted on drop.
//!
//! This needs root (CAP_NET_ADMIN) and iproute2's `ip`. Where either is missing,
//! [`Netns::create`] prints `SKIPPED <test>: <reason>` and returns `None`, unless
//! `RINGWIRE_REQUIRE_NETNS=1` (set by `.ci/run` when it runs as root) makes that a failure.
#![allow(dead_code)] // each test file uses a different subset

use std::{
    net::Ipv4Addr,
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
};

/// The environment variable that turns a skip into a failure.
pub const REQUIRE_NETNS_ENV: &str = "RINGWIRE_REQUIRE_NETNS";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A namespace joined to the host by a veth pair; both deleted on drop.
pub struct Netns {
    /// The namespace's name (for `ip netns exec`).
    pub name: String,
    host_if: String,
    /// The host end's address: what a client in the namespace connects to.
    pub host_ip: Ipv4Addr,
    /// The namespace end's address: the client's address as the server sees it.
    pub ns_ip: Ipv4Addr,
}

impl Netns {
    /// Creates the namespace and the pair, or prints why not and returns `None` (a panic
    /// under `RINGWIRE_REQUIRE_NETNS=1`). `test` names the test in the message.
    pub fn create(test: &str) -> Option<Netns> {
        match Self::try_create() {
            Ok(ns) => Some(ns),
            Err(why) => {
                if std::env::var_os(REQUIRE_NETNS_ENV).is_some_and(|v| v == "1") {
                    panic!("{test}: {REQUIRE_NETNS_ENV}=1 but no network namespace: {why}");
                }
                eprintln!("SKIPPED {test}: no network namespace: {why}");
                None
            }
        }
    }

    fn try_create() -> Result<Netns, String> {
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // 16384 /30s in 10.213.0.0/16.
        let slot = (pid.wrapping_mul(16).wrapping_add(n)) % 16384;
        let base = u32::from(Ipv4Addr::new(10, 213, 0, 0)) + slot * 4;
        let mut ns = Netns {
            name: format!("rwtest-{pid}-{n}"),
            host_if: String::new(),
            host_ip: Ipv4Addr::from(base + 1),
            ns_ip: Ipv4Addr::from(base + 2),
        };
        ip(&["netns", "add", &ns.name])?;
        // From here on, drop cleans up what exists.
        let host_if = format!("rw{pid}h{n}");
        let ns_if = format!("rw{pid}n{n}");
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ])?;
        ns.host_if = host_if.clone();
        ip(&["link", "set", &ns_if, "netns", &ns.name])?;
        let host_cidr = format!("{}/30", ns.host_ip);
        let ns_cidr = format!("{}/30", ns.ns_ip);
        ip(&["addr", "add", &host_cidr, "dev", &host_if])?;
        ip(&["link", "set", &host_if, "up"])?;
        ns.ip_in(&["addr", "add", &ns_cidr, "dev", &ns_if])?;
        ns.ip_in(&["link", "set", &ns_if, "up"])?;
        ns.ip_in(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    fn ip_in(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["netns", "exec", &self.name, "ip"];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs curl inside the namespace with `args` (after `-sS --max-time 20`).
    pub fn curl(&self, args: &[&str]) -> Output {
        self.command("curl")
            .args(["-sS", "--max-time", "20"])
            .args(args)
            .output()
            .expect("run curl in the namespace (scripts/test installs curl)")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both; deleting the namespace would too, but
        // only once nothing holds it.
        if !self.host_if.is_empty() {
            let _ = ip(&["link", "del", &self.host_if]);
        }
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Runs `ip args`; the reason on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (apt-get install iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
