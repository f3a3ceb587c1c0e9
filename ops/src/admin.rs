//! The admin endpoints, served on the control core: `/health/live`, `/health/ready`,
//! `/health/startup` (JSON) and `/metrics` (Prometheus text 0.0.4), open to anyone who reaches
//! the listener (`auth.public_metrics = false` puts `/metrics` behind the `admin` scope), with
//! `/stats.json` (same rule) and the `/dashboard` page (`dashboard/`); and
//! `POST /admin/reload` (as SIGHUP), `POST /admin/drain` (as SIGTERM) and the CPU profile
//! `GET /debug/flamegraph` (`profile/`), which need a token with the `admin` scope (without
//! keys: a loopback client).

use crate::{control::State, health, metrics};
use ringwire_net::{
    Error, Request, Responder, Service,
    auth::Need,
    problem::{method_not_allowed, send_error},
};
use ringwire_reactor::signal::{SIGHUP, SIGTERM};
use std::rc::Rc;

const JSON: (&str, &[u8]) = ("Content-Type", b"application/json");
const PROMETHEUS: (&str, &[u8]) = ("Content-Type", b"text/plain; version=0.0.4; charset=utf-8");
const NO_STORE: (&str, &[u8]) = ("Cache-Control", b"no-store");

/// The signal an admin action raises: what SIGHUP and SIGTERM do, asked for over HTTP.
fn action(path: &str) -> Option<i32> {
    match path {
        "/admin/reload" => Some(SIGHUP),
        "/admin/drain" => Some(SIGTERM),
        _ => None,
    }
}

/// The admin routes.
pub(crate) struct Admin {
    pub(crate) state: Rc<State>,
}

impl Service for Admin {
    async fn call(&self, req: &mut Request<'_>, res: &mut Responder<'_>) -> Result<(), Error> {
        let method = req.method().as_str();
        let state = &self.state;
        // Actions that change state: the `admin` scope (without keys: loopback clients).
        if req.path() == "/admin/upgrade" {
            req.authorize(Need::Admin)?;
            if method != "POST" {
                return method_not_allowed(req, res, b"POST");
            }
            return crate::upgrade::serve(state, req, res).await;
        }
        if let Some(signal) = action(req.path()) {
            req.authorize(Need::Admin)?;
            if method != "POST" {
                return method_not_allowed(req, res, b"POST");
            }
            return match ringwire_reactor::signal::raise(signal) {
                Ok(()) => res.send(202, &[JSON, NO_STORE], b"{\"accepted\":true}\n"),
                Err(e) => Err(Error::Service(format!("cannot signal the process: {e}"))),
            };
        }
        if method != "GET" && method != "HEAD" {
            return method_not_allowed(req, res, b"GET, HEAD");
        }
        match req.path() {
            "/health/live" => {
                let (status, body) = health::body("live", &state.liveness(), state.uptime());
                res.send(status, &[JSON, NO_STORE], body.as_bytes())
            }
            "/health/ready" => {
                let entries = state.readiness().await;
                let (status, body) = health::body("ready", &entries, state.uptime());
                res.send(status, &[JSON, NO_STORE], body.as_bytes())
            }
            "/health/startup" => {
                let (status, body) = health::body("startup", &state.startup(), state.uptime());
                res.send(status, &[JSON, NO_STORE], body.as_bytes())
            }
            "/metrics" => {
                if !state.public_metrics {
                    req.authorize(Need::Admin)?;
                }
                let reports = state.collect().await;
                let mut text = metrics::render(
                    &reports,
                    &state.heartbeat_ages(),
                    &state.pinned,
                    state.is_draining(),
                );
                for c in &state.collectors {
                    let mut e = metrics::text::Exposition::default();
                    c.collect(&mut e);
                    text.push_str(&e.finish());
                }
                res.send(200, &[PROMETHEUS, NO_STORE], text.as_bytes())
            }
            path if crate::dashboard::routes(path) => {
                crate::dashboard::serve(state, req, res).await
            }
            "/debug/flamegraph" => crate::profile::serve(req, res).await,
            _ => {
                let msg = "try /metrics, /stats.json, /dashboard, /health/{live,ready,startup}, POST /admin/{reload,drain}";
                send_error(req, res, 404, "route.not_found", msg, &[])
            }
        }
    }
}
