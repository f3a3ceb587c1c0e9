//! The live dashboard on the admin listener: `GET /stats.json` (the per-core snapshots that
//! `/metrics` renders, as JSON) and `GET /dashboard` (a page, with `/dashboard.js` and
//! `/dashboard.css`, that polls it every second). Everything is embedded in the binary.

mod db;
mod page;
mod stats_json;

use crate::{control::State, metrics::text::Exposition};
use ringwire_net::{Error, Request, Responder, auth::Need};

const JSON: (&str, &[u8]) = ("Content-Type", b"application/json");
const NO_STORE: (&str, &[u8]) = ("Cache-Control", b"no-store");

/// Whether `path` is one of the dashboard's routes.
pub(crate) fn routes(path: &str) -> bool {
    path == "/stats.json" || page::asset(path).is_some()
}

/// Answers a `GET`/`HEAD` on one of [`routes`].
pub(crate) async fn serve(
    state: &State,
    req: &mut Request<'_>,
    res: &mut Responder<'_>,
) -> Result<(), Error> {
    if let Some(asset) = page::asset(req.path()) {
        return page::send(asset, res);
    }
    // The same rule as /metrics: `auth.public_metrics = false` needs the `admin` scope.
    if !state.public_metrics {
        req.authorize(Need::Admin)?;
    }
    let reports = state.collect().await;
    let mut collected = String::new();
    for c in &state.collectors {
        let mut e = Exposition::default();
        c.collect(&mut e);
        collected.push_str(&e.finish());
    }
    let cx = stats_json::Context {
        uptime: state.uptime(),
        draining: state.is_draining(),
        pinned: &state.pinned,
        heartbeat_ages: &state.heartbeat_ages(),
        collected: &collected,
    };
    let mut body = stats_json::render(&reports, &cx).to_string();
    body.push('\n');
    res.send(200, &[JSON, NO_STORE], body.as_bytes())
}
