//! The part of a runtime other threads may touch: its remote queues and its wake.

use crate::driver::Unparker;
use async_task::Runnable;
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

type Job = Box<dyn FnOnce() + Send>;

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

pub(crate) struct Shared {
    pub(crate) id: usize,
    tasks_tx: Sender<Foreign>,
    tasks_rx: Receiver<Foreign>,
    jobs_tx: Sender<Job>,
    jobs_rx: Receiver<Job>,
    /// Set by the first remote wake after the owner last looked; later wakes skip the syscall.
    notified: AtomicBool,
    closed: AtomicBool,
    unparker: Unparker,
}

impl Shared {
    pub(crate) fn new(unparker: Unparker) -> Self {
        let (tasks_tx, tasks_rx) = unbounded();
        let (jobs_tx, jobs_rx) = unbounded();
        Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tasks_tx,
            tasks_rx,
            jobs_tx,
            jobs_rx,
            notified: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            unparker,
        }
    }

    /// Schedules a task of this runtime from another thread.
    pub(crate) fn schedule_remote(&self, runnable: Runnable) {
        if self.closed.load(Ordering::Acquire) {
            // The owner is gone and a task may only be dropped on its own thread: leak it.
            std::mem::forget(runnable);
            return;
        }
        let _ = self.tasks_tx.send(Foreign {
            runnable: Some(runnable),
            owner: self.id,
        });
        self.notify();
    }

    /// Runs `job` on this runtime's thread during its next loop turn.
    pub(crate) fn push_job(&self, job: Job) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        let ok = self.jobs_tx.send(job).is_ok();
        self.notify();
        ok
    }

    /// Wakes the owner if it is (or is about to be) parked. At most one system call per turn
    /// of the owner's loop, however many threads wake it.
    pub(crate) fn notify(&self) {
        if !self.notified.swap(true, Ordering::SeqCst) {
            self.unparker.unpark();
        }
    }

    /// Called by the owner before it looks at the remote queues.
    pub(crate) fn clear_notified(&self) {
        self.notified.store(false, Ordering::SeqCst);
    }

    pub(crate) fn try_recv_task(&self) -> Option<Runnable> {
        self.tasks_rx
            .try_recv()
            .ok()
            .and_then(|mut f| f.runnable.take())
    }

    pub(crate) fn try_recv_job(&self) -> Option<Job> {
        self.jobs_rx.try_recv().ok()
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// A task scheduled from another thread. If it is dropped anywhere but on its owner's thread
/// (a queue freed after the runtime is gone), it is leaked instead: async-task panics when a
/// local task is dropped on a foreign thread.
struct Foreign {
    runnable: Option<Runnable>,
    owner: usize,
}

impl Drop for Foreign {
    fn drop(&mut self) {
        if let Some(r) = self.runnable.take() {
            if super::context::current_id() == self.owner {
                drop(r);
            } else {
                std::mem::forget(r);
            }
        }
    }
}

/// A `Send` handle to a runtime: run closures on its thread and wake it.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Handle {
    /// Runs `f` on the runtime's thread at its next loop turn (it may call
    /// [`spawn_local`](crate::spawn_local)). Returns `false` if the runtime has shut down.
    ///
    /// A panic in `f` is caught, logged and counted with the task panics
    /// ([`LoopStats::task_panics`](crate::LoopStats::task_panics)); the core keeps running.
    pub fn spawn<F: FnOnce() + Send + 'static>(&self, f: F) -> bool {
        self.shared.push_job(Box::new(f))
    }

    /// Wakes the runtime's loop if it is parked.
    pub fn wake(&self) {
        self.shared.notify();
    }

    /// A process-unique id of the runtime.
    pub fn id(&self) -> usize {
        self.shared.id
    }

    /// Whether the runtime has shut down.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("id", &self.shared.id)
            .finish()
    }
}
