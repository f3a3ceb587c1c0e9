//! Tests of the op lifecycle: dropped futures keep their memory until the completion.

use crate::{
    Backend, Runtime,
    buf::{IoBuf, IoBufMut},
    net::{TcpListener, TcpStream},
    time::sleep,
    yield_now,
};
use std::{cell::Cell, future::Future, rc::Rc, task::Poll, time::Duration};

/// A buffer that records when it is freed.
struct Tracked {
    buf: Vec<u8>,
    freed: Rc<Cell<bool>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.freed.set(true);
    }
}

// SAFETY: delegates to the Vec, whose heap memory is stable.
unsafe impl IoBuf for Tracked {
    fn stable_ptr(&self) -> *const u8 {
        self.buf.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.buf.len()
    }
}

// SAFETY: delegates to the Vec.
unsafe impl IoBufMut for Tracked {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.as_mut_ptr()
    }
    fn bytes_total(&mut self) -> usize {
        self.buf.capacity()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.buf.set_init(n) }
    }
}

#[test]
fn an_abandoned_read_keeps_its_buffer_until_its_completion_arrives() {
    let rt = match Runtime::builder().backend(Backend::Uring).build() {
        Ok(rt) => rt,
        Err(e) => {
            return crate::testing::skip_uring(
                "an_abandoned_read_keeps_its_buffer_until_its_completion_arrives",
                &e.to_string(),
            );
        }
    };
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let _client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let server = l.accept().await.unwrap();
        let freed = Rc::new(Cell::new(false));
        let tracked = Tracked {
            buf: Vec::with_capacity(64),
            freed: freed.clone(),
        };
        let mut read = Box::pin(server.read(tracked));
        let first =
            std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx).is_pending())).await;
        assert!(first, "nothing was sent, so the read must be in flight");
        yield_now().await; // one loop turn: the SQE reaches the kernel
        drop(read);
        assert!(
            !freed.get(),
            "buffer freed while the kernel could still write into it"
        );
        sleep(Duration::from_millis(20)).await; // the cancel's completion comes back
        assert!(freed.get(), "buffer released once its completion arrived");
        let abandoned = crate::sys::uring::with_driver(|d| {
            d.ops
                .iter()
                .filter(|(_, e)| matches!(e, super::Lifecycle::Ignored(_)))
                .count()
        });
        assert_eq!(abandoned, 0, "the abandoned op's slab entry was freed");
    });
}

/// Every socket with an armed multishot receive keeps one of these in the driver's slab.
#[test]
fn a_slab_entry_stays_small() {
    let size = std::mem::size_of::<super::Lifecycle>();
    eprintln!("Lifecycle {size} B");
    assert!(size <= 48, "Lifecycle grew to {size} bytes");
}

/// Only the driver's own share cancel (`BufRing::per_receiver`) re-arms a multishot receive;
/// an ECANCELED from any other cancellation ends the receive with that error.
#[test]
fn a_receive_cancelled_by_someone_else_ends_with_ecanceled() {
    use io_uring::{opcode, types};
    let rt = match Runtime::builder().backend(Backend::Uring).build() {
        Ok(rt) => rt,
        Err(e) => {
            return crate::testing::skip_uring(
                "a_receive_cancelled_by_someone_else_ends_with_ecanceled",
                &e.to_string(),
            );
        }
    };
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let _client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let server = l.accept().await.unwrap();
        let mut recv = Box::pin(server.recv());
        let armed =
            std::future::poll_fn(|cx| Poll::Ready(recv.as_mut().poll(cx).is_pending())).await;
        assert!(armed, "nothing was sent, so the receive must be armed");
        yield_now().await; // one loop turn: the multishot reaches the kernel
        // Cancel every request of the ring, as a teardown does.
        let sqe = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(super::super::IGNORE);
        // SAFETY: a cancel request carries no pointers.
        crate::sys::uring::with_driver(|d| unsafe { d.push(&sqe) }).unwrap();
        // Before the fix every ECANCELED re-armed: the receive then waited for bytes forever.
        let got = crate::time::timeout(Duration::from_secs(5), recv)
            .await
            .expect("a foreign cancel re-armed the receive instead of ending it");
        let err = got.expect_err("a cancelled receive returned data");
        assert_eq!(err.raw_os_error(), Some(libc::ECANCELED), "{err}");
    });
}
