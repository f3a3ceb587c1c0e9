//! Writing what a burst has queued: the responses, then their stats and access-log lines.

use super::{Burst, output::FlushError};
use crate::{CloseReason, Service, problem};
use ringwire_protocol::http1::HTTP_DATE_LEN;
use ringwire_reactor::time;
use std::time::Instant;

impl<S: Service> Burst<'_, S> {
    /// A connection-level error answer that closes the connection (a head the codec
    /// refused, a head timeout): text with the code of `status` (`docs/ERRORS.md`), a fresh
    /// request id and the default security fields.
    pub(super) fn simple(&mut self, status: u16, message: &str, now: Instant) {
        let date: [u8; HTTP_DATE_LEN] = self.core.date(now);
        let id = self.core.next_request_id();
        let config = self.config.clone();
        problem::encode_connection_error(
            self.out.buf(self.core),
            status,
            message,
            &date,
            config.server_name.as_deref(),
            config.headers.for_path(""),
            id.as_str(),
        );
    }

    pub(super) async fn flush(&mut self) -> Result<(), CloseReason> {
        if !self.out.is_empty() {
            match self
                .out
                .flush(self.stream, self.wtimer, self.config.write_timeout)
                .await
            {
                Ok(n) => self.core.stats().bytes_out(n),
                Err(FlushError::Timeout) => return Err(CloseReason::WriteTimeout),
                Err(FlushError::Io(_)) => return Err(CloseReason::IoError),
            }
        }
        let now = time::now();
        for p in self.pending.drain(..) {
            let micros = now.saturating_duration_since(p.received).as_micros() as u64;
            self.core.stats().request(p.method, p.status, micros);
            if let Some(a) = p.access {
                a.log(self.core.index(), micros);
            }
        }
        Ok(())
    }
}
