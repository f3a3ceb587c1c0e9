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

/// What a listener's connections handshake with: a server configuration (its certificates
/// reload in place through the configuration's resolver) and a time limit.
#[derive(Clone, Debug)]
pub struct Acceptor {
    config: Arc<ServerConfig>,
    timeout: Duration,
}

impl Acceptor {
    /// Handshakes with `config`, each bounded by `timeout`.
    pub fn new(config: Arc<ServerConfig>, timeout: Duration) -> Acceptor {
        Acceptor { config, timeout }
    }

    /// Called by each core that serves a TLS listener: records the core's TLS mode and, the
    /// first time on this core, logs why its records are encrypted where they are.
    pub(crate) fn announce(&self, core: &Core) {
        let counters = core.stats().tls();
        if counters.mode() != TlsMode::Off {
            return;
        }
        counters.set_mode(TlsMode::User);
        match super::ktls_support() {
            Err(reason) => tracing::info!(
                core = core.index(),
                "TLS records encrypted in user space (rustls): kTLS is off: {reason}"
            ),
            Ok(()) => tracing::info!(
                core = core.index(),
                "TLS records encrypted in user space (rustls): the kernel offers kTLS, but \
                 this build does not hand records to it yet"
            ),
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
        stream.set_tls(tls?);
        Ok(())
    }
}
