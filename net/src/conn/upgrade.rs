//! `Upgrade: ringwire-stream/1`: an HTTP/1.1 connection becomes a stream-protocol one.

use super::{Burst, Pending};
use crate::{CloseReason, Service, stats::method_class};
use ringwire_protocol::http1::{RequestHead, Response, ResponseBody};
use std::time::Instant;

impl<S: Service> Burst<'_, S> {
    /// `GET /` with `Connection: upgrade`, `Upgrade: ringwire-stream/1`, no body, on a core
    /// that serves the stream protocol (`stream.enabled`: without it the core has no stream
    /// server). Anything else, other paths included, is an ordinary HTTP request.
    pub(super) fn wants_stream_upgrade(&self, head: &RequestHead<'_>) -> bool {
        head.upgrade() == Some(crate::stream::UPGRADE_TOKEN)
            && head.method().as_str() == "GET"
            && head.path() == crate::stream::UPGRADE_PATH
            && head.framing() == ringwire_protocol::http1::Framing::None
            && self.core.stream_server().is_some()
            && !self.core.is_draining()
    }

    /// Answers `101 Switching Protocols`; the connection task then runs the stream protocol
    /// with `leftover` (bytes the client sent after the request) as its first input.
    pub(super) async fn switch_to_stream(
        &mut self,
        head: RequestHead<'_>,
        leftover: Vec<u8>,
        now: Instant,
    ) -> Option<CloseReason> {
        let date = self.core.date(now);
        let response = Response {
            status: 101,
            reason: None,
            body: ResponseBody::Length(0),
            headers: &[("Upgrade", crate::stream::UPGRADE_TOKEN.as_bytes())],
            date: &date,
            server: self.config.server_name.as_deref(),
        };
        let id = match head
            .header("x-request-id")
            .and_then(crate::access::client_request_id)
        {
            Some(id) => crate::problem::RequestId::Client(id),
            None => self.core.next_request_id(),
        };
        let config = self.config.clone();
        let buf = self.out.buf(self.core);
        if response.encode(head.reply(), buf).is_ok() {
            let block = config.headers.for_path(head.path());
            block.finish_head(buf, response.headers, id.as_str());
        }
        self.pending.push(Pending {
            method: method_class(head.method().as_str()),
            status: 101,
            received: now,
            access: None,
        });
        if let Err(reason) = self.flush().await {
            return Some(reason);
        }
        self.upgrade = Some(leftover);
        Some(CloseReason::Upgraded)
    }
}
