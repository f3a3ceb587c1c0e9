//! Whether the kernel can take over the TLS record layer (kTLS).
//!
//! kTLS needs the `tls` TCP upper-layer protocol (ULP), which the kernel lists in
//! `/proc/sys/net/ipv4/tcp_available_ulp` once the `tls` module is loaded. This module only
//! answers "can it", with the operator's reason when not; handing a socket to the kernel
//! (`setsockopt(TCP_ULP, "tls")`, `SOL_TLS` with the secrets rustls extracts) is unsafe code
//! and lives in the reactor.

use std::{fs, io, path::Path};

/// The kernel's list of available TCP ULPs.
pub const TCP_AVAILABLE_ULP: &str = "/proc/sys/net/ipv4/tcp_available_ulp";

/// `Ok` when the kernel offers the `tls` ULP, else why kTLS is off (for the log, said once
/// per core, and the metrics' mode).
pub fn ktls_support() -> Result<(), String> {
    ktls_support_at(Path::new(TCP_AVAILABLE_ULP))
}

/// [`ktls_support`] reading the ULP list from `path` (tests).
pub fn ktls_support_at(path: &Path) -> Result<(), String> {
    let list = match fs::read_to_string(path) {
        Ok(list) => list,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!(
                "{} does not exist: the kernel has no TCP ULP support (or /proc is not mounted)",
                path.display()
            ));
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if list.split_whitespace().any(|ulp| ulp == "tls") {
        return Ok(());
    }
    let shown = match list.trim() {
        "" => "empty",
        listed => listed,
    };
    Err(format!(
        "the kernel offers no `tls` ULP (tcp_available_ulp: {shown}); `modprobe tls` may add it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(contents: Option<&str>) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tcp_available_ulp");
        if let Some(contents) = contents {
            fs::write(&path, contents).unwrap();
        }
        ktls_support_at(&path)
    }

    #[test]
    fn mptcp_only_gives_the_reason() {
        let err = probe(Some("mptcp\n")).unwrap_err();
        assert_eq!(
            err,
            "the kernel offers no `tls` ULP (tcp_available_ulp: mptcp); `modprobe tls` may add it"
        );
    }

    #[test]
    fn tls_listed_is_ok() {
        assert_eq!(probe(Some("mptcp tls\n")), Ok(()));
        assert_eq!(probe(Some("tls")), Ok(()));
    }

    #[test]
    fn a_name_containing_tls_is_not_tls() {
        assert!(probe(Some("mptcp tlsx\n")).is_err());
    }

    #[test]
    fn empty_list_says_empty() {
        assert!(
            probe(Some("\n"))
                .unwrap_err()
                .contains("tcp_available_ulp: empty")
        );
    }

    #[test]
    fn missing_file_has_its_own_reason() {
        let err = probe(None).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
        assert!(err.contains("tcp_available_ulp"), "{err}");
    }

    #[test]
    fn this_machine_answers_without_panicking() {
        // Whatever the kernel here offers, the probe gives Ok or a reason naming the list.
        if let Err(reason) = ktls_support() {
            assert!(reason.contains("tcp_available_ulp"), "{reason}");
        }
    }
}
