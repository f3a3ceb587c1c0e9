//! Cross-core messaging: crossbeam channels whose receiving end is awaited on a reactor.
//!
//! A send from any thread pushes the message and wakes the receiving task; that wake, coming
//! from another thread, travels to the receiver's core through its remote queue and eventfd
//! (or `mio::Waker`). Sends never block a core: a full bounded channel is an error.

use atomic_waker::AtomicWaker;
use crossbeam_channel as cb;
use std::{fmt, future::poll_fn, sync::Arc, task::Poll};

pub use crossbeam_channel::{TryRecvError, TrySendError};

struct Signal {
    waker: AtomicWaker,
}

/// An unbounded channel.
pub fn channel<T: Send>() -> (Sender<T>, Receiver<T>) {
    wrap(cb::unbounded())
}

/// A channel holding at most `cap` messages; sending to a full one fails with
/// [`TrySendError::Full`] instead of blocking.
pub fn bounded<T: Send>(cap: usize) -> (Sender<T>, Receiver<T>) {
    wrap(cb::bounded(cap))
}

fn wrap<T>((tx, rx): (cb::Sender<T>, cb::Receiver<T>)) -> (Sender<T>, Receiver<T>) {
    let signal = Arc::new(Signal {
        waker: AtomicWaker::new(),
    });
    (
        Sender {
            tx: Some(tx),
            signal: signal.clone(),
        },
        Receiver { rx, signal },
    )
}

/// The sending half; `Send + Clone`, usable from any thread (reactor or not).
pub struct Sender<T> {
    // An Option only so that `drop` can disconnect before it wakes the receiver.
    tx: Option<cb::Sender<T>>,
    signal: Arc<Signal>,
}

impl<T> Sender<T> {
    /// Sends without blocking and wakes the receiver.
    pub fn send(&self, msg: T) -> Result<(), TrySendError<T>> {
        self.tx().try_send(msg)?;
        self.signal.waker.wake();
        Ok(())
    }

    fn tx(&self) -> &cb::Sender<T> {
        self.tx.as_ref().expect("sender used after drop")
    }

    /// Messages waiting in the channel.
    pub fn len(&self) -> usize {
        self.tx().len()
    }

    /// Whether no message waits in the channel.
    pub fn is_empty(&self) -> bool {
        self.tx().is_empty()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            signal: self.signal.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // Disconnect first (if this is the last sender), then wake: waking first would let the
        // receiver see "empty, still connected" and go back to sleep for good.
        drop(self.tx.take());
        self.signal.waker.wake();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("len", &self.len()).finish()
    }
}

/// The receiving half. It may be created on one thread and moved to the core that awaits it.
pub struct Receiver<T> {
    rx: cb::Receiver<T>,
    signal: Arc<Signal>,
}

impl<T> Receiver<T> {
    /// The next message, or `None` once every sender is gone and the channel is empty.
    pub async fn recv(&self) -> Option<T> {
        poll_fn(|cx| match self.rx.try_recv() {
            Ok(v) => Poll::Ready(Some(v)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => {
                self.signal.waker.register(cx.waker());
                // A message sent between the first check and the registration must not be
                // missed: look again now that the waker is in place.
                match self.rx.try_recv() {
                    Ok(v) => Poll::Ready(Some(v)),
                    Err(TryRecvError::Disconnected) => Poll::Ready(None),
                    Err(TryRecvError::Empty) => Poll::Pending,
                }
            }
        })
        .await
    }

    /// A message if one is waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.rx.try_recv()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no message waits.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.rx.len())
            .finish()
    }
}
