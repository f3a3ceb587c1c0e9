//! No write path raises SIGPIPE: writing to a peer that has gone is an EPIPE error, also in a
//! process that keeps SIGPIPE at its default (fatal) disposition, as a C program embedding the
//! reactor would. Rust's start-up code ignores SIGPIPE, so the checks run in a child process
//! of this test binary that restores SIG_DFL first. On both backends.

mod util;

use ringwire_reactor::{Backend, Runtime, net::TcpStream, time::timeout};
use std::{io, io::Write, net::SocketAddr, rc::Rc, sync::mpsc, thread, time::Duration};

const CHILD_ENV: &str = "RINGWIRE_SIGPIPE_CHILD";

/// A peer that accepts one connection and resets it (SO_LINGER 0) once told the connect has
/// completed (a reset racing the connect would fail the connect instead).
fn resetting_peer() -> (SocketAddr, mpsc::Sender<()>, thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (go, wait) = mpsc::channel();
    let t = thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let _ = wait.recv();
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
    });
    (addr, go, t)
}

fn sigpipe_pending() -> bool {
    // SAFETY: sigset_t is plain data; sigpending fills it in, sigismember reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        assert_eq!(libc::sigpending(&mut set), 0);
        libc::sigismember(&set, libc::SIGPIPE) == 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    Write,
    WriteAll,
    Writev,
    Sendfile,
}

/// Writes with `path` to a connection the peer has reset until the error is EPIPE.
async fn write_until_epipe(path: Path, file: &Rc<std::fs::File>) -> io::Error {
    let (addr, go, peer) = resetting_peer();
    let c = TcpStream::connect(addr).await.unwrap();
    go.send(()).unwrap();
    peer.join().unwrap();
    // The reset has arrived once a receive reports it (or the end of the stream).
    let _ = timeout(Duration::from_secs(5), c.recv()).await;
    for _ in 0..50 {
        let res = match path {
            Path::Write => c.write(vec![7u8; 4096]).await.0.map(drop),
            Path::WriteAll => c.write_all(vec![7u8; 4096]).await.0,
            Path::Writev => {
                let parts: Vec<Vec<u8>> = (0..1500).map(|_| vec![7u8; 8]).collect();
                c.writev_all(parts).await.0
            }
            Path::Sendfile => c.sendfile(file, 0, 64 * 1024).await.map(drop),
        };
        match res {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return e,
            // The first write after a reset reports the reset; the next one is EPIPE.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("{path:?}: unexpected error {e}"),
            Ok(()) => {}
        }
        ringwire_reactor::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("{path:?}: no EPIPE after 50 writes to a reset connection");
}

fn child() {
    // SAFETY: restores the default disposition of one signal; no handler is installed.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&vec![1u8; 64 * 1024]).unwrap();
    let file = Rc::new(file);
    for backend in [Backend::Uring, Backend::Poll] {
        let rt = match Runtime::builder().backend(backend).build() {
            Ok(rt) => rt,
            Err(e) if backend == Backend::Uring => {
                ringwire_reactor::testing::skip_uring("sigpipe::uring", &e.to_string());
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        rt.block_on(async {
            for path in [Path::Write, Path::WriteAll, Path::Writev] {
                let e = write_until_epipe(path, &file).await;
                println!("{backend}/{path:?}: {e}");
                assert!(
                    !sigpipe_pending(),
                    "{backend}/{path:?} raised SIGPIPE (sent without MSG_NOSIGNAL)"
                );
            }
            // sendfile(2) and splice(2) take no flag: the loop thread keeps SIGPIPE blocked.
            let e = write_until_epipe(Path::Sendfile, &file).await;
            println!("{backend}/Sendfile: {e}");
        });
        assert!(
            !sigpipe_pending(),
            "a SIGPIPE was left pending after block_on"
        );
        println!("{backend}: survived");
    }
    println!("child done");
}

#[test]
fn writing_to_a_reset_peer_is_epipe_not_a_fatal_sigpipe() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "writing_to_a_reset_peer_is_epipe_not_a_fatal_sigpipe",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    {
        use std::os::unix::process::ExitStatusExt;
        assert_ne!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "the child was killed by SIGPIPE"
        );
    }
    assert!(out.status.success(), "child failed: {}", out.status);
    assert!(stdout.contains("child done"), "the child ran the checks");
    assert!(stdout.contains("epoll: survived"));
}
