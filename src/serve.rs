//! `ringwire serve`: bind one listener per worker (or take systemd's), start the pinned
//! workers, and hand the main thread to the control core (`ringwire-ops`), which serves the
//! admin endpoints, watches the workers, and turns signals into a drain or a reload.

use crate::{
    cli,
    config::{ControlCpu, LogFormat, Settings},
    routes::Router,
};
use ringwire_net::{Core, bind_per_core, serve_http_tls};
use ringwire_ops::{Logging, Options, WorkerEvent, Workers};
use ringwire_reactor::{
    Runtime, channel,
    launcher::{Launcher, available_cpus},
    net::TcpListener,
    signal::{self, SIGHUP, SIGINT, SIGTERM},
};
use ringwire_services::channels::stats::ChannelStats;
use std::{
    rc::Rc,
    sync::{Arc, Mutex},
    time::Instant,
};

/// Runs the server until it is told to stop; returns the process exit code.
pub fn run(settings: Settings) -> i32 {
    // Before any other thread exists (the log writer is one): a process-directed signal must
    // reach the control core's signalfd, not a thread that would die of it.
    if let Err(e) = signal::block(&[SIGTERM, SIGINT, SIGHUP]) {
        eprintln!("ringwire: cannot block signals: {e}");
        return 1;
    }
    let format = match settings.log_format {
        LogFormat::Text => ringwire_ops::LogFormat::Text,
        LogFormat::Json => ringwire_ops::LogFormat::Json,
    };
    let logging = match Logging::init(&settings.log_level, format) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ringwire: {e}");
            return 1;
        }
    };
    let code = serve(&settings, &logging);
    drop(logging); // flushes the log writer thread
    code
}

fn serve(settings: &Settings, logging: &Logging) -> i32 {
    let cpus = settings.cpus.clone().unwrap_or_else(available_cpus);
    let workers = if settings.workers == 0 {
        cpus.len()
    } else {
        settings.workers
    };
    // Started by `ringwire upgrade`: the predecessor's listeners, the same sockets.
    let mut inherited = match crate::upgrade::inherited() {
        Ok(i) => i,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let listeners = match inherited.as_mut() {
        Some(i) if i.http.len() != workers => {
            tracing::error!(
                "upgrade: the running server has {} workers and this configuration {workers}: an upgrade keeps the number of workers (change it with a restart)",
                i.http.len()
            );
            return 1;
        }
        Some(i) => Ok(std::mem::take(&mut i.http)),
        None => listeners(settings, workers),
    };
    let listeners = match listeners {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let store = match crate::storage::open(settings, workers) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    // Keys that do not load stop the start: a server meant to check tokens must not run open.
    let edge = match ringwire_net::edge::Edge::new(settings.edge.clone()) {
        Ok(edge) => edge,
        Err(e) => {
            // The error names the key directory or file (auth.keys, auth.revoked,
            // tls.client_scopes) that did not load.
            tracing::error!("{e}");
            return 1;
        }
    };
    log_edge(settings);
    #[cfg(feature = "otlp")]
    crate::otlp::start(&settings.trace);
    // A certificate that does not load stops the start: the error names the file and why.
    let tls = match crate::tls::start(&settings.tls, settings.stream_enabled) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let inherited_admin = inherited.as_mut().and_then(|i| i.admin.take());
    let admin = match inherited_admin
        .map(Ok)
        .or_else(|| settings.admin.map(bind_admin))
        .transpose()
    {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let inherited_stream = inherited
        .as_mut()
        .map(|i| std::mem::take(&mut i.stream))
        .filter(|l| !l.is_empty());
    let stream_listeners = match inherited_stream
        .map(Ok)
        .or_else(|| {
            settings
                .stream_listen
                .filter(|_| settings.stream_enabled)
                .map(|a| bind_per_core(a, workers, settings.backlog, true))
        })
        .transpose()
    {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("stream_listen: {e}");
            return 1;
        }
    };
    let stream_addr = stream_listeners
        .as_ref()
        .and_then(|l| l[0].local_addr().ok());
    let backend_kind = Arc::new(std::sync::OnceLock::new());
    let handover = crate::upgrade::Handover::new(
        &listeners,
        stream_listeners.as_deref().unwrap_or_default(),
        admin.as_ref(),
        backend_kind.clone(),
    );
    let stream_listeners: Arc<Mutex<Vec<Option<std::net::TcpListener>>>> = Arc::new(Mutex::new(
        stream_listeners
            .unwrap_or_default()
            .into_iter()
            .map(Some)
            .collect(),
    ));
    // With `cluster.nats`, the NATS bridge is one more member of the cores' mesh.
    // Durable channels in cluster mode are JetStream streams, reached through the bridge.
    let (seeds, bridge_seed, js) = if settings.cluster.nats.is_empty() {
        (ringwire_net::stream::mesh(workers), None, None)
    } else {
        let (seeds, bridge) = ringwire_net::stream::mesh_with_bridge(workers);
        let js = (!settings.channels.durable.is_empty()).then(|| {
            ringwire_services::channels::jetstream::port::js_port(
                settings.cluster.replicas,
                settings.channels.durable.clone(),
            )
        });
        (seeds, Some(bridge), js)
    };
    let (js_handle, js_port) = js.unzip();
    let seeds: Arc<Mutex<Vec<Option<ringwire_net::stream::Seed>>>> =
        Arc::new(Mutex::new(seeds.into_iter().map(Some).collect()));
    let stream_settings = settings.stream_settings();
    let stream_enabled = settings.stream_enabled;
    let subscriber_queue = settings.subscriber_queue;
    let channel_settings = Arc::new(settings.channels.clone());
    let channel_stats: Arc<[Arc<ChannelStats>]> = (0..workers).map(|_| Arc::default()).collect();
    let worker_channel_stats = channel_stats.clone();
    let addr = listeners[0]
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let listeners: Arc<Mutex<Vec<Option<std::net::TcpListener>>>> =
        Arc::new(Mutex::new(listeners.into_iter().map(Some).collect()));
    // A successor keeps its predecessor's backend: they share the sockets' blocking flag.
    let io = inherited.as_ref().and_then(|i| i.io).unwrap_or(settings.io);
    let runtime = Runtime::builder()
        .backend(io)
        .ring_entries(settings.ring_entries)
        .recv_buffers(settings.recv_buffers, settings.recv_buffer_size)
        .expected_sockets(settings.max_connections + 64);
    let (events_tx, events_rx) = channel::channel::<WorkerEvent>();
    let net_config = settings.net_config();
    let root = settings.root.clone();
    let worker_store = store.clone();
    let worker_edge = edge.clone();
    let worker_tls = tls.clone();
    let shutdown = settings.shutdown_timeout;
    let launched = Launcher::new(workers)
        .cpus(cpus.clone())
        // Pinning the user did not ask for (no --cpus) must not keep the server from starting
        // where the environment forbids it (a seccomp filter): run unpinned, say so.
        .pin_best_effort(settings.cpus.is_none())
        .runtime(runtime)
        .launch(move |info| {
            let listener = listeners.lock().expect("listener table")[info.index].take();
            let stream_listener = stream_listeners
                .lock()
                .expect("listener table")
                .get_mut(info.index)
                .and_then(Option::take);
            let seed = seeds.lock().expect("seed table")[info.index].take();
            let (net_config, root, events) = (net_config.clone(), root.clone(), events_tx.clone());
            let backend = worker_store.clone();
            let channel_settings = channel_settings.clone();
            let js_handle = js_handle.clone();
            let channel_stats = worker_channel_stats[info.index].clone();
            let edge = worker_edge.clone();
            let (http_tls, stream_tls) = worker_tls.acceptors();
            let _ = backend_kind.set(info.backend.kind);
            async move {
                let core = Core::install(info.index, net_config);
                core.set_edge(edge);
                // This core's handle on the store (on PostgreSQL: its own pool, made here on
                // the core's thread).
                let db = backend.for_core(info.index);
                let kv = ringwire_services::kv::http::KvHttp::new(db.clone());
                // Channels: a pub/sub hub joined to the other cores (HTTP uses it too), durable
                // channels in the store.
                let hub = seed.map(|s| ringwire_net::stream::Hub::start(s, subscriber_queue));
                let channels = hub.clone().map(|hub| {
                    ringwire_services::channels::core::Channels::new(
                        db.clone(),
                        hub,
                        Rc::new((*channel_settings).clone()),
                        channel_stats,
                        js_handle.clone(),
                    )
                });
                // The stream protocol: its own listener if configured, and HTTP Upgrade on the
                // HTTP listener either way. `stream.enabled = false`: no server, so no
                // listener and no Upgrade either.
                if stream_enabled {
                    let kv: Rc<dyn ringwire_net::stream::StreamService> =
                        Rc::new(ringwire_services::kv::stream::KvStream::new(db));
                    let mut services = vec![("kv", kv)];
                    if let Some(c) = &channels {
                        let c: Rc<dyn ringwire_net::stream::StreamService> = Rc::new(
                            ringwire_services::channels::stream::ChannelsStream::new(c.clone()),
                        );
                        services.push(("channels", c));
                    }
                    core.set_stream_server(ringwire_net::stream::StreamServer::with_services(
                        stream_settings,
                        hub,
                        services,
                    ));
                }
                if let Some(l) = stream_listener {
                    match TcpListener::from_std(l) {
                        Ok(l) => {
                            ringwire_reactor::spawn_local(ringwire_net::stream::serve_stream_tls(
                                l, stream_tls,
                            ));
                        }
                        Err(e) => tracing::error!(core = info.index, "stream listener: {e}"),
                    }
                }
                let cpu = match (info.cpu, &info.unpinned) {
                    (Some(c), _) => format!("cpu {c}"),
                    (None, Some(why)) => format!("no cpu ({why})"),
                    (None, None) => "unpinned".to_string(),
                };
                tracing::info!(
                    core = info.index,
                    "worker on {cpu}: backend {}",
                    info.backend
                );
                // Retention by age (and a backstop for count and bytes) on one core only.
                if info.index == 0
                    && let Some(c) = &channels
                    && let Some(every) = ringwire_services::channels::sweep::interval(c)
                {
                    ringwire_reactor::spawn_local(ringwire_services::channels::sweep::run(
                        c.clone(),
                        every,
                    ));
                }
                let channels_http = channels
                    .clone()
                    .map(ringwire_services::channels::http::ChannelsHttp::new);
                let router = Router::new(root.as_deref(), kv, channels_http).map(Rc::new);
                match (router, listener.map(TcpListener::from_std)) {
                    (Ok(router), Some(Ok(l))) => {
                        let _ = events.send(WorkerEvent::Listening(info.index));
                        serve_http_tls(l, router, http_tls).await;
                    }
                    (Err(e), _) => {
                        tracing::error!(core = info.index, "cannot open the static root: {e}")
                    }
                    (_, Some(Err(e))) => tracing::error!(core = info.index, "listener: {e}"),
                    (_, None) => tracing::error!(core = info.index, "no listener for this worker"),
                }
                let deadline = core
                    .drain_deadline()
                    .unwrap_or_else(|| Instant::now() + shutdown);
                let forced = core.drain(deadline).await;
                if forced > 0 {
                    tracing::warn!(
                        core = info.index,
                        "force-closed {forced} connections at the drain deadline"
                    );
                }
                let _ = events.send(WorkerEvent::Stopped(info.index));
            }
        });
    let cores = match launched {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let (http, stream) = (
        if settings.tls.http && tls.is_on() {
            "https"
        } else {
            "http"
        },
        if settings.tls.stream && tls.is_on() {
            "tls"
        } else {
            "tcp"
        },
    );
    tracing::info!(
        "ringwire {} listening on {http}://{addr} with {workers} workers",
        env!("CARGO_PKG_VERSION")
    );
    match stream_addr {
        Some(a) => tracing::info!(
            "stream protocol on {stream}://{a} (and by Upgrade: ringwire-stream/1 on {http}://{addr}/)"
        ),
        None if settings.stream_enabled => tracing::info!(
            "stream protocol by Upgrade: ringwire-stream/1 on http://{addr}/ only (no stream_listen)"
        ),
        None => tracing::info!("stream protocol off (stream.enabled = false)"),
    }
    let control_cpu = match settings.control_cpu {
        ControlCpu::Cpu(c) => Some(c),
        ControlCpu::None => None,
        ControlCpu::Auto => available_cpus()
            .into_iter()
            .rev()
            .find(|c| !cpus[..workers.min(cpus.len())].contains(c)),
    };
    let mut checks: Vec<Box<dyn ringwire_ops::HealthCheck>> =
        vec![Box::new(crate::storage::DbCheck(store.clone()))];
    let mut collectors: Vec<Box<dyn ringwire_ops::metrics::Collector>> = vec![
        Box::new(crate::storage::DbMetrics(store.clone())),
        Box::new(crate::channel_metrics::ChannelMetrics(channel_stats)),
        Box::new(crate::edge_metrics::EdgeMetrics(edge.clone())),
    ];
    let mut bridge = None;
    if let Some(seed) = bridge_seed {
        match crate::cluster::start(settings, seed, js_port, control_cpu) {
            Ok(b) => {
                checks.push(Box::new(crate::cluster::BridgeCheck {
                    stats: b.stats().clone(),
                    urls: b.urls().to_vec(),
                }));
                collectors.push(Box::new(crate::cluster::BridgeMetrics(b.stats().clone())));
                bridge = Some(b);
            }
            Err(e) => {
                tracing::error!("{e}");
                return 1;
            }
        }
    }
    let opts = Options {
        admin,
        cpu: control_cpu,
        heartbeat_interval: settings.heartbeat_interval,
        heartbeat_timeout: settings.heartbeat_timeout,
        shutdown_timeout: settings.shutdown_timeout,
        checks,
        collectors,
        edge: Some(edge.clone()),
        public_metrics: settings.public_metrics,
        upgrader: match handover {
            Ok(h) => Some(h.upgrader()),
            Err(e) => {
                tracing::warn!("{e}: POST /admin/upgrade is off");
                None
            }
        },
        on_ready: inherited
            .as_mut()
            .and_then(crate::upgrade::Inherited::take_ready),
    };
    let workers = Workers {
        handles: cores.handles().to_vec(),
        events: events_rx,
        pinned: cores.pinned().iter().map(Option::is_some).collect(),
    };
    let reload_edge = edge.clone();
    let reload = move || {
        tls.reload();
        // Keys and revocations first: a bad key file keeps the old keys, and the rest of the
        // configuration still reloads.
        match reload_edge.reload() {
            Ok(_) if !reload_edge.has_keys() => {}
            Ok(n) => tracing::info!("SIGHUP: auth keys reloaded ({n} keys)"),
            Err(e) => tracing::error!("SIGHUP: auth keys not reloaded, the old ones stay: {e}"),
        }
        reload()
    };
    let code = ringwire_ops::run(opts, workers, logging, Box::new(reload));
    if code == 0 {
        for r in cores.join() {
            if let Err(e) = r {
                tracing::error!("{e}");
            }
        }
        // Every worker is done: what they published goes out to NATS before the process ends.
        if let Some(b) = bridge {
            crate::cluster::close(b);
        }
        // Every worker is done: the writes they queued are committed (and synced) now.
        if let ringwire_db::Backend::Embedded(store) = store {
            store.close();
        }
    }
    code
}

/// Says at start how the data services are guarded.
fn log_edge(settings: &Settings) {
    let e = &settings.edge;
    match (&e.keys, e.insecure_open) {
        (Some(dir), _) => tracing::info!(
            "auth: tokens signed by the keys in {} are required for data requests",
            dir.display()
        ),
        (None, true) => tracing::warn!(
            "auth: --insecure-open: data services answer every client, with no token"
        ),
        (None, false) => tracing::info!(
            "auth: protected mode (no auth.keys): data services answer loopback clients only"
        ),
    }
}

/// One listener per worker: systemd's socket (shared by every worker) when socket-activated,
/// otherwise one `SO_REUSEPORT` socket per worker.
fn listeners(settings: &Settings, workers: usize) -> Result<Vec<std::net::TcpListener>, String> {
    let inherited = ringwire_reactor::activation::systemd_listeners()
        .map_err(|e| format!("socket activation: {e}"))?;
    if let Some(first) = inherited.into_iter().next() {
        tracing::info!(
            "socket activation: serving on the listener systemd passed (fd 3), shared by {workers} workers"
        );
        let mut out = Vec::with_capacity(workers);
        for _ in 1..workers {
            out.push(
                first
                    .try_clone()
                    .map_err(|e| format!("socket activation: {e}"))?,
            );
        }
        out.push(first);
        return Ok(out);
    }
    bind_per_core(settings.listen, workers, settings.backlog, true).map_err(|e| e.to_string())
}

fn bind_admin(addr: std::net::SocketAddr) -> Result<std::net::TcpListener, String> {
    ringwire_net::bind_exclusive(addr, 128).map_err(|e| format!("admin: {e}"))
}

/// SIGHUP: re-read the file and environment (the command line cannot change) and return the
/// new connection settings and log level.
fn reload() -> Result<(ringwire_net::Config, String), String> {
    let args: Vec<String> = std::env::args().collect();
    match cli::parse(&args, std::env::vars().collect())? {
        cli::Action::Serve(s) => Ok((s.net_config(), s.log_level.clone())),
        _ => Err("not a serve command line".into()),
    }
}
