//! Building a ring, and deciding whether io_uring is usable here at all. Every refusal comes
//! back as a sentence a user can act on: `Backend::Auto` logs it and falls back to epoll,
//! `Backend::Uring` turns it into an error.

use io_uring::{IoUring, Probe, opcode};
use std::io;

/// Environment variable that makes the probe fail with its value as the reason. Tests and
/// operators use it to exercise the fallback without a kernel that lacks io_uring.
pub const FORCE_UNAVAILABLE_ENV: &str = "RINGWIRE_URING_UNAVAILABLE";

/// The opcodes the backend submits; a kernel (or a hardened build) without any of them is
/// refused up front rather than failing on the first connection.
const REQUIRED: &[(u8, &str)] = &[
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Recv::CODE, "RECV"),
    (opcode::Send::CODE, "SEND"),
    (opcode::Read::CODE, "READ"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::Shutdown::CODE, "SHUTDOWN"),
    (opcode::Splice::CODE, "SPLICE"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
];

/// Builds a ring with the flags the driver relies on, or says why it cannot.
pub(crate) fn build_ring(entries: u32, forced: Option<&str>) -> Result<IoUring, String> {
    if let Some(reason) = forced {
        return Err(format!("disabled by configuration: {reason}"));
    }
    if let Ok(reason) = std::env::var(FORCE_UNAVAILABLE_ENV) {
        return Err(format!("disabled by {FORCE_UNAVAILABLE_ENV}: {reason}"));
    }
    if let Ok(v) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        if let Some(reason) = crate::backend::uring_sysctl_refusal(&v) {
            return Err(reason);
        }
    }
    let mut ring = IoUring::builder()
        // One thread submits and reaps, so the kernel can skip cross-thread synchronisation
        // and run completion work only when we ask for events (one enter per loop turn).
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .setup_submit_all()
        .setup_cqsize(entries.saturating_mul(4))
        .setup_clamp()
        .build(entries)
        .map_err(|e| setup_error(&e))?;
    if !ring.params().is_feature_ext_arg() || !ring.params().is_feature_nodrop() {
        return Err("kernel lacks IORING_FEAT_EXT_ARG/NODROP (needs Linux 6.1 or newer)".into());
    }
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("cannot probe io_uring opcodes: {e}"))?;
    if let Some((_, name)) = REQUIRED.iter().find(|(code, _)| !probe.is_supported(*code)) {
        return Err(format!(
            "the kernel does not support io_uring opcode {name}"
        ));
    }
    nop_round_trip(&mut ring)?;
    Ok(ring)
}

/// user_data of the probe's NOP.
const PROBE_NOP: u64 = 0x6e6f_7020_7072_6f62;

/// Submits a NOP, enters the kernel and reaps its completion: the full path every loop turn
/// takes. A sandbox may allow `io_uring_setup` and `io_uring_register` but deny
/// `io_uring_enter` (a seccomp filter answering EPERM), and a ring that builds but cannot be
/// entered would leave the loop failing on every turn instead of falling back to epoll.
fn nop_round_trip(ring: &mut IoUring) -> Result<(), String> {
    let nop = opcode::Nop::new().build().user_data(PROBE_NOP);
    // SAFETY: a NOP carries no pointers. The ring is new, so its queue has room.
    unsafe { ring.submission().push(&nop) }
        .map_err(|_| "the new ring's submission queue is full".to_string())?;
    let mut last = None;
    // A few tries: EINTR (a signal) is not a verdict on io_uring.
    for _ in 0..3 {
        match ring.submit_and_wait(1) {
            Ok(_) => {
                last = None;
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    if let Some(e) = last {
        return Err(match e.raw_os_error() {
            Some(libc::EPERM | libc::EACCES | libc::ENOSYS) => format!(
                "io_uring_enter was denied ({e}): a seccomp filter (container runtimes, \
                 systemd's SystemCallFilter=) allows creating rings but not entering them"
            ),
            _ => format!("io_uring_enter failed on a NOP: {e}"),
        });
    }
    let cqe = ring
        .completion()
        .next()
        .ok_or("io_uring_enter returned without the NOP's completion")?;
    if cqe.user_data() != PROBE_NOP || cqe.result() != 0 {
        return Err(format!(
            "a NOP completed wrongly (user_data {:#x}, result {})",
            cqe.user_data(),
            cqe.result()
        ));
    }
    Ok(())
}

fn setup_error(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no io_uring support (ENOSYS)".into(),
        Some(libc::EPERM) => "io_uring_setup was denied (EPERM): a seccomp filter (container \
            runtimes often block io_uring) or kernel.io_uring_disabled=1 without membership of \
            kernel.io_uring_group"
            .into(),
        Some(libc::ENOMEM) => format!(
            "io_uring_setup could not lock memory (ENOMEM); RLIMIT_MEMLOCK is {}: raise it \
             (LimitMEMLOCK= under systemd) or lower the ring size",
            memlock_limit()
        ),
        Some(libc::EINVAL) => "the kernel rejected SINGLE_ISSUER/DEFER_TASKRUN (EINVAL): the \
            io_uring backend needs Linux 6.1 or newer"
            .into(),
        _ => format!("io_uring_setup failed: {e}"),
    }
}

fn memlock_limit() -> String {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0 {
        return "unknown".into();
    }
    if lim.rlim_cur == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        format!("{} bytes", lim.rlim_cur)
    }
}
