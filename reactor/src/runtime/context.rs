//! The per-thread runtime context: what a task reaches when it spawns, sleeps or does I/O.

use super::{shared::Shared, stats::Counters};
use crate::{Selection, buf::BufPool, driver::Driver, time::Timers};
use async_task::Runnable;
use slab::Slab;
use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    rc::Rc,
    sync::Arc,
    task::Waker,
    time::Instant,
};

pub(crate) struct Context {
    pub(crate) driver: RefCell<Driver>,
    pub(crate) queue: RefCell<VecDeque<Runnable>>,
    /// A waker of every live task that has been polled, so teardown can reach tasks that
    /// nothing else will ever wake.
    pub(crate) tasks: RefCell<Slab<Waker>>,
    pub(crate) timers: RefCell<Timers>,
    /// The loop's clock, read once per turn after the driver returns.
    pub(crate) clock: Cell<Instant>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) pool: Rc<BufPool>,
    pub(crate) selection: Selection,
    pub(crate) counters: Counters,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Context>>> = const { RefCell::new(None) };
    /// Id of the runtime running on this thread (0: none); compared on every wake to tell a
    /// local wake (push to the run queue) from a remote one (message + wake the owner).
    static CURRENT_ID: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` with the current context; panics outside a runtime.
pub(crate) fn with<R>(f: impl FnOnce(&Context) -> R) -> R {
    try_with(f).expect("this needs a ringwire runtime: call it inside Runtime::block_on")
}

/// Runs `f` with the current context, or returns `None` outside a runtime.
pub(crate) fn try_with<R>(f: impl FnOnce(&Context) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(|cx| f(cx)))
        .ok()
        .flatten()
}

/// Id of the runtime entered on this thread, 0 if none.
pub(crate) fn current_id() -> usize {
    CURRENT_ID.try_with(Cell::get).unwrap_or(0)
}

/// Makes `cx` the current context until the guard drops.
pub(crate) fn enter(cx: Rc<Context>) -> EnterGuard {
    let id = cx.shared.id;
    CURRENT.with(|c| {
        let mut cur = c.borrow_mut();
        assert!(
            cur.is_none(),
            "a ringwire runtime is already running on this thread"
        );
        *cur = Some(cx);
    });
    CURRENT_ID.with(|c| c.set(id));
    EnterGuard(())
}

pub(crate) struct EnterGuard(());

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT_ID.with(|c| c.set(0));
        let cx = CURRENT.with(|c| c.borrow_mut().take());
        drop(cx);
    }
}
