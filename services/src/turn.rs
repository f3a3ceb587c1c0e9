//! Keeping one stream's writes in the order they were sent when they run concurrently (on
//! PostgreSQL each write takes its own pooled connection): each write waits for the turn of
//! the one before it. Also a one-shot gate any number of tasks can wait on (a consumer's
//! attach, which its ACKs wait for).

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    task::{Poll, Waker},
};

/// Done when the write it belongs to is done (or abandoned).
#[derive(Default)]
pub(crate) struct Turn {
    done: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Turn {
    /// Waits until the write this turn belongs to has finished.
    pub(crate) async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.done.get() {
                Poll::Ready(())
            } else {
                let mut waiters = self.waiters.borrow_mut();
                if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    waiters.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await
    }
}

/// Marks its turn done when dropped, however the write ends.
pub(crate) struct Finish(pub(crate) Rc<Turn>);

impl Drop for Finish {
    fn drop(&mut self) {
        self.0.done.set(true);
        for w in self.0.waiters.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_is_done_once_its_write_is() {
        let rt = ringwire_reactor::Runtime::new().unwrap();
        rt.block_on(async {
            let first = Rc::new(Turn::default());
            let order = Rc::new(RefCell::new(Vec::new()));
            let (o, f) = (order.clone(), first.clone());
            let second = ringwire_reactor::spawn_local(async move {
                f.wait().await;
                o.borrow_mut().push(2);
            });
            ringwire_reactor::yield_now().await;
            assert!(order.borrow().is_empty(), "the second waits for the first");
            order.borrow_mut().push(1);
            drop(Finish(first));
            second.await.unwrap();
            assert_eq!(*order.borrow(), vec![1, 2]);
        });
    }
}
