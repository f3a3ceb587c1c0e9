//! The stream protocol's accept loop and per-core server context.

use super::{app::StreamService, conn, hub::Hub};
use crate::Core;
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
    let core = Core::current().expect("serve_stream needs Core::install on this thread");
    let Some(server) = core.stream_server() else {
        tracing::error!("serve_stream without a StreamServer on this core");
        return;
    };
    crate::server::accept_until_drained(listener, &core, "stream", |stream, key| {
        run(stream, core.clone(), server.clone(), key)
    })
    .await;
}

async fn run(stream: TcpStream, core: Rc<Core>, server: Rc<StreamServer>, key: usize) {
    let _registration = crate::conn::Registration::new(&core, key);
    let reason = conn::serve(&stream, &core, &server, key, Vec::new()).await;
    core.stats().closed(reason);
}
