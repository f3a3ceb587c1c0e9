//! Tasks: `!Send` futures pinned to the core that spawned them.
//!
//! The task cell (state word, reference count, waker vtable) comes from `async-task`, the
//! audited implementation behind smol; what is ours is where a woken task goes. A wake on the
//! owning thread pushes it onto the local run queue; a wake from any other thread sends it to
//! the owner's remote queue and wakes the owner's driver.

use super::{context, shared::Shared};
use async_task::{Builder, FallibleTask, Runnable};
use std::{
    any::Any,
    fmt,
    future::{Future, poll_fn},
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

type Panic = Box<dyn Any + Send>;

/// Spawns `future` on the current core's runtime. It runs only on this thread.
///
/// The task is detached when its [`JoinHandle`] is dropped; a panic inside it is caught,
/// logged and reported to the handle as [`JoinError::Panicked`], and never takes the core down.
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    context::with(|cx| {
        let shared = cx.shared.clone();
        let wrapped = CatchUnwind {
            future,
            registered: None,
        };
        let (runnable, task) =
            Builder::new().spawn_local(move |()| wrapped, move |r| schedule(&shared, r));
        runnable.schedule();
        JoinHandle {
            task: Some(task.fallible()),
        }
    })
}

pin_project_lite::pin_project! {
    /// A task's future as the executor runs it: panics are caught (the core survives), and the
    /// task registers itself in the core's registry of live tasks on its first poll. A named
    /// future rather than an `async` block, which would store the inner future twice (the
    /// moved-from capture and the pinned local) and double every task's size.
    struct CatchUnwind<F> {
        #[pin]
        future: F,
        registered: Option<Registered>,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Panic>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.registered.is_none() {
            *this.registered = Some(Registered::new(cx.waker()));
        }
        let future = this.future;
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => {
                tracing::error!("task panicked: {}", panic_message(&*panic));
                super::stats::record_panic();
                Poll::Ready(Err(panic))
            }
        }
    }
}

/// Runs a closure sent with [`Handle::spawn`](super::Handle::spawn). Like a task's poll, a
/// panic is caught, logged and counted: it must not unwind through the loop and take the core
/// (and every connection on it) down.
pub(super) fn run_job(job: Box<dyn FnOnce() + Send>) {
    // AssertUnwindSafe: the closure is consumed either way; nothing it touched is used again
    // by the loop except through RefCells, whose borrows the unwind has released.
    if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(job)) {
        tracing::error!(
            "closure sent with Handle::spawn panicked: {}",
            panic_message(&*panic)
        );
        super::stats::record_panic();
    }
}

/// A task's entry in its core's registry of live tasks, removed when the future is dropped.
struct Registered(usize);

impl Registered {
    fn new(waker: &std::task::Waker) -> Self {
        Registered(context::with(|cx| {
            cx.tasks.borrow_mut().insert(waker.clone())
        }))
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        context::try_with(|cx| cx.tasks.borrow_mut().try_remove(self.0));
    }
}

fn schedule(shared: &Arc<Shared>, runnable: Runnable) {
    if context::current_id() == shared.id {
        context::with(|cx| cx.queue.borrow_mut().push_back(runnable));
    } else {
        shared.schedule_remote(runnable);
    }
}

/// Yields to the other tasks of this core: the current task goes to the back of the queue.
pub async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Awaits a spawned task's output. Dropping it detaches the task (it keeps running).
pub struct JoinHandle<T> {
    task: Option<FallibleTask<Result<T, Panic>>>,
}

impl<T> JoinHandle<T> {
    /// Cancels the task: its future is dropped at once if it is not running.
    pub fn abort(mut self) {
        drop(self.task.take());
    }

    /// Whether the task has finished (its output may be taken by awaiting the handle).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.detach();
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let task = self
            .task
            .as_mut()
            .expect("JoinHandle polled after completion");
        match Pin::new(task).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => {
                self.task = None;
                Poll::Ready(match out {
                    Some(Ok(v)) => Ok(v),
                    Some(Err(p)) => Err(JoinError::Panicked(panic_message(&*p))),
                    None => Err(JoinError::Cancelled),
                })
            }
        }
    }
}

/// Why a task produced no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// It panicked; the panic message.
    Panicked(String),
    /// It was cancelled (aborted, or its runtime shut down first).
    Cancelled,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(msg) => write!(f, "task panicked: {msg}"),
            JoinError::Cancelled => f.write_str("task was cancelled"),
        }
    }
}

impl std::error::Error for JoinError {}

fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}
