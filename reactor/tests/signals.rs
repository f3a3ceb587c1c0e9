//! Signals delivered into a reactor, on both backends. Its own test binary without the libtest
//! harness: a process-directed signal reaches a signalfd only if every thread blocks it, so
//! the mask must be set in `main` before any other thread exists.

#[cfg(target_os = "linux")]
fn main() {
    use ringwire_reactor::{Backend, Runtime, signal, time::timeout};
    use std::{process::Command, time::Duration};

    signal::block(&[signal::SIGUSR1, signal::SIGHUP]).expect("block signals");
    let pid = std::process::id().to_string();
    for backend in [Backend::Uring, Backend::Poll] {
        let rt = match Runtime::builder().backend(backend).build() {
            Ok(rt) => rt,
            Err(e) if backend == Backend::Uring => {
                let test = format!("signals::{backend}");
                ringwire_reactor::testing::skip_uring(&test, &e.to_string());
                continue;
            }
            Err(e) => panic!("signals::{backend}: {e}"),
        };
        rt.block_on(async {
            let signals = signal::Signals::new(&[signal::SIGUSR1, signal::SIGHUP]).unwrap();
            for (name, num) in [("USR1", signal::SIGUSR1), ("HUP", signal::SIGHUP)] {
                // A real signal from another process, as an operator's `kill` would send it.
                let status = Command::new("kill")
                    .arg(format!("-{name}"))
                    .arg(&pid)
                    .status()
                    .unwrap();
                assert!(status.success());
                let got = timeout(Duration::from_secs(5), signals.recv()).await;
                assert_eq!(got.expect("signal not delivered").unwrap(), num);
            }
        });
        println!("test signals::{backend} ... ok");
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("SKIPPED signals: signalfd is Linux-only");
}
