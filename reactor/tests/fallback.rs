//! Backend selection: Auto falls back to epoll with the reason, Uring fails loudly.

use ringwire_reactor::{Backend, BackendKind, Error, Runtime};

#[test]
fn auto_falls_back_to_epoll_with_the_reason() {
    let rt = Runtime::builder()
        .backend(Backend::Auto)
        .simulate_uring_unavailable("seccomp blocks io_uring_setup (simulated)")
        .build()
        .unwrap();
    assert_eq!(rt.backend().kind, BackendKind::Poll);
    assert!(
        rt.backend()
            .reason
            .contains("seccomp blocks io_uring_setup (simulated)"),
        "{}",
        rt.backend()
    );
    // And it works.
    assert_eq!(rt.block_on(async { 1 + 1 }), 2);
}

#[test]
fn uring_when_unavailable_is_an_error_with_the_reason() {
    let err = Runtime::builder()
        .backend(Backend::Uring)
        .simulate_uring_unavailable("kernel too old (simulated)")
        .build()
        .err()
        .expect("must not fall back silently");
    match &err {
        Error::UringUnavailable(reason) => assert!(reason.contains("kernel too old (simulated)")),
        other => panic!("wrong error: {other}"),
    }
    assert!(err.to_string().starts_with("io_uring is unavailable: "));
}

#[test]
fn poll_is_used_when_asked_for() {
    let rt = Runtime::builder().backend(Backend::Poll).build().unwrap();
    assert_eq!(rt.backend().kind, BackendKind::Poll);
    assert_eq!(rt.backend().reason, "requested");
}

#[test]
fn auto_picks_uring_when_the_probe_passes() {
    let rt = Runtime::builder().backend(Backend::Auto).build().unwrap();
    match Runtime::builder().backend(Backend::Uring).build() {
        Ok(_) => assert_eq!(rt.backend().kind, BackendKind::Uring, "{}", rt.backend()),
        Err(e) => {
            ringwire_reactor::testing::skip_uring(
                "auto_picks_uring_when_the_probe_passes (the fallback half still runs)",
                &e.to_string(),
            );
            assert_eq!(rt.backend().kind, BackendKind::Poll);
        }
    }
}

/// The environment override, checked in a child process (the environment is process-wide).
#[test]
fn environment_variable_forces_the_fallback() {
    if std::env::var_os("RINGWIRE_FALLBACK_CHILD").is_some() {
        let rt = Runtime::builder().backend(Backend::Auto).build().unwrap();
        assert_eq!(rt.backend().kind, BackendKind::Poll);
        assert!(
            rt.backend()
                .reason
                .contains("RINGWIRE_URING_UNAVAILABLE: ops said so"),
            "{}",
            rt.backend()
        );
        let err = Runtime::builder()
            .backend(Backend::Uring)
            .build()
            .err()
            .unwrap();
        assert!(err.to_string().contains("ops said so"));
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "environment_variable_forces_the_fallback",
            "--nocapture",
        ])
        .env("RINGWIRE_FALLBACK_CHILD", "1")
        .env("RINGWIRE_URING_UNAVAILABLE", "ops said so")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran the test: {stdout}"
    );
}
