//! A source registered with the readiness driver, and the wait-then-retry loop around it.

use super::{Driver, try_with_driver};
use mio::event::Source;
use std::{future::poll_fn, io, task::Poll};

/// Which readiness an operation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// A mio source registered with this core's poll driver; deregistered on drop.
pub(crate) struct Registered<S: Source> {
    io: S,
    token: u32,
}

impl<S: Source> Registered<S> {
    pub(crate) fn new(mut io: S) -> io::Result<Self> {
        let token = try_with_driver(|d: &mut Driver| d.register(&mut io))
            .ok_or_else(|| io::Error::other("no readiness runtime on this thread"))??;
        let token =
            u32::try_from(token).map_err(|_| io::Error::other("more than 4 billion sources"))?;
        Ok(Registered { io, token })
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.io
    }

    /// Waits until `dir` may be ready.
    pub(crate) async fn ready(&self, dir: Direction) {
        poll_fn(|cx| self.poll_ready(dir, cx)).await
    }

    /// Ready if `dir` may be ready; otherwise registers the waker for the next event.
    pub(crate) fn poll_ready(&self, dir: Direction, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let ready = try_with_driver(|d| d.poll_ready(self.token as usize, dir, cx.waker()));
        if ready.unwrap_or(true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Runs `f` until it stops returning `WouldBlock`, waiting for readiness in between.
    pub(crate) async fn io<R>(
        &self,
        dir: Direction,
        mut f: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            self.ready(dir).await;
            match f(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear(dir),
                res => return res,
            }
        }
    }

    /// Marks `dir` as not ready after a `WouldBlock`: the next wait lasts until a new event.
    pub(crate) fn clear(&self, dir: Direction) {
        try_with_driver(|d| d.clear_ready(self.token as usize, dir));
    }

    /// A read returned less than asked: the socket is empty (edge-triggered selectors raise a
    /// new event for later bytes), but a close already reported stays readable.
    pub(crate) fn drained(&self) {
        try_with_driver(|d| d.drained(self.token as usize));
    }
}

impl<S: Source> Drop for Registered<S> {
    fn drop(&mut self) {
        let token = self.token as usize;
        try_with_driver(|d| d.deregister(&mut self.io, token));
    }
}

/// A raw descriptor (a signalfd) as a mio source that closes it on drop.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub(crate) struct FdSource(pub(crate) std::os::fd::OwnedFd);

#[cfg(target_os = "linux")]
impl std::os::fd::AsRawFd for FdSource {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

#[cfg(target_os = "linux")]
impl Source for FdSource {
    fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        mio::unix::SourceFd(&self.0.as_raw_fd()).register(r, t, i)
    }
    fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        mio::unix::SourceFd(&self.0.as_raw_fd()).reregister(r, t, i)
    }
    fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        mio::unix::SourceFd(&self.0.as_raw_fd()).deregister(r)
    }
}
