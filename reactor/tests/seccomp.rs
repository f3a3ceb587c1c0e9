//! io_uring under a seccomp filter, as container runtimes and systemd's `SystemCallFilter=`
//! install them: a real BPF filter on one thread of this process (seccomp filters are
//! per-thread unless synchronised, so the other tests never see it).
//!
//! - A filter that allows `io_uring_setup` but denies `io_uring_enter` (EPERM) makes `Auto`
//!   fall back to epoll with the reason, and `Uring` fail with it, instead of a ring that
//!   builds and then fails on every loop turn.
//! - A kernel that answers EBUSY to every enter (simulated by the filter: the real kernel
//!   does so while completions it cannot post are waiting) makes a submission fail after a
//!   bounded number of flushes instead of looping forever, and a socket dropped meanwhile is
//!   not closed while SQEs that may name it are still queued.

use ringwire_reactor::{Backend, BackendKind, Runtime, net::TcpStream, spawn_local, yield_now};
use std::{
    future::Future, os::fd::AsRawFd, pin::Pin, sync::mpsc, task::Poll, thread, time::Duration,
};

/// Installs, on the calling thread only, a filter that fails `io_uring_enter` with `errno`.
/// `Err` if this kernel or sandbox does not let a process install filters.
fn deny_uring_enter_on_this_thread(errno: u32) -> Result<(), std::io::Error> {
    fn stmt(code: u32, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }
    // No architecture check: the filter lives on one thread of a test on the native ABI,
    // where the syscall number is `SYS_io_uring_enter`.
    let mut prog = [
        // A = seccomp_data.nr (offset 0)
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        // if A == io_uring_enter, next; else skip one
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_enter as u32,
        },
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ERRNO | errno),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integers only; it is what lets an unprivileged thread
    // install a filter.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fprog` points at `prog`, both live locals; the kernel copies the program.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a fresh thread and waits for it at most `limit`: a test that would spin forever
/// fails instead of hanging the suite.
fn on_thread<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("the test thread did not finish in time (spinning?)")
}

#[test]
fn a_ring_that_cannot_be_entered_makes_auto_fall_back_with_the_reason() {
    if !ringwire_reactor::testing::uring_or_skip("seccomp::enter_denied") {
        return;
    }
    let outcome = on_thread(Duration::from_secs(30), || {
        if let Err(e) = deny_uring_enter_on_this_thread(libc::EPERM as u32) {
            return Err(format!("cannot install a seccomp filter here: {e}"));
        }
        let uring = Runtime::builder().backend(Backend::Uring).build();
        let err = uring
            .err()
            .expect("Backend::Uring built a ring it cannot enter");
        let rt = Runtime::builder().backend(Backend::Auto).build().unwrap();
        let (kind, reason) = (rt.backend().kind, rt.backend().reason.clone());
        // The fallback serves: a loopback round trip on epoll under the same filter.
        let echoed = rt.block_on(async {
            let l =
                ringwire_reactor::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = l.local_addr().unwrap();
            let server = spawn_local(async move {
                let s = l.accept().await.unwrap();
                let (n, buf) = s.read(Vec::with_capacity(8)).await;
                n.unwrap();
                s.write_all(buf).await.0.unwrap();
            });
            let c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"ping".to_vec()).await.0.unwrap();
            let (n, buf) = c.read(Vec::with_capacity(8)).await;
            server.await.unwrap();
            buf[..n.unwrap()].to_vec()
        });
        Ok((err.to_string(), kind, reason, echoed))
    });
    let (err, kind, reason, echoed) = match outcome {
        Ok(v) => v,
        Err(why) => return eprintln!("SKIPPED seccomp::enter_denied: {why}"),
    };
    assert!(err.contains("io_uring_enter"), "{err}");
    assert_eq!(kind, BackendKind::Poll, "{reason}");
    assert!(
        reason.contains("io_uring_enter") && reason.contains("seccomp"),
        "{reason}"
    );
    assert_eq!(echoed, b"ping");
}

/// The target of `/proc/self/fd/<fd>` (`socket:[inode]`), `None` once it is closed.
fn fd_target(fd: i32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

#[test]
fn a_full_queue_the_kernel_never_drains_fails_the_submission_instead_of_spinning() {
    if !ringwire_reactor::testing::uring_or_skip("seccomp::enter_busy") {
        return;
    }
    let outcome = on_thread(Duration::from_secs(60), || {
        let rt = Runtime::builder()
            .backend(Backend::Uring)
            .ring_entries(8)
            .build()
            .unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (accepted, _) = l.accept().unwrap();
        let fd = accepted.as_raw_fd();
        let target = fd_target(fd).unwrap();
        let res = rt.block_on(async move {
            let c = TcpStream::from_std(accepted).unwrap();
            // One loop turn: the wake read reaches the kernel and the queue is empty.
            yield_now().await;
            if let Err(e) = deny_uring_enter_on_this_thread(libc::EBUSY as u32) {
                return Err(format!("cannot install a seccomp filter here: {e}"));
            }
            // Nothing was sent, so every read stays queued; the ninth finds the queue full.
            let mut reads: Vec<Pin<Box<dyn Future<Output = _>>>> = Vec::new();
            let mut failure = None;
            for _ in 0..16 {
                let mut read = Box::pin(c.read(Vec::with_capacity(16)));
                let polled = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
                match polled {
                    Poll::Pending => reads.push(read),
                    Poll::Ready((res, _)) => {
                        failure = Some(res.expect_err("a read of an idle socket completed"));
                        break;
                    }
                }
            }
            let queued = reads.len();
            // The stream's close cannot be queued either: its descriptor must stay open
            // while the queued reads (which name it) may still reach the kernel.
            drop(reads);
            drop(c);
            let still_open = fd_target(fd);
            Ok((
                failure.map(|e| (e.kind(), e.to_string())),
                queued,
                still_open,
            ))
        });
        drop(rt);
        drop(peer);
        res.map(|r| (r, fd_target(fd), target))
    });
    let ((failure, queued, still_open), after_drop, target) = match outcome {
        Ok(v) => v,
        Err(why) => return eprintln!("SKIPPED seccomp::enter_busy: {why}"),
    };
    let (kind, msg) = failure.expect("every submission was accepted although none could be sent");
    assert_eq!(kind, std::io::ErrorKind::WouldBlock, "{msg}");
    assert!(msg.contains("submission queue"), "{msg}");
    assert_eq!(queued, 8, "the queue held 8 SQEs before the push gave up");
    assert_eq!(
        still_open.as_ref(),
        Some(&target),
        "the socket was closed while SQEs naming it were still queued"
    );
    assert_ne!(
        after_drop.as_ref(),
        Some(&target),
        "the deferred close never happened (runtime dropped)"
    );
}
