//! Support for test harnesses (this crate's and the workspace's): the one place that decides
//! what a test does when io_uring is missing.
//!
//! A test that needs io_uring calls [`uring_or_skip`] first. Where io_uring cannot be used it
//! prints `SKIPPED <test>: <why>` and the test returns early, so a developer machine without
//! io_uring still runs the rest. CI on a machine where io_uring works sets
//! [`REQUIRE_URING_ENV`]`=1`, and the same call then fails the test: a suite cannot pass by
//! skipping the backend it exists to test.

/// `RINGWIRE_REQUIRE_URING`: when `1` (or `true`/`yes`), a test that would skip io_uring
/// panics instead.
pub const REQUIRE_URING_ENV: &str = "RINGWIRE_REQUIRE_URING";

/// Whether io_uring is required by the environment ([`REQUIRE_URING_ENV`]).
pub fn uring_required() -> bool {
    std::env::var(REQUIRE_URING_ENV).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Why io_uring cannot be used here, if it cannot: a runtime with [`Backend::Uring`] is built
/// (and dropped) on a thread of its own, since a ring's teardown can interrupt the creating
/// thread's next blocking socket call with EINTR.
///
/// [`Backend::Uring`]: crate::Backend::Uring
pub fn uring_unavailable() -> Option<String> {
    std::thread::spawn(|| {
        crate::Runtime::builder()
            .backend(crate::Backend::Uring)
            .build()
            .err()
            .map(|e| e.to_string())
    })
    .join()
    .unwrap_or_else(|_| Some("the io_uring probe panicked".into()))
}

/// `true` if `test` can run on io_uring. Otherwise reports the skip on stderr and returns
/// `false`, or panics when [`REQUIRE_URING_ENV`] is set.
pub fn uring_or_skip(test: &str) -> bool {
    match uring_unavailable() {
        None => true,
        Some(why) => {
            skip_uring(test, &why);
            false
        }
    }
}

/// Reports that `test` skips io_uring because of `why`, or panics when [`REQUIRE_URING_ENV`]
/// is set. For harnesses that learnt `why` themselves (a runtime that failed to build).
pub fn skip_uring(test: &str, why: &str) {
    if uring_required() {
        panic!("{test}: io_uring is required ({REQUIRE_URING_ENV}=1) but unavailable: {why}");
    }
    eprintln!("SKIPPED {test}: io_uring unavailable: {why}");
}
