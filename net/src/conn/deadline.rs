//! Running an operation under a deadline with a connection's own timer. The timer is armed
//! only if the operation does not finish on its first poll, and moving a deadline later costs
//! nothing (see `Sleep::reset`), so the common case touches no timer at all.

use ringwire_reactor::time::{self, Sleep};
use std::{
    future::{Future, poll_fn},
    pin::{Pin, pin},
    task::Poll,
    time::Instant,
};

/// The deadline passed.
pub(crate) struct Expired;

/// Runs `fut` until `deadline`.
pub(crate) async fn until<F: Future>(
    timer: &mut Sleep,
    deadline: Instant,
    fut: F,
) -> Result<F::Output, Expired> {
    let mut fut = pin!(fut);
    let mut armed = false;
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if !armed {
            if time::now() >= deadline {
                return Poll::Ready(Err(Expired));
            }
            timer.reset(deadline);
            armed = true;
        }
        match Pin::new(&mut *timer).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Expired)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
