//! One driver API over the two backends, picked once when a runtime is built.

use crate::{Backend, BackendKind, Error, Selection, sys};
use std::{any::Any, io, sync::Arc, task::Waker, time::Duration};

/// Ring and buffer sizes from the runtime builder.
#[derive(Debug, Clone)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // only io_uring reads them
pub(crate) struct DriverConfig {
    pub(crate) entries: u32,
    pub(crate) recv_buffers: u16,
    pub(crate) recv_buffer_size: u32,
    pub(crate) forced_unavailable: Option<String>,
    pub(crate) capacity: usize,
}

// One per core, built once and never moved afterwards: boxing the larger variant would only
// add an indirection to every operation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    #[cfg(target_os = "linux")]
    Uring(sys::uring::Driver),
    Poll(sys::poll::Driver),
}

/// Driver counters for [`LoopStats`](crate::LoopStats).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DriverCounters {
    pub(crate) syscalls: u64,
    pub(crate) submitted: u64,
    pub(crate) completions: u64,
}

impl Driver {
    /// Builds the driver `backend` asks for; `Auto` falls back to poll with the reason.
    pub(crate) fn new(backend: Backend, cfg: &DriverConfig) -> Result<(Driver, Selection), Error> {
        let poll = |reason: String| -> Result<(Driver, Selection), Error> {
            let d = sys::poll::Driver::new(cfg.capacity)
                .map_err(|e| Error::io("creating the poll driver", e))?;
            Ok((
                Driver::Poll(d),
                Selection {
                    kind: BackendKind::Poll,
                    reason,
                },
            ))
        };
        match backend {
            Backend::Poll => poll("requested".into()),
            Backend::Uring => match Self::uring(cfg) {
                Ok(d) => Ok((
                    d,
                    Selection {
                        kind: BackendKind::Uring,
                        reason: "requested".into(),
                    },
                )),
                Err(reason) => Err(Error::UringUnavailable(reason)),
            },
            Backend::Auto => match Self::uring(cfg) {
                Ok(d) => {
                    let reason = "auto: io_uring probe passed".into();
                    Ok((
                        d,
                        Selection {
                            kind: BackendKind::Uring,
                            reason,
                        },
                    ))
                }
                Err(reason) => {
                    tracing::warn!(
                        "io_uring unavailable, falling back to {}: {reason}",
                        BackendKind::Poll
                    );
                    poll(format!("auto: io_uring unavailable: {reason}"))
                }
            },
        }
    }

    #[cfg(target_os = "linux")]
    fn uring(cfg: &DriverConfig) -> Result<Driver, String> {
        let c = sys::uring::Config {
            entries: cfg.entries,
            recv_buffers: cfg.recv_buffers,
            recv_buffer_size: cfg.recv_buffer_size,
            forced_unavailable: cfg.forced_unavailable.clone(),
            capacity: cfg.capacity,
        };
        sys::uring::Driver::new(&c).map(Driver::Uring)
    }

    #[cfg(not(target_os = "linux"))]
    fn uring(_cfg: &DriverConfig) -> Result<Driver, String> {
        Err("io_uring exists only on Linux".into())
    }

    /// Provided-ring slots handed to the application and not yet returned.
    pub(crate) fn ring_buffers_out(&self) -> u64 {
        match self {
            #[cfg(target_os = "linux")]
            Driver::Uring(d) => d.bufs.outstanding() as u64,
            Driver::Poll(_) => 0,
        }
    }

    /// Submits pending work and waits up to `timeout` for events; returns the time slept.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<Duration> {
        match self {
            #[cfg(target_os = "linux")]
            Driver::Uring(d) => d.park(timeout),
            Driver::Poll(d) => d.park(timeout),
        }
    }

    /// Submits whatever is queued without waiting (io_uring; nothing to do on epoll).
    pub(crate) fn flush(&mut self) {
        match self {
            #[cfg(target_os = "linux")]
            Driver::Uring(d) => d.flush(),
            Driver::Poll(_) => {}
        }
    }

    pub(crate) fn unparker(&self) -> Unparker {
        match self {
            #[cfg(target_os = "linux")]
            Driver::Uring(d) => Unparker::EventFd(d.wake_fd()),
            Driver::Poll(d) => Unparker::Mio(d.waker()),
        }
    }

    pub(crate) fn take_garbage(&mut self) -> Vec<Box<dyn Any>> {
        match self {
            #[cfg(target_os = "linux")]
            Driver::Uring(d) => d.take_garbage(),
            Driver::Poll(_) => Vec::new(),
        }
    }

    pub(crate) fn take_wakers(&mut self) -> Vec<Waker> {
        match self {
            #[cfg(target_os = "linux")]
            Driver::Uring(d) => d.take_wakers(),
            Driver::Poll(d) => d.take_wakers(),
        }
    }

    pub(crate) fn counters(&self) -> DriverCounters {
        match self {
            #[cfg(target_os = "linux")]
            Driver::Uring(d) => DriverCounters {
                syscalls: d.counters.enters,
                submitted: d.counters.submitted,
                completions: d.counters.completions,
            },
            Driver::Poll(d) => DriverCounters {
                syscalls: d.counters.polls,
                submitted: 0,
                completions: d.counters.events,
            },
        }
    }
}

/// Wakes a parked driver from any thread.
#[derive(Clone)]
pub(crate) enum Unparker {
    #[cfg(target_os = "linux")]
    EventFd(Arc<std::os::fd::OwnedFd>),
    Mio(Arc<mio::Waker>),
}

impl Unparker {
    pub(crate) fn unpark(&self) {
        match self {
            #[cfg(target_os = "linux")]
            Unparker::EventFd(fd) => {
                use std::os::fd::AsRawFd;
                sys::unix::eventfd_signal(fd.as_raw_fd());
            }
            Unparker::Mio(w) => {
                if let Err(e) = w.wake() {
                    tracing::warn!("cannot wake a core: {e}");
                }
            }
        }
    }
}
