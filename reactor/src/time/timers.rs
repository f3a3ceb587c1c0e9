//! The per-core timer store.

use slab::Slab;
use std::{collections::BTreeSet, task::Waker, time::Instant};

struct Entry {
    deadline: Instant,
    waker: Option<Waker>,
    fired: bool,
}

#[derive(Default)]
pub(crate) struct Timers {
    entries: Slab<Entry>,
    order: BTreeSet<(Instant, usize)>,
}

impl Timers {
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> usize {
        let key = self.entries.insert(Entry {
            deadline,
            waker: Some(waker),
            fired: false,
        });
        self.order.insert((deadline, key));
        key
    }

    /// Moves timer `key` to `deadline` (and re-arms it if it had fired).
    pub(crate) fn rearm(&mut self, key: usize, deadline: Instant, waker: &Waker) {
        let e = &mut self.entries[key];
        if !e.fired {
            self.order.remove(&(e.deadline, key));
        }
        e.deadline = deadline;
        e.fired = false;
        match &mut e.waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        self.order.insert((deadline, key));
    }

    /// Moves a pending timer to `deadline`, keeping its waker.
    pub(crate) fn reschedule(&mut self, key: usize, deadline: Instant) {
        let e = &mut self.entries[key];
        if !e.fired {
            self.order.remove(&(e.deadline, key));
            e.deadline = deadline;
            self.order.insert((deadline, key));
        }
    }

    pub(crate) fn set_waker(&mut self, key: usize, waker: &Waker) {
        match &mut self.entries[key].waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// (registered deadline, fired) of timer `key`.
    pub(crate) fn state(&self, key: usize) -> (Instant, bool) {
        let e = &self.entries[key];
        (e.deadline, e.fired)
    }

    pub(crate) fn remove(&mut self, key: usize) {
        let e = self.entries.remove(key);
        if !e.fired {
            self.order.remove(&(e.deadline, key));
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.order.first().map(|&(d, _)| d)
    }

    /// Marks every timer due at `now` as fired and returns their wakers.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Waker> {
        let mut out = Vec::new();
        while let Some(&(deadline, key)) = self.order.first() {
            if deadline > now {
                break;
            }
            self.order.pop_first();
            let e = &mut self.entries[key];
            e.fired = true;
            out.extend(e.waker.take());
        }
        out
    }

    pub(crate) fn take_wakers(&mut self) -> Vec<Waker> {
        self.entries
            .iter_mut()
            .filter_map(|(_, e)| e.waker.take())
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expires_in_deadline_order_and_only_when_due() {
        let mut t = Timers::default();
        let base = Instant::now();
        let w = Waker::noop().clone();
        let late = t.insert(base + Duration::from_millis(30), w.clone());
        let early = t.insert(base + Duration::from_millis(10), w.clone());
        assert_eq!(t.next_deadline(), Some(base + Duration::from_millis(10)));
        assert_eq!(t.expire(base + Duration::from_millis(5)).len(), 0);
        assert_eq!(t.expire(base + Duration::from_millis(10)).len(), 1);
        assert!(t.state(early).1 && !t.state(late).1);
        t.rearm(late, base + Duration::from_millis(50), &w);
        assert_eq!(t.expire(base + Duration::from_millis(40)).len(), 0);
        assert_eq!(t.expire(base + Duration::from_millis(50)).len(), 1);
        t.remove(early);
        t.remove(late);
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_deadline(), None);
    }
}
