//! A TLS listener's side of a new connection: the handshake under a deadline, counted.

use super::{
    stats::{HandshakeResult, TlsMode},
    stream::{HandshakeError, TlsState},
};
use crate::{
    CloseReason, Core,
    conn::deadline::{Expired, until},
    transport::Transport,
};
use ringwire_reactor::time;
use rustls::ServerConfig;
use std::{sync::Arc, time::Duration};

/// Default for `tls.handshake_timeout`: a client gets this long to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Test hook: set to `1`, handshakes try the switch to kTLS even where the probe says the
/// kernel cannot take it, so tests on such machines run every step of the switch up to the
/// kernel's refusal of the `tls` ULP (the connection then stays in user space).
pub const KTLS_ATTEMPT_ENV: &str = "RINGWIRE_TEST_KTLS_ATTEMPT";

/// Test hook: milliseconds to wait between the handshake's end and the switch to kTLS, so
/// that bytes the client sends right behind its Finished are taken by io_uring's armed
/// receive in the meantime, and the switch must hand them on (tests/tls_ktls.rs).
pub const KTLS_PAUSE_ENV: &str = "RINGWIRE_TEST_KTLS_PAUSE_MS";

/// [`KTLS_PAUSE_ENV`], read once.
#[cfg(target_os = "linux")]
fn test_pause() -> Option<Duration> {
    static PAUSE: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    *PAUSE.get_or_init(|| {
        let ms = std::env::var(KTLS_PAUSE_ENV).ok()?.parse().ok()?;
        Some(Duration::from_millis(ms))
    })
}

/// What a listener's connections handshake with: a server configuration (its certificates
/// reload in place through the configuration's resolver), a time limit, and whether the
/// kernel may take the record layer over afterwards (kTLS, where it offers it).
#[derive(Clone, Debug)]
pub struct Acceptor {
    config: Arc<ServerConfig>,
    timeout: Duration,
    ktls: bool,
}

impl Acceptor {
    /// Handshakes with `config`, each bounded by `timeout`; kTLS where the kernel offers it.
    pub fn new(config: Arc<ServerConfig>, timeout: Duration) -> Acceptor {
        Acceptor {
            config,
            timeout,
            ktls: true,
        }
    }

    /// `false`: records always stay in user space (`tls.ktls = false`).
    pub fn with_ktls(mut self, on: bool) -> Acceptor {
        self.ktls = on;
        self
    }

    /// Called by each core that serves a TLS listener: records the core's TLS mode and, the
    /// first time on this core, logs why its records are encrypted where they are.
    pub(crate) fn announce(&self, core: &Core) {
        let counters = core.stats().tls();
        if counters.mode() != TlsMode::Off {
            return;
        }
        let attempt = std::env::var(KTLS_ATTEMPT_ENV).is_ok_and(|v| v == "1");
        let probe = if cfg!(target_os = "linux") {
            super::ktls_support()
        } else {
            Err("kTLS is Linux's".to_string())
        };
        match (self.ktls, probe) {
            (false, _) => {
                counters.set_mode(TlsMode::User);
                tracing::info!(
                    core = core.index(),
                    "TLS records encrypted in user space (rustls): tls.ktls = false"
                );
            }
            (true, Ok(())) => {
                counters.set_mode(TlsMode::Kernel);
                counters.set_try_kernel(true);
                tracing::info!(
                    core = core.index(),
                    "TLS records go to the kernel (kTLS) after each handshake"
                );
            }
            (true, Err(reason)) => {
                counters.set_mode(TlsMode::User);
                counters.set_try_kernel(attempt);
                tracing::info!(
                    core = core.index(),
                    "TLS records encrypted in user space (rustls): kTLS is off: {reason}"
                );
            }
        }
    }

    /// Runs the handshake on `stream`'s socket on this core and switches `stream` to TLS; the
    /// reason to close if it fails.
    pub(crate) async fn accept(
        &self,
        stream: &mut Transport,
        core: &Core,
    ) -> Result<(), CloseReason> {
        let started = std::time::Instant::now();
        let deadline = time::now() + self.timeout;
        let mut timer = time::sleep_until(deadline);
        let counters = core.stats().tls();
        let handshake = TlsState::accept(stream.tcp(), self.config.clone());
        let result = until(&mut timer, deadline, handshake).await;
        let (outcome, tls) = match result {
            Ok(Ok(tls)) => (HandshakeResult::Ok, Ok(tls)),
            Ok(Err(HandshakeError::Tls(e))) => {
                tracing::debug!(core = core.index(), "TLS handshake refused: {e}");
                (HandshakeResult::Failed, Err(CloseReason::TlsHandshake))
            }
            Ok(Err(HandshakeError::Io(e))) => {
                tracing::debug!(core = core.index(), "TLS handshake: {e}");
                (HandshakeResult::Closed, Err(CloseReason::TlsHandshake))
            }
            Err(Expired) => (HandshakeResult::Timeout, Err(CloseReason::TlsHandshake)),
        };
        counters.handshake(
            outcome,
            started.elapsed(),
            tls.as_ref().ok().map(TlsState::negotiated),
        );
        let tls = tls?;
        #[cfg(target_os = "linux")]
        if counters.try_kernel() {
            if let Some(pause) = test_pause() {
                time::sleep(pause).await;
            }
            return match super::to_kernel(tls, stream.tcp()).await {
                super::Switch::Kernel(k) => {
                    counters.kernel_session();
                    stream.set_kernel_tls(k);
                    Ok(())
                }
                super::Switch::User(tls, why) => {
                    counters.ktls_fallback();
                    tracing::debug!(core = core.index(), "kTLS not used: {why}");
                    stream.set_tls(*tls);
                    Ok(())
                }
                super::Switch::Failed(e) => {
                    // The kernel has the ULP but refused these keys (a kernel without this
                    // version or cipher): this connection is lost, later ones on this core
                    // stay in user space.
                    counters.set_try_kernel(false);
                    tracing::warn!(
                        core = core.index(),
                        "switch to kTLS failed, kTLS off on this core from now on: {e}"
                    );
                    Err(CloseReason::TlsHandshake)
                }
            };
        }
        stream.set_tls(tls);
        Ok(())
    }
}
