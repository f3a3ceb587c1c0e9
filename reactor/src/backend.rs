//! Backend choice: `Auto` probes io_uring and falls back to the readiness backend with a
//! reason; `Uring` fails loudly instead of falling back.

use std::{fmt, str::FromStr};

/// Which I/O backend a runtime should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// io_uring when the probe passes, otherwise the readiness backend (with the reason logged).
    #[default]
    Auto,
    /// io_uring or an error saying why it cannot be used.
    Uring,
    /// The readiness backend: epoll on Linux, kqueue on BSD/macOS, IOCP on Windows (via mio).
    Poll,
}

/// The backend a runtime actually runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Completion-based io_uring.
    Uring,
    /// Readiness-based mio (epoll here).
    Poll,
}

impl BackendKind {
    /// A short stable name for logs and metrics labels: `io_uring` or `epoll` (`poll` off Linux).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Uring => "io_uring",
            BackendKind::Poll if cfg!(target_os = "linux") => "epoll",
            BackendKind::Poll => "poll",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The backend a runtime got and why (for the per-core startup log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// What the runtime runs on.
    pub kind: BackendKind,
    /// Why: `requested`, `probe passed`, or the reason io_uring was rejected.
    pub reason: String,
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind, self.reason)
    }
}

/// Why `kernel.io_uring_disabled` (the text of `/proc/sys/kernel/io_uring_disabled`) refuses
/// io_uring to every process, if it does: the reason the `auto` probe gives for value `2`.
/// `ringwire doctor` reads the sysctl from its own root and reports the same sentence.
pub fn uring_sysctl_refusal(io_uring_disabled: &str) -> Option<String> {
    (io_uring_disabled.trim() == "2")
        .then(|| "disabled system-wide by sysctl kernel.io_uring_disabled=2".to_string())
}

/// A backend name that is not one of `auto`, `uring`, `epoll`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseBackendError(String);

impl fmt::Display for ParseBackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown I/O backend {:?}: expected auto, uring or epoll",
            self.0
        )
    }
}

impl std::error::Error for ParseBackendError {}

impl FromStr for Backend {
    type Err = ParseBackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(Backend::Uring),
            "epoll" | "poll" | "mio" => Ok(Backend::Poll),
            _ => Err(ParseBackendError(s.to_string())),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Uring => "uring",
            Backend::Poll => "epoll",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_aliases() {
        assert_eq!("auto".parse(), Ok(Backend::Auto));
        assert_eq!("io_uring".parse(), Ok(Backend::Uring));
        assert_eq!("URING".parse(), Ok(Backend::Uring));
        assert_eq!("epoll".parse(), Ok(Backend::Poll));
        let err = "kqueue2".parse::<Backend>().unwrap_err();
        assert!(err.to_string().contains("kqueue2"));
    }

    #[test]
    fn display_round_trips() {
        for b in [Backend::Auto, Backend::Uring, Backend::Poll] {
            assert_eq!(b.to_string().parse(), Ok(b));
        }
    }
}
