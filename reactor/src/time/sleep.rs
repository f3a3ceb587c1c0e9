//! `sleep`, `timeout` and deadlines.

use crate::runtime::context;
use std::{
    fmt,
    future::{Future, poll_fn},
    pin::{Pin, pin},
    task::{Context, Poll},
    time::{Duration, Instant},
};

/// Waits until `duration` after the loop's current clock. A duration too long to represent
/// (`Duration::MAX`) waits until a deadline centuries away, in effect forever.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(duration))
}

/// `now + duration`, saturating: `Instant` panics on overflow, and a deadline past the timer
/// clock's range (about 584 years after the process started) is the same as never.
fn deadline_after(duration: Duration) -> Instant {
    let now = super::now();
    now.checked_add(duration)
        .unwrap_or_else(|| from_tick(u64::MAX).max(now))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: to_tick(deadline),
        key: NO_KEY,
        _core: crate::CoreBound::default(),
    }
}

/// A timer future. Resettable, so one `Sleep` can serve as a connection's moving deadline.
///
/// Sixteen bytes (a deadline in nanoseconds since a process-wide epoch and a 32-bit timer
/// key): connections keep two of these for their whole life.
///
/// The key indexes the timer store of the core that registered it, so a `Sleep` (and a
/// `timeout`) is neither `Send` nor `Sync`:
///
/// ```compile_fail
/// use ringwire_reactor::{Handle, time::sleep};
/// fn to_another_core(other: &Handle) {
///     let timer = sleep(std::time::Duration::from_secs(1));
///     other.spawn(move || drop(timer));
/// }
/// ```
///
/// ```compile_fail
/// use ringwire_reactor::time::timeout;
/// fn assert_send<T: Send>(_: &T) {}
/// fn check() {
///     assert_send(&timeout(std::time::Duration::from_secs(1), async {}));
/// }
/// ```
#[derive(Debug)]
pub struct Sleep {
    deadline: u64,
    key: u32,
    _core: crate::CoreBound,
}

const NO_KEY: u32 = u32::MAX;

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn to_tick(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

fn from_tick(tick: u64) -> Instant {
    epoch() + Duration::from_nanos(tick)
}

impl Sleep {
    /// The instant this timer completes.
    pub fn deadline(&self) -> Instant {
        from_tick(self.deadline)
    }

    /// Whether the deadline has passed on the loop's clock.
    pub fn is_elapsed(&self) -> bool {
        super::now() >= self.deadline()
    }

    fn key(&self) -> Option<usize> {
        (self.key != NO_KEY).then_some(self.key as usize)
    }

    fn set_key(&mut self, key: Option<usize>) {
        self.key = match key {
            Some(k) => u32::try_from(k)
                .ok()
                .filter(|k| *k != NO_KEY)
                .expect("more than 4 billion timers"),
            None => NO_KEY,
        };
    }

    /// Moves the deadline. Later is free until the old deadline passes (the timer then
    /// re-arms itself); earlier re-arms now.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = to_tick(deadline);
        if let Some(key) = self.key() {
            context::with(|cx| {
                let mut timers = cx.timers.borrow_mut();
                let (registered, fired) = timers.state(key);
                if !fired && deadline < registered {
                    timers.reschedule(key, deadline);
                }
            });
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline();
        context::with(|rt| {
            if rt.clock.get() >= deadline {
                if let Some(key) = self.key() {
                    self.set_key(None);
                    rt.timers.borrow_mut().remove(key);
                }
                return Poll::Ready(());
            }
            let mut timers = rt.timers.borrow_mut();
            match self.key() {
                None => {
                    let key = timers.insert(deadline, cx.waker().clone());
                    self.set_key(Some(key));
                }
                Some(key) => {
                    let (registered, fired) = timers.state(key);
                    if fired || registered > deadline {
                        timers.rearm(key, deadline, cx.waker());
                    } else {
                        timers.set_waker(key, cx.waker());
                    }
                }
            }
            Poll::Pending
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key() {
            context::try_with(|cx| cx.timers.borrow_mut().remove(key));
        }
    }
}

/// A future did not finish before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline elapsed")
    }
}

/// Runs `future` for at most `duration`; on expiry it is dropped (cancelling its I/O). As with
/// [`sleep`], `Duration::MAX` means no deadline in practice, not a panic.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    timeout_at(deadline_after(duration), future).await
}

/// Runs `future` until `deadline` at most.
pub async fn timeout_at<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    let mut timer = sleep_until(deadline);
    poll_fn(|cx| {
        if let Poll::Ready(v) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut timer).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
