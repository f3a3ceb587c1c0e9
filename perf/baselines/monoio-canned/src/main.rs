//! A canned HTTP responder on monoio's io_uring driver: it does not parse HTTP at all, it
//! counts request ends (`\r\n\r\n`) and writes one fixed response per request. It is the
//! ceiling for any real server on the same driver: all the kernel's work, none of a parser's.

use monoio::{
    io::{AsyncReadRent, AsyncWriteRentExt},
    net::TcpListener,
};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: monoio\r\nContent-Type: text/plain\r\nDate: Mon, 23 Nov 2026 00:00:00 GMT\r\nContent-Length: 13\r\n\r\nHello, World!";

fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7200".into());
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().with_entries(1024).build().expect("io_uring runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).expect("bind");
        eprintln!("monoio-canned on {addr}");
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            monoio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut out = Vec::with_capacity(RESPONSE.len() * 16);
                // How much of "\r\n\r\n" the previous read ended with.
                let mut matched = 0usize;
                loop {
                    let (res, b) = stream.read(buf).await;
                    buf = b;
                    let n = match res {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let mut requests = 0;
                    for &byte in &buf[..n] {
                        matched = match (matched, byte) {
                            (0 | 2, b'\r') => matched + 1,
                            (1 | 3, b'\n') => matched + 1,
                            (_, b'\r') => 1,
                            _ => 0,
                        };
                        if matched == 4 {
                            requests += 1;
                            matched = 0;
                        }
                    }
                    out.clear();
                    for _ in 0..requests {
                        out.extend_from_slice(RESPONSE);
                    }
                    if requests > 0 {
                        let (res, o) = stream.write_all(out).await;
                        out = o;
                        if res.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
}
