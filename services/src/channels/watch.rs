//! Hearing what other nodes append. A node hears its own appends on its hub; on a store other
//! nodes write too (PostgreSQL, or JetStream in cluster mode) it must look. One watcher per
//! core and durable channel with local readers asks the store for the channel's head every
//! [`SHARED_STORE_POLL`](super::core::SHARED_STORE_POLL) and, when it moved, pokes every local
//! reader of the channel (each then reads the store from its cursor). So the cost is one small
//! query per core and channel per interval, whatever the number of readers.

use super::core::Channels;
use ringwire_net::stream::Wakeup;
use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    rc::{Rc, Weak},
    time::Duration,
};

/// A reader's registration: raised (and its wakeup woken) when the channel's head moved.
/// Dropping it unregisters.
pub struct Poke {
    raised: Cell<bool>,
    wakeup: Wakeup,
    /// The next sequence number the reader wants (`u64::MAX`: not told).
    position: Cell<u64>,
}

impl Poke {
    /// Whether the head moved (or is ahead of the reader) since the last call.
    pub fn take(&self) -> bool {
        self.raised.replace(false)
    }

    /// Tells the watcher where the reader is: while it is behind the head it is poked at
    /// every look, whether the head moved or not (a read of a JetStream stream can come back
    /// short of what is there).
    pub fn at(&self, next: u64) {
        self.position.set(next);
    }
}

/// The readers of each watched channel on one core.
#[derive(Default)]
pub(crate) struct Watches {
    readers: RefCell<HashMap<Rc<str>, Vec<Weak<Poke>>>>,
}

impl Channels {
    /// Registers a reader of durable `channel` woken through `wakeup`; `None` when nothing
    /// but this node appends (the embedded store without a cluster).
    pub fn watch(self: &Rc<Self>, channel: &str, wakeup: Wakeup) -> Option<Rc<Poke>> {
        let every = self.poll_interval()?;
        let poke = Rc::new(Poke {
            raised: Cell::new(false),
            wakeup,
            position: Cell::new(u64::MAX),
        });
        let mut readers = self.watches.readers.borrow_mut();
        let new = !readers.contains_key(channel);
        let channel: Rc<str> = Rc::from(channel);
        readers
            .entry(channel.clone())
            .or_default()
            .push(Rc::downgrade(&poke));
        if new {
            ringwire_reactor::spawn_local(watcher(self.clone(), channel, every));
        }
        Some(poke)
    }
}

/// Watches `channel` while it has readers on this core.
async fn watcher(channels: Rc<Channels>, channel: Rc<str>, every: Duration) {
    let mut last = None;
    loop {
        ringwire_reactor::time::sleep(every).await;
        {
            let mut readers = channels.watches.readers.borrow_mut();
            let Some(list) = readers.get_mut(&channel) else {
                return;
            };
            list.retain(|w| w.strong_count() > 0);
            if list.is_empty() {
                readers.remove(&channel);
                return;
            }
        }
        let Ok(info) = channels.log_info(&channel).await else {
            continue;
        };
        // The first look pokes too: something may have come between a reader's own first
        // read and this one.
        let moved = last != Some(info.next);
        last = Some(info.next);
        let readers = channels.watches.readers.borrow();
        for poke in readers.get(&channel).into_iter().flatten() {
            if let Some(p) = poke.upgrade()
                && (moved || p.position.get() < info.next)
            {
                p.raised.set(true);
                p.wakeup.wake();
            }
        }
    }
}
