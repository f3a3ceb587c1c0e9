//! Waiting between requests, and closing after an error without destroying the response.

use super::deadline::until;
use crate::transport::Transport;
use crate::{CloseReason, Core};
use ringwire_reactor::{buf::RecvBuf, time};
use std::{future::Future, pin::Pin, task::Poll};

/// After an error response (or a stream-protocol GOAWAY with an error) the client may still
/// be sending; closing with unread bytes makes the kernel answer with a reset that can
/// destroy the answer before the client reads it. So: end our side, then read and discard for
/// a short while (nginx's lingering close).
pub(crate) async fn linger(stream: &Transport) {
    const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
    const MAX_DISCARD: usize = 1 << 20;
    let deadline = time::now() + LINGER;
    let mut timer = time::sleep_until(deadline);
    // Bounded too: over TLS the shutdown writes close_notify, which waits for a client that
    // may never read.
    match until(
        &mut timer,
        deadline,
        stream.shutdown(std::net::Shutdown::Write),
    )
    .await
    {
        Ok(Ok(())) => {}
        _ => return,
    }
    let mut discarded = 0;
    while discarded < MAX_DISCARD {
        match until(&mut timer, deadline, stream.recv()).await {
            Ok(Ok(Some(buf))) => discarded += buf.len(),
            _ => break,
        }
    }
}

/// Waits for the first bytes of the next request. A named future of three references: an
/// idle connection keeps no receive future and no timer (the core's sweeper enforces the
/// keep-alive timeout, and drain closes idle connections directly).
pub(super) struct Idle<'a> {
    pub(super) stream: &'a Transport,
    pub(super) core: &'a Core,
    pub(super) key: usize,
    pub(super) marked: bool,
}

impl Future for Idle<'_> {
    type Output = Result<RecvBuf, CloseReason>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let core = this.core;
        let done = match this.stream.poll_recv(cx) {
            Poll::Ready(Ok(Some(buf))) => Ok(buf),
            Poll::Ready(Ok(None)) => Err(CloseReason::ClientClosed),
            Poll::Ready(Err(_)) => Err(CloseReason::IoError),
            // Draining: an idle connection closes at once, unless a successor process takes
            // over (an upgrade), where its next request is still served (with
            // `Connection: close`) and the keep-alive timeout closes it otherwise.
            Poll::Pending if core.is_draining() && !core.is_handover() => Err(CloseReason::Drain),
            Poll::Pending => {
                if !this.marked {
                    this.marked = true;
                    core.set_idle(this.key, Some(time::now()));
                }
                return Poll::Pending;
            }
        };
        if this.marked {
            core.set_idle(this.key, None);
        }
        Poll::Ready(done)
    }
}
