//! `ringwire serve`: bind one listener per worker, start the pinned workers, and turn
//! SIGTERM/SIGINT into a graceful drain (SIGHUP into a reload).

use crate::{cli, config::Settings, routes::Router};
use ringwire_net::{Core, bind_per_core, serve_http};
use ringwire_reactor::{
    Backend, Runtime, channel,
    launcher::{Launcher, available_cpus},
    net::TcpListener,
    signal::{self, SIGHUP, SIGINT, SIGTERM, Signals},
};
use std::{
    rc::Rc,
    sync::{Arc, Mutex},
    time::Instant,
};

/// Runs the server until it is told to stop; returns the process exit code.
pub fn run(settings: Settings) -> i32 {
    crate::logging::init(&settings);
    // Before any other thread exists: signals must reach the signalfd, not a random thread.
    if let Err(e) = signal::block(&[SIGTERM, SIGINT, SIGHUP]) {
        tracing::error!("cannot block signals: {e}");
        return 1;
    }
    let cpus = settings.cpus.clone().unwrap_or_else(available_cpus);
    let workers = if settings.workers == 0 {
        cpus.len()
    } else {
        settings.workers
    };
    let listeners = match bind_per_core(settings.listen, workers, settings.backlog, true) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let addr = listeners[0]
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let listeners: Arc<Mutex<Vec<Option<std::net::TcpListener>>>> =
        Arc::new(Mutex::new(listeners.into_iter().map(Some).collect()));
    let runtime = Runtime::builder()
        .backend(settings.io)
        .ring_entries(settings.ring_entries)
        .recv_buffers(settings.recv_buffers, settings.recv_buffer_size)
        .expected_sockets(settings.max_connections + 64);
    let (done_tx, done_rx) = channel::channel::<usize>();
    let net_config = settings.net_config();
    let root = settings.root.clone();
    let shutdown = settings.shutdown_timeout;
    let launched = Launcher::new(workers)
        .cpus(cpus)
        .runtime(runtime)
        .launch(move |info| {
            let listener = listeners.lock().expect("listener table")[info.index].take();
            let (net_config, root, done_tx) = (net_config.clone(), root.clone(), done_tx.clone());
            async move {
                let core = Core::install(info.index, net_config);
                let cpu = info
                    .cpu
                    .map_or("unpinned".to_string(), |c| format!("cpu {c}"));
                tracing::info!(
                    core = info.index,
                    "worker on {cpu}: backend {}",
                    info.backend
                );
                let router = match Router::new(root.as_deref()) {
                    Ok(r) => Rc::new(r),
                    Err(e) => {
                        tracing::error!(core = info.index, "cannot open the static root: {e}");
                        let _ = done_tx.send(info.index);
                        return;
                    }
                };
                let listener = listener.map(TcpListener::from_std);
                match listener {
                    Some(Ok(l)) => serve_http(l, router).await,
                    Some(Err(e)) => tracing::error!(core = info.index, "listener: {e}"),
                    None => tracing::error!(core = info.index, "no listener for this worker"),
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
                let _ = done_tx.send(info.index);
            }
        });
    let cores = match launched {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    tracing::info!(
        "ringwire {} listening on http://{addr} with {workers} workers",
        env!("CARGO_PKG_VERSION")
    );
    let handles = cores.handles().to_vec();
    let control = match Runtime::builder().backend(Backend::Auto).build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("control runtime: {e}");
            return 1;
        }
    };
    let code = control.block_on(async move {
        let signals = match Signals::new(&[SIGTERM, SIGINT, SIGHUP]) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot receive signals: {e}");
                return 1;
            }
        };
        let mut draining = false;
        let mut finished = 0;
        // Kept across turns: dropping a pending signalfd read could lose a signal.
        let mut next_signal = Box::pin(signals.recv());
        loop {
            let next = select(next_signal.as_mut(), done_rx.recv()).await;
            if matches!(next, Either::Left(_)) {
                next_signal = Box::pin(signals.recv());
            }
            match next {
                Either::Left(Ok(sig)) if sig == SIGHUP => reload(&handles),
                Either::Left(Ok(sig)) if draining => {
                    tracing::warn!("second signal ({sig}) during drain: exiting now");
                    return 1;
                }
                Either::Left(Ok(sig)) => {
                    draining = true;
                    let deadline = Instant::now() + shutdown;
                    tracing::info!(
                        "signal {sig}: draining, deadline in {}",
                        humantime::format_duration(shutdown)
                    );
                    for h in &handles {
                        h.spawn(move || {
                            if let Some(core) = Core::current() {
                                core.begin_drain(deadline);
                            }
                        });
                    }
                }
                Either::Left(Err(e)) => tracing::error!("signal stream: {e}"),
                Either::Right(Some(_)) => {
                    finished += 1;
                    if finished == handles.len() {
                        tracing::info!("all workers stopped");
                        return 0;
                    }
                }
                Either::Right(None) => return 0,
            }
        }
    });
    if code == 0 {
        for r in cores.join() {
            if let Err(e) = r {
                tracing::error!("{e}");
            }
        }
    }
    code
}

/// SIGHUP: re-read the file and environment and hand the new limits and timeouts to every
/// core. The listen address, workers, CPUs and backend need a restart and are not changed.
fn reload(handles: &[ringwire_reactor::Handle]) {
    let args: Vec<String> = std::env::args().collect();
    let settings = match cli::parse(&args, std::env::vars().collect()) {
        Ok(cli::Action::Serve(s)) => s,
        Ok(_) => return,
        Err(e) => {
            tracing::error!("SIGHUP: configuration not reloaded: {e}");
            return;
        }
    };
    let config = settings.net_config();
    for h in handles {
        let config = config.clone();
        h.spawn(move || {
            if let Some(core) = Core::current() {
                core.reload(config);
            }
        });
    }
    tracing::info!(
        "SIGHUP: limits and timeouts reloaded; listen address, workers and backend need a restart"
    );
}

enum Either<A, B> {
    Left(A),
    Right(B),
}

async fn select<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> Either<A::Output, B::Output> {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
            return std::task::Poll::Ready(Either::Left(v));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}
