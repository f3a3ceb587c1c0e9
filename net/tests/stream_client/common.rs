//! Helpers of the stream client tests: the per-backend test macro, a runtime with the fake
//! server, and payloads.

use super::fake::Config;
use ringwire_net::stream::client::{Settings, Stream};
use ringwire_reactor::{Backend, Runtime};
use std::{future::Future, io, net::SocketAddr, time::Duration};

/// Instantiates a test once per backend: `name::uring` and `name::epoll`. The io_uring
/// variant says why on stderr and returns when this machine cannot run io_uring, or fails
/// when `RINGWIRE_REQUIRE_URING=1` (see `ringwire_reactor::testing`).
macro_rules! both_backends {
    ($(#[$meta:meta])* fn $name:ident($backend:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)] // tests that use nothing from their file still get the glob
            use super::*;
            $(#[$meta])*
            fn run($backend: Backend) $body

            #[test]
            fn uring() {
                if !ringwire_reactor::testing::uring_or_skip(concat!(stringify!($name), "::uring")) {
                    return;
                }
                run(Backend::Uring)
            }

            #[test]
            fn epoll() {
                run(Backend::Poll)
            }
        }
    };
}

/// Runs `test` against a fake server with `cfg` on a fresh runtime, failing after 20 s.
pub fn with_server<F, Fut>(backend: Backend, cfg: Config, test: F)
where
    F: FnOnce(SocketAddr) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = Runtime::builder()
        .backend(backend)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let addr = super::fake::start(cfg);
        ringwire_reactor::time::timeout(Duration::from_secs(20), test(addr))
            .await
            .expect("test timed out");
    });
}

/// Deterministic pseudo-random bytes, different for every seed.
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

/// Everything the server sends on `stream` until its END.
pub async fn read_to_end(stream: &Stream) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    while let Some(b) = stream.recv().await? {
        all.extend_from_slice(&b);
    }
    Ok(all)
}

/// Default settings changed by `f`.
pub fn settings(f: impl FnOnce(&mut Settings)) -> Settings {
    let mut s = Settings::default();
    f(&mut s);
    s
}
