//! Writing what a burst has queued: the responses, then their stats and access-log lines.

use super::{Burst, output::FlushError};
use crate::{CloseReason, Service};
use ringwire_protocol::http1::{HTTP_DATE_LEN, Reply, Response, ResponseBody, Version};
use ringwire_reactor::time;
use std::time::Instant;

impl<S: Service> Burst<'_, S> {
    /// A minimal response that closes the connection (408 and the like).
    pub(super) fn simple(&mut self, status: u16, message: &str, now: Instant) {
        let date: [u8; HTTP_DATE_LEN] = self.core.date(now);
        let reply = Reply {
            version: Version::Http11,
            keep_alive: false,
            head_request: false,
        };
        let body = format!("{message}\n");
        let response = Response {
            status,
            reason: None,
            body: ResponseBody::Length(body.len() as u64),
            headers: &[("Content-Type", b"text/plain; charset=utf-8")],
            date: &date,
            server: self.config.server_name.as_deref(),
        };
        let buf = self.out.buf(self.core);
        if response.encode(reply, buf).is_ok() {
            buf.extend_from_slice(body.as_bytes());
        }
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
