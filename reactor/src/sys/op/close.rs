//! Close a socket and learn whether the close itself failed.

use crate::sys::Io;
use mio::event::Source;
use std::io;

#[cfg(target_os = "linux")]
struct CloseData;

#[cfg(target_os = "linux")]
impl crate::sys::uring::Completable for CloseData {
    type Output = io::Result<()>;

    fn complete(self, res: i32, _flags: u32) -> Self::Output {
        crate::sys::uring::cqe_result(res).map(drop)
    }
}

/// Closes `io` now (dropping it closes it too, without reporting errors).
pub(crate) async fn close<S: Source>(io: Io<S>) -> io::Result<()> {
    match io {
        #[cfg(target_os = "linux")]
        Io::Uring(fd) => {
            use io_uring::{opcode, types};
            use std::os::fd::IntoRawFd;
            let raw = fd.into_owned().into_raw_fd();
            if !crate::sys::uring::with_driver(|d| d.orders_closes()) {
                // Another ring of this thread still has SQEs queued that may name `raw`: the
                // driver parks it until they are submitted.
                crate::sys::uring::with_driver(|d| d.close_fd(raw));
                return Ok(());
            }
            let sqe = opcode::Close::new(types::Fd(raw)).build();
            // SAFETY: a close carries no pointers; `raw` is ours and closed exactly once.
            match unsafe { crate::sys::uring::Op::submit(CloseData, sqe) } {
                Ok(op) => op.await,
                Err((e, _)) => {
                    // The ring refused the close; SQEs naming `raw` may still be queued, so
                    // the driver closes it once they have been submitted.
                    crate::sys::uring::with_driver(|d| d.close_fd(raw));
                    Err(e)
                }
            }
        }
        Io::Poll(reg) => {
            drop(reg);
            Ok(())
        }
    }
}
