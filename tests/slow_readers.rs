//! Hundreds of clients that start downloading a large file and then stop reading must not cost
//! the server a kernel thread each (io_uring's splice runs in io-wq workers), and must not hold
//! up a client that reads normally.

mod util;

use std::{
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};
use util::{Server, read_response};

const READERS: usize = 200;
const FILE_LEN: u64 = 64 << 20;

/// Threads of process `pid`, and how many of them are io_uring workers (`iou-wrk-*`).
fn threads(pid: u32) -> (usize, usize) {
    let mut all = 0;
    let mut workers = 0;
    for entry in fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        all += 1;
        let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.starts_with("iou-wrk") {
            workers += 1;
        }
    }
    (all, workers)
}

/// Sends a GET for the big file and reads the response head and a first piece of the body.
fn start_download(server: &Server) -> BufReader<TcpStream> {
    let mut s = server.connect();
    s.write_all(b"GET /static/big HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
    }
    let mut first = [0u8; 1024];
    r.read_exact(&mut first).unwrap();
    r
}

both_backends! {
    fn slow_readers_of_a_large_file_cost_no_thread_each(io) {
        let dir = tempfile::tempdir().unwrap();
        // Sparse: reads return zeros without touching the disk.
        fs::File::create(dir.path().join("big")).unwrap().set_len(FILE_LEN).unwrap();
        let root = dir.path().to_str().unwrap();
        let server = Server::start(
            io,
            &["--workers", "1", "--root", root, "--write-timeout", "120s", "--max-connections", "1000"],
        );
        let pid = server.pid();
        let (before, _) = threads(pid);
        let stalled: Vec<_> = (0..READERS).map(|_| start_download(&server)).collect();
        // Give every transfer time to fill its socket and get stuck in the kernel.
        thread::sleep(Duration::from_secs(2));
        let (during, workers) = threads(pid);
        eprintln!("{io}: {before} threads before, {during} ({workers} io-wq workers) with {READERS} stalled readers");

        // A reader that keeps reading gets the whole file meanwhile.
        let start = Instant::now();
        let mut r = start_download(&server);
        r.get_ref().set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 1024u64;
        while got < FILE_LEN {
            let n = r.read(&mut buf).expect("the normal reader got stuck behind the stalled ones");
            assert!(n > 0, "closed after {got} of {FILE_LEN} bytes");
            got += n as u64;
        }
        eprintln!("{io}: the normal reader got {got} bytes in {:?}", start.elapsed());
        // The same connection goes on serving after the transfer.
        r.get_mut().write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let next = read_response(&mut r, false).expect("a response after the file");
        assert_eq!(next.status, 200);
        let (after, workers_after) = threads(pid);
        drop(stalled);
        assert!(
            during <= before + 16 && after <= before + 16,
            "{READERS} stalled readers grew the server from {before} to {during} threads \
             ({workers} io-wq workers), {after} ({workers_after}) after a full download"
        );
    }
}
