//! `GET /debug/flamegraph?seconds=N[&format=folded][&hz=H]` on the admin listener: a CPU
//! profile of the whole process (every worker core and the control core), sampled in-process
//! for N seconds, as an inferno SVG flamegraph or as folded stacks.
//!
//! The control core's reactor never blocks: the profile runs on a helper thread started per
//! request, and the request awaits its result on a reactor channel. One profile at a time per
//! process (SIGPROF and its timer are process-wide): a second request gets 409.

mod params;
mod sampler;

use ringwire_net::{
    Error, Request, Responder,
    auth::Need,
    problem::{method_not_allowed, send_error},
};
use ringwire_reactor::channel;
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

/// When the running profile is due to end (seconds since the epoch), 0 when none runs: the
/// one-at-a-time lock, and the `Retry-After` of a refused request.
static RUNNING_UNTIL: AtomicU64 = AtomicU64::new(0);

/// The lock on profiling, released when dropped (by the helper thread, once it has disarmed
/// the sampler, whether the client waited for the answer or not).
struct Running;

impl Running {
    /// Takes the lock for a profile of `seconds`, or says in how many seconds to retry.
    fn take(seconds: u64) -> Result<Running, u64> {
        let now = unix_now();
        match RUNNING_UNTIL.compare_exchange(0, now + seconds, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(Running),
            Err(until) => Err(until.saturating_sub(now).max(1)),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING_UNTIL.store(0, Ordering::Release);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Serves `/debug/flamegraph`: needs the `admin` scope (without keys: a loopback client).
pub(crate) async fn serve(req: &mut Request<'_>, res: &mut Responder<'_>) -> Result<(), Error> {
    req.authorize(Need::Admin)?;
    if req.method().as_str() != "GET" {
        return method_not_allowed(req, res, b"GET");
    }
    let p = match params::parse(req.query()) {
        Ok(p) => p,
        Err(msg) => return send_error(req, res, 400, "profile.bad_parameter", &msg, &[]),
    };
    let running = match Running::take(p.seconds) {
        Ok(r) => r,
        Err(retry) => {
            let msg =
                format!("a profile is already running (one at a time); retry in about {retry} s");
            let retry = retry.to_string();
            let headers: &[(&str, &[u8])] = &[("Retry-After", retry.as_bytes())];
            return send_error(req, res, 409, "profile.busy", &msg, headers);
        }
    };
    tracing::info!(
        request_id = req.request_id(),
        "/debug/flamegraph: profiling every core for {} s at {} Hz",
        p.seconds,
        p.hz
    );
    let (tx, rx) = channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("ringwire-profile".into())
        .spawn(move || {
            let result = sampler::run(p);
            drop(running);
            let _ = tx.send(result);
        });
    let outcome = match spawned {
        Ok(_) => rx.recv().await,
        Err(e) => Some(Err(format!("cannot start the profiling thread: {e}"))),
    };
    match outcome {
        Some(Ok(profile)) => res.send(
            200,
            &[
                ("Content-Type", profile.content_type.as_bytes()),
                ("Cache-Control", b"no-store"),
            ],
            &profile.body,
        ),
        failed => {
            let why = match failed {
                Some(Err(why)) => why,
                _ => "the profiling thread ended without a result".into(),
            };
            tracing::error!(request_id = res.request_id(), "/debug/flamegraph: {why}");
            let msg =
                "the profile could not be taken; the server log has why (quote the request id)";
            send_error(req, res, 500, "profile.failed", msg, &[])
        }
    }
}
