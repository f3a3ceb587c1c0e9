//! The stream protocol's accept loop and per-core server context.

use super::{app::StreamService, conn, hub::Hub};
use crate::{Core, tls::Acceptor, transport::Transport};
use ringwire_protocol::stream::Settings;
use ringwire_reactor::{net::TcpListener, net::TcpStream};
use std::rc::Rc;

/// The stream protocol on one core: codec settings, the core's pub/sub hub, and the services
/// plugged in from above (`kv`, say).
pub struct StreamServer {
    pub(crate) settings: Settings,
    pub(crate) hub: Option<Rc<Hub>>,
    services: Vec<(&'static str, Rc<dyn StreamService>)>,
}

impl StreamServer {
    /// A server with `settings` (the limits announced in HELLO) and, for the `pubsub` service,
    /// this core's hub.
    pub fn new(settings: Settings, hub: Option<Rc<Hub>>) -> Rc<StreamServer> {
        Self::with_services(settings, hub, Vec::new())
    }

    /// Like [`StreamServer::new`], with more services by name (`echo` and `pubsub` are
    /// built in and cannot be replaced).
    pub fn with_services(
        settings: Settings,
        hub: Option<Rc<Hub>>,
        services: Vec<(&'static str, Rc<dyn StreamService>)>,
    ) -> Rc<StreamServer> {
        Rc::new(StreamServer {
            settings,
            hub,
            services,
        })
    }

    /// The plugged-in service called `name`, with its name as registered.
    pub(crate) fn named(&self, name: &str) -> Option<(&'static str, &Rc<dyn StreamService>)> {
        self.services
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, s)| (*n, s))
    }

    /// The hub's counters, if pub/sub is on.
    pub fn hub_stats(&self) -> Option<super::hub::HubStats> {
        self.hub.as_ref().map(|h| h.stats())
    }
}

/// Serves the stream protocol on `listener` until this core drains (the [`Core`] must be
/// installed; `server` is also used for HTTP `Upgrade: ringwire-stream/1`).
pub async fn serve_stream(listener: TcpListener) {
    serve_stream_tls(listener, None).await;
}

/// [`serve_stream`], with TLS on this listener when `tls` is set.
pub async fn serve_stream_tls(listener: TcpListener, tls: Option<Acceptor>) {
    let tls = tls.map(Rc::new);
    let core = Core::current().expect("serve_stream needs Core::install on this thread");
    if let Some(tls) = &tls {
        tls.announce(&core);
    }
    let Some(server) = core.stream_server() else {
        tracing::error!("serve_stream without a StreamServer on this core");
        return;
    };
    crate::server::accept_until_drained(listener, &core, "stream", |stream, key| {
        run(stream, core.clone(), server.clone(), key, tls.clone())
    })
    .await;
}

async fn run(
    tcp: TcpStream,
    core: Rc<Core>,
    server: Rc<StreamServer>,
    key: usize,
    tls: Option<Rc<Acceptor>>,
) {
    let _registration = crate::conn::Registration::new(&core, key);
    let mut stream = Transport::from(tcp);
    if let Some(tls) = tls {
        if let Err(reason) = tls.accept(&mut stream, &core).await {
            core.stats().closed(reason);
            return;
        }
    }
    let reason = conn::serve(&stream, &core, &server, key, Vec::new()).await;
    core.stats().closed(reason);
    stream.finish().await;
}
