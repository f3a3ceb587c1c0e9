//! Retention without publishes: on one core, a task looks at every durable channel now and
//! then and trims what its pattern no longer keeps (by age above all: a channel nobody
//! publishes to still ages). Trims go to the store's writer in bounded slices, like the ones
//! publishing starts, so they never hold a publisher up for long.

use super::core::{Channels, trim};
use std::{rc::Rc, time::Duration};

/// Log names listed per round trip.
const PAGE: usize = 256;

/// How often the sweep runs for `channels`' retention: a tenth of the shortest `max_age`,
/// within 1 s to 60 s; `None` when no durable pattern has a bound.
pub fn interval(channels: &Channels) -> Option<Duration> {
    let entries = &channels.settings().durable.entries;
    // In cluster mode JetStream keeps each stream within its limits.
    if channels.in_cluster() || entries.iter().all(|(_, r)| r.is_unbounded()) {
        return None;
    }
    let shortest = entries.iter().filter_map(|(_, r)| r.max_age).min();
    let tenth = shortest.map_or(Duration::from_secs(60), |a| a / 10);
    Some(tenth.clamp(Duration::from_secs(1), Duration::from_secs(60)))
}

/// Runs the sweep forever (spawn it on one core).
pub async fn run(channels: Rc<Channels>, every: Duration) {
    loop {
        ringwire_reactor::time::sleep(every).await;
        let mut after: Option<bytes::Bytes> = None;
        loop {
            let names = match channels
                .db()
                .log_names(b"ch/", after.as_deref(), PAGE)
                .await
            {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!("channel retention sweep: {e}");
                    break;
                }
            };
            for name in &names {
                let channel = std::str::from_utf8(&name[3..]).unwrap_or_default();
                if let Some(r) = channels.settings().durable.lookup(channel)
                    && !r.is_unbounded()
                {
                    let (db, stats) = (channels.db().clone(), channels.stats().clone());
                    trim(db, stats, name.clone(), *r).await;
                }
            }
            if names.len() < PAGE {
                break;
            }
            after = names.last().cloned();
        }
    }
}
