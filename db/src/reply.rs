//! The answer to a write: a one-shot slot the writer thread fills and the requesting task
//! awaits. Waking it from the writer thread goes through the waker of whatever runtime polls
//! it (on a ringwire worker: that core's remote queue and eventfd).

use atomic_waker::AtomicWaker;
use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, Wake, Waker},
};

struct Slot<T> {
    value: Mutex<Option<T>>,
    waker: AtomicWaker,
}

pub(crate) struct Sender<T> {
    slot: Option<Arc<Slot<T>>>,
    /// Sent if this sender is dropped unused (the writer died mid-batch).
    on_drop: Option<T>,
}

/// A write in flight: resolves once the write is durable (per `db.sync`) or failed.
///
/// Dropping it does not cancel the write; the outcome is then discarded.
pub struct Pending<T> {
    slot: Arc<Slot<T>>,
}

pub(crate) fn channel<T>(on_drop: T) -> (Sender<T>, Pending<T>) {
    let slot = Arc::new(Slot {
        value: Mutex::new(None),
        waker: AtomicWaker::new(),
    });
    (
        Sender {
            slot: Some(slot.clone()),
            on_drop: Some(on_drop),
        },
        Pending { slot },
    )
}

impl<T> Sender<T> {
    pub(crate) fn send(mut self, value: T) {
        self.fill(value);
    }

    fn fill(&mut self, value: T) {
        if let Some(slot) = self.slot.take() {
            *slot.value.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
            slot.waker.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(v) = self.on_drop.take() {
            self.fill(v);
        }
    }
}

impl<T> Pending<T> {
    /// An already-answered write (a request refused before it reached the writer).
    pub(crate) fn ready(value: T) -> Pending<T> {
        let (tx, rx) = channel(value);
        drop(tx);
        rx
    }

    fn take(&self) -> Option<T> {
        self.slot
            .value
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl<T> Future for Pending<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(v) = self.take() {
            return Poll::Ready(v);
        }
        self.slot.waker.register(cx.waker());
        // Filled between the first look and the registration: look again.
        match self.take() {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    }
}

struct Thread(std::thread::Thread);

impl Wake for Thread {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the calling thread (for tools and tests; a worker core
/// awaits instead).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(Thread(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_sent_from_another_thread_wakes_the_waiter() {
        let (tx, rx) = channel(0);
        std::thread::spawn(move || tx.send(7));
        assert_eq!(block_on(rx), 7);
    }

    #[test]
    fn a_dropped_sender_answers_with_its_fallback() {
        let (tx, rx) = channel(-1);
        std::thread::spawn(move || drop(tx));
        assert_eq!(block_on(rx), -1);
    }
}
