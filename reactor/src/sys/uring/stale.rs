//! Which rings of this thread may hold SQEs that the kernel has not taken yet.
//!
//! An SQE names a descriptor by number, and the kernel resolves the number only when it
//! takes the SQE. A descriptor closed while an SQE naming it still waits in some ring's
//! submission queue could be reused by then, and that SQE would act on the new file. Every
//! ring counts itself here from its first queued SQE until an `io_uring_enter` has taken them
//! all (`Driver::push` and `Driver::enter`), or until it is dropped. That holds whatever
//! happens when `block_on` returns: a failed flush (EBUSY) or a skipped one (the driver was
//! borrowed during a panic) simply leaves the ring counted. A [`UringFd`](super::UringFd)
//! dropped while another ring is counted is not closed but parked here, and closed once no
//! ring of this thread has anything queued.

use std::{
    cell::{Cell, RefCell},
    os::fd::RawFd,
};

thread_local! {
    /// How many rings of this thread have SQEs queued that no `io_uring_enter` took yet.
    static STALE_RINGS: Cell<usize> = const { Cell::new(0) };
    /// Descriptors dropped while a ring was counted in `STALE_RINGS`.
    static ORPHANS: RefCell<Vec<RawFd>> = const { RefCell::new(Vec::new()) };
}

/// Rings of this thread with SQEs queued and not taken yet; `None` while the thread exits.
pub(super) fn stale_rings() -> Option<usize> {
    STALE_RINGS.try_with(Cell::get).ok()
}

/// A ring of this thread queued its first SQE since its queue was last taken.
/// While the thread exits the count is gone: `stale_rings` answers `None` then, and every
/// descriptor is leaked rather than closed.
pub(super) fn mark() {
    let _ = STALE_RINGS.try_with(|n| n.set(n.get() + 1));
}

/// A counted ring's queue was taken by the kernel, or the ring is gone. Returns the parked
/// descriptors once no ring of this thread is counted any more: the caller closes them.
pub(super) fn unmark() -> Vec<RawFd> {
    let left = STALE_RINGS
        .try_with(|n| {
            let left = n.get().saturating_sub(1);
            n.set(left);
            left
        })
        .unwrap_or(1);
    if left > 0 {
        return Vec::new();
    }
    ORPHANS
        .try_with(|o| std::mem::take(&mut *o.borrow_mut()))
        .unwrap_or_default()
}

/// Parks `fd` until no ring of this thread has SQEs queued; leaks it if the thread is
/// exiting (leaking is safe, closing it now is not).
pub(super) fn park(fd: RawFd) {
    let _ = ORPHANS.try_with(|o| o.borrow_mut().push(fd));
}
