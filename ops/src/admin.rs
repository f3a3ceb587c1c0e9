//! The admin endpoints, served on the control core: `/health/live`, `/health/ready`,
//! `/health/startup` (JSON) and `/metrics` (Prometheus text 0.0.4).

use crate::{control::State, health, metrics};
use ringwire_net::{Error, Request, Responder, Service};
use std::rc::Rc;

const JSON: (&str, &[u8]) = ("Content-Type", b"application/json");
const PROMETHEUS: (&str, &[u8]) = ("Content-Type", b"text/plain; version=0.0.4; charset=utf-8");
const NO_STORE: (&str, &[u8]) = ("Cache-Control", b"no-store");

/// The admin routes.
pub(crate) struct Admin {
    pub(crate) state: Rc<State>,
}

impl Service for Admin {
    async fn call(&self, req: &mut Request<'_>, res: &mut Responder<'_>) -> Result<(), Error> {
        let method = req.method().as_str();
        if method != "GET" && method != "HEAD" {
            return res.send(405, &[("Allow", b"GET, HEAD")], b"method not allowed\n");
        }
        let state = &self.state;
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
            _ => res.send(
                404,
                &[],
                b"not found: try /metrics or /health/{live,ready,startup}\n",
            ),
        }
    }
}
