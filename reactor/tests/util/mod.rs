//! Shared helpers for the reactor's integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use ringwire_reactor::{Backend, Runtime, net::TcpListener};
use std::net::SocketAddr;

/// Instantiates a test once per backend: `name::uring` and `name::epoll`. The io_uring
/// variant prints `SKIPPED` with the reason and returns when this machine cannot run io_uring,
/// or fails when `RINGWIRE_REQUIRE_URING=1` (CI: never a vacuous pass); see
/// `ringwire_reactor::testing`.
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* fn $name:ident($backend:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)] // tests that use nothing from their file still get the glob
            use super::*;
            $(#[$meta])*
            fn run($backend: ringwire_reactor::Backend) $body

            #[test]
            fn uring() {
                if !ringwire_reactor::testing::uring_or_skip(concat!(stringify!($name), "::uring")) {
                    return;
                }
                run(ringwire_reactor::Backend::Uring)
            }

            #[test]
            fn epoll() {
                run(ringwire_reactor::Backend::Poll)
            }
        }
    };
}

/// Why io_uring cannot be used here, if it cannot.
pub fn uring_unavailable() -> Option<String> {
    ringwire_reactor::testing::uring_unavailable()
}

pub fn runtime(backend: Backend) -> Runtime {
    Runtime::builder()
        .backend(backend)
        .build()
        .expect("runtime")
}

/// Deterministic pseudo-random bytes (xorshift64*), different for every seed.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// A listener on an ephemeral loopback port with a deep backlog.
pub fn listener(backlog: i32) -> TcpListener {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.listen(backlog).unwrap();
    TcpListener::from_std(socket.into()).unwrap()
}

/// Raises the soft open-files limit to the hard limit and returns it.
pub fn raise_nofile() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

/// Reads until `want` bytes arrived or the stream ended.
pub async fn read_exact(stream: &ringwire_reactor::net::TcpStream, want: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(want.min(1 << 20));
    while out.len() < want {
        match stream.recv().await.expect("recv") {
            Some(buf) => out.extend_from_slice(&buf),
            None => break,
        }
    }
    out
}

/// A one-shot, single-core gate: tasks wait until it opens.
#[derive(Default, Clone)]
pub struct Gate(std::rc::Rc<std::cell::RefCell<(bool, Vec<std::task::Waker>)>>);

impl Gate {
    pub fn open(&self) {
        let wakers = {
            let mut g = self.0.borrow_mut();
            g.0 = true;
            std::mem::take(&mut g.1)
        };
        wakers.into_iter().for_each(|w| w.wake());
    }

    pub async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut g = self.0.borrow_mut();
            if g.0 {
                std::task::Poll::Ready(())
            } else {
                g.1.push(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
        .await
    }
}

/// Open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}
