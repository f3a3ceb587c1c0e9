//! The per-core accept loop (HTTP/1.1 here; the stream protocol shares it).

use crate::{CloseReason, Core, Service, conn, tls::Acceptor};
use ringwire_reactor::{
    net::{TcpListener, TcpStream},
    spawn_local, time,
};
use std::{future::poll_fn, pin::pin, rc::Rc, task::Poll, time::Duration};

/// Serves HTTP/1.1 on `listener` with `service` until this core starts draining; then stops
/// accepting (the listener is closed) while open connections finish. Needs [`Core::install`]
/// on this thread first.
pub async fn serve_http<S: Service>(listener: TcpListener, service: Rc<S>) {
    serve_http_tls(listener, service, None).await;
}

/// [`serve_http`], with TLS on this listener when `tls` is set: each connection's handshake
/// runs in its own task, and a client whose ALPN chooses `ringwire-stream/1` is served the
/// stream protocol on this same port.
pub async fn serve_http_tls<S: Service>(
    listener: TcpListener,
    service: Rc<S>,
    tls: Option<Acceptor>,
) {
    let tls = tls.map(Rc::new);
    let core = Core::current().expect("serve_http needs Core::install on this thread");
    if let Some(tls) = &tls {
        tls.announce(&core);
    }
    accept_until_drained(listener, &core, "http", |stream, key| {
        conn::run(
            stream.into(),
            core.clone(),
            service.clone(),
            key,
            tls.clone(),
        )
    })
    .await;
}

/// Counts an accepted connection and, unless a limit refuses it, registers it and spawns
/// `serve` for it.
fn admit<F: Future<Output = ()> + 'static>(
    core: &Rc<Core>,
    stream: TcpStream,
    serve: &mut impl FnMut(TcpStream, usize) -> F,
) {
    core.stats().accepted();
    if core.active_connections() >= core.config().max_connections {
        core.stats().closed(CloseReason::Rejected);
        return;
    }
    // Refusals cost an accept and a close, nothing more: no task, no buffer.
    let edge = core.edge();
    if edge.shed_connection(std::time::Instant::now()) {
        core.stats().closed(CloseReason::Rejected);
        return;
    }
    let peer = stream.peer_addr().ok().map(|a| a.ip());
    let Ok(permit) = edge.admit_connection(peer) else {
        core.stats().closed(CloseReason::Rejected);
        return;
    };
    let key = core.register(peer, permit);
    let task = spawn_local(serve(stream, key));
    core.set_task(key, task);
}

/// The accept loop both protocols share: accepts until the core drains, refuses past
/// `max_connections`, registers each connection and spawns `serve` for it.
pub(crate) async fn accept_until_drained<F: Future<Output = ()> + 'static>(
    listener: TcpListener,
    core: &Rc<Core>,
    protocol: &'static str,
    mut serve: impl FnMut(TcpStream, usize) -> F,
) {
    core.ensure_sweeper();
    let mut drained = pin!(core.drained());
    loop {
        let mut accept = pin!(listener.accept());
        let next = poll_fn(|cx| {
            if drained.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            accept.as_mut().poll(cx).map(Some)
        })
        .await;
        match next {
            None => break,
            Some(Ok(stream)) => admit(core, stream, &mut serve),
            Some(Err(e)) => {
                tracing::warn!(core = core.index(), protocol, "accept failed: {e}");
                if matches!(e.raw_os_error(), Some(code) if code == 24 || code == 23) {
                    // Out of descriptors (EMFILE/ENFILE): back off instead of spinning.
                    time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    // Draining: what io_uring's armed accept had already taken from the queue is served
    // (each answers its first request with `Connection: close`), not closed unanswered; what
    // is still queued stays for a successor process that shares the socket (an upgrade).
    for stream in listener.quiesce().await {
        admit(core, stream, &mut serve);
    }
    tracing::debug!(core = core.index(), protocol, "listener closed for drain");
}
