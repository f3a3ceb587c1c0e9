//! Zero-downtime upgrade, the control core's side: `POST /admin/upgrade` (what `ringwire
//! upgrade` sends) starts a successor process that inherits every listening socket and
//! waits until it is ready, then hands over: systemd is told the successor is the main
//! process, and this process drains without closing idle keep-alive connections early (each
//! answers its next request with `Connection: close`), so no request and no connection
//! attempt is lost. A successor that fails or is not ready in time is stopped, and this
//! process goes on serving.

use crate::{control::State, sdnotify::Notifier};
use ringwire_net::{Error, Request, Responder, problem::send_error};
use ringwire_reactor::{channel, signal::SIGTERM};
use std::{
    rc::Rc,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

/// Starts the successor (same binary path, same arguments, inheriting the listeners) and
/// waits until it is ready: its process id, or why it is not running. Blocks: runs on a
/// thread of its own.
pub type Upgrader = Arc<dyn Fn() -> Result<u32, String> + Send + Sync>;

/// One upgrade at a time.
static BUSY: AtomicBool = AtomicBool::new(false);

const JSON: (&str, &[u8]) = ("Content-Type", b"application/json");

/// `POST /admin/upgrade` (the caller checked the method and the `admin` scope).
pub(crate) async fn serve(
    state: &Rc<State>,
    req: &mut Request<'_>,
    res: &mut Responder<'_>,
) -> Result<(), Error> {
    let Some(upgrader) = state.upgrader.clone() else {
        let msg = "this process kept no copies of its listeners at start (the log says why): restart it instead";
        return send_error(req, res, 501, "upgrade.unavailable", msg, &[]);
    };
    if state.is_draining() {
        let msg = "the server is draining already";
        return send_error(req, res, 409, "upgrade.busy", msg, &[]);
    }
    if BUSY.swap(true, Ordering::SeqCst) {
        let msg = "an upgrade is already running";
        return send_error(req, res, 409, "upgrade.busy", msg, &[]);
    }
    tracing::info!("upgrade: starting the successor process");
    let (tx, rx) = channel::bounded(1);
    let started = std::thread::Builder::new()
        .name("ringwire-upgrade".into())
        .spawn(move || {
            let _ = tx.send(upgrader());
        });
    let result = match started {
        Ok(_) => rx
            .recv()
            .await
            .unwrap_or_else(|| Err("the upgrade thread ended without an answer".into())),
        Err(e) => Err(format!("cannot start the upgrade thread: {e}")),
    };
    // Still alive? A successor that died right after saying `ready` must not be handed the
    // service (systemd would be told a dead main process, and this one would drain away).
    let result = result.and_then(|pid| match ringwire_reactor::signal::send(pid, 0) {
        Ok(()) => Ok(pid),
        Err(e) => Err(format!(
            "the new process ({pid}) is gone right after it was ready: {e}"
        )),
    });
    match result {
        // BUSY stays set: this process is handing over and will not upgrade again.
        Ok(pid) => {
            hand_over(state, pid);
            let body = format!("{{\"upgraded\":true,\"pid\":{pid}}}\n");
            res.send(202, &[JSON], body.as_bytes())
        }
        Err(e) => {
            BUSY.store(false, Ordering::SeqCst);
            tracing::error!("upgrade failed, this process goes on serving: {e}");
            send_error(req, res, 500, "upgrade.failed", &e, &[])
        }
    }
}

/// The successor `pid` is ready: it becomes systemd's main process, and this one drains.
fn hand_over(state: &State, pid: u32) {
    tracing::info!("upgrade: process {pid} is ready and serving; draining this one");
    match Notifier::from_env() {
        Ok(Some(n)) => {
            if let Err(e) = n.notify(&format!("MAINPID={pid}\nREADY=1")) {
                tracing::warn!("sd_notify MAINPID={pid}: {e}");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("NOTIFY_SOCKET is set but unusable: {e}"),
    }
    state.handover.set(true);
    // The admin endpoints go to the successor too: this control core stops accepting on the
    // shared admin socket (its open connections finish), so probes do not see this process's
    // 503 "draining" while the service as a whole is ready.
    if let Some(core) = ringwire_net::Core::current() {
        core.begin_drain_as(std::time::Instant::now() + DRAIN_ADMIN, true);
    }
    // Already draining (a SIGTERM or POST /admin/drain came while the successor started):
    // that drain goes on; a second signal would end this process at once.
    if state.is_draining() {
        return;
    }
    if let Err(e) = ringwire_reactor::signal::raise(SIGTERM) {
        tracing::error!("upgrade: cannot start the drain: {e}");
    }
}

/// The admin core's drain deadline (nothing waits for it: the process ends with its workers).
const DRAIN_ADMIN: std::time::Duration = std::time::Duration::from_secs(30);
