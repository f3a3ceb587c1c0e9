//! A descriptor dropped while a ring still has SQEs queued is not closed under them.

use super::{Config, Driver, UringFd};
use io_uring::opcode;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

fn driver(test: &str) -> Option<Driver> {
    let cfg = Config {
        entries: 8,
        recv_buffers: 8,
        recv_buffer_size: 4096,
        forced_unavailable: None,
        capacity: 16,
    };
    match Driver::new(&cfg) {
        Ok(d) => Some(d),
        Err(e) => {
            crate::testing::skip_uring(test, &e);
            None
        }
    }
}

fn inode(fd: RawFd) -> Option<u64> {
    // SAFETY: fstat writes only into `st`, a local of the right type; a closed number
    // answers EBADF.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some(st.st_ino)
    }
}

/// A descriptor number and the socket it named when the test took it: the number alone
/// could be reused by a test on another thread once it is closed.
#[derive(Clone, Copy)]
struct Named(RawFd, Option<u64>);

impl Named {
    fn of(fd: RawFd) -> Self {
        Named(fd, inode(fd))
    }
    fn is_open(self) -> bool {
        self.1.is_some() && inode(self.0) == self.1
    }
}

/// Leaves an SQE naming `fd` queued in `d`, as a `block_on` whose final flush failed
/// (EBUSY) or was skipped (driver borrowed during a panic) leaves it.
fn queue_sqe_naming(d: &mut Driver, fd: RawFd) {
    let sqe = opcode::Fsync::new(io_uring::types::Fd(fd)).build();
    // SAFETY: an fsync carries no pointers.
    unsafe { d.push(&sqe.user_data(super::IGNORE)) }.unwrap();
}

fn socket() -> (UringFd, Named, OwnedFd) {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = OwnedFd::from(a);
    let raw = Named::of(fd.as_raw_fd());
    (UringFd::new(fd), raw, OwnedFd::from(b))
}

#[test]
fn a_descriptor_dropped_while_a_ring_holds_queued_sqes_waits_for_the_flush() {
    let Some(mut d) = driver("a_descriptor_dropped_while_a_ring_holds_queued_sqes") else {
        return;
    };
    let (fd, raw, _peer) = socket();
    queue_sqe_naming(&mut d, raw.0);
    // No runtime is entered on this thread: before the fix this closed `raw` directly, so a
    // new file could take its number before the queued SQE ran.
    drop(fd);
    assert!(
        raw.is_open(),
        "closed while an SQE naming it was still queued"
    );
    d.flush();
    assert!(!raw.is_open(), "not closed once the queue was taken");
    drop(d);
}

#[test]
fn a_descriptor_parked_behind_a_ring_is_closed_when_the_ring_is_dropped() {
    let Some(mut d) = driver("a_descriptor_parked_behind_a_ring_is_closed") else {
        return;
    };
    let (fd, raw, _peer) = socket();
    queue_sqe_naming(&mut d, raw.0);
    drop(fd);
    assert!(
        raw.is_open(),
        "closed while an SQE naming it was still queued"
    );
    drop(d);
    assert!(!raw.is_open(), "not closed once the ring was dropped");
    // Nothing is counted any more: later descriptors close at once.
    let (fd, raw, _peer) = socket();
    drop(fd);
    assert!(!raw.is_open());
}

#[test]
fn another_runtime_does_not_close_a_descriptor_that_a_stale_ring_still_names() {
    let test = "another_runtime_does_not_close_a_descriptor_that_a_stale_ring_still_names";
    let Some(mut d) = driver(test) else {
        return;
    };
    let rt = match crate::Runtime::builder()
        .backend(crate::Backend::Uring)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return crate::testing::skip_uring(test, &e.to_string()),
    };
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, _) = (
        std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap(),
        l.accept().unwrap(),
    );
    let b = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (raw_a, raw_b) = (Named::of(a.as_raw_fd()), Named::of(b.as_raw_fd()));
    // Ring `d` keeps SQEs naming both numbers queued, as after a `block_on` whose final flush
    // failed; then another runtime on this thread ends both sockets, one by `close`, one by
    // drop. Closing either through its own ring would not wait for `d`'s SQEs.
    queue_sqe_naming(&mut d, raw_a.0);
    queue_sqe_naming(&mut d, raw_b.0);
    rt.block_on(async {
        let a = crate::net::TcpStream::from_std(a).unwrap();
        let b = crate::net::TcpStream::from_std(b).unwrap();
        a.close().await.unwrap();
        drop(b);
        crate::time::sleep(std::time::Duration::from_millis(10)).await;
        assert!(raw_a.is_open(), "closed by another ring under queued SQEs");
        assert!(raw_b.is_open(), "closed by another ring under queued SQEs");
    });
    assert!(raw_a.is_open() && raw_b.is_open());
    d.flush();
    assert!(
        !raw_a.is_open() && !raw_b.is_open(),
        "not closed once the queue was taken"
    );
}
