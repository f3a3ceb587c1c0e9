//! A service that misuses the responder (an interim status as the final response, a body
//! with 205, a second Server field) sees an error, and the client gets a 500, over a real
//! socket on both backends.

use super::*;
use crate::{Error, Request, Responder, Service};
use ringwire_reactor::{Backend, Runtime, net::TcpListener};
use std::{
    cell::RefCell,
    io::{Read, Write},
};

/// Tries the response its path names and records the error `send` returned.
struct Misuse {
    errors: RefCell<Vec<String>>,
}

impl Service for Misuse {
    async fn call(&self, req: &mut Request<'_>, res: &mut Responder<'_>) -> Result<(), Error> {
        let upgrade: &[(&str, &[u8])] = &[("Upgrade", b"websocket")];
        let server: &[(&str, &[u8])] = &[("Server", b"mine/1")];
        let sent = match req.path() {
            "/103" => res.send(103, &[], b""),
            "/100" => res.start(100, &[], Some(0)),
            "/101" => res.send(101, upgrade, b""),
            "/205-body" => res.send(205, &[], b"content"),
            "/205-chunked" => res.start(205, &[], None),
            "/server" => res.send(200, server, b""),
            _ => res.send(205, &[], b""),
        };
        if let Err(e) = &sent {
            self.errors.borrow_mut().push(e.to_string());
        }
        sent
    }
}

/// Sends `GET <path>` and returns the one response the server wrote; the client then closes
/// (so the connection task ends without waiting for the server to close first).
fn exchange(rt: &Runtime, path: &str, service: &Rc<Misuse>) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            s.write_all(request.as_bytes()).unwrap();
            let mut out = Vec::new();
            let mut byte = [0u8; 1];
            while !out.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
                out.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&out).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            let mut body = vec![0u8; len];
            s.read_exact(&mut body).unwrap();
            head + &String::from_utf8_lossy(&body)
        });
        let stream = l.accept().await.unwrap();
        let core = Core::install(0, Config::default());
        run(stream.into(), core, service.clone(), 0, None).await;
        client.join().unwrap()
    })
}

fn misuse_is_refused(backend: Backend) {
    let rt = match Runtime::builder().backend(backend).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("SKIPPED misuse_is_refused on {backend:?}: {e}");
            return;
        }
    };
    let service = Rc::new(Misuse {
        errors: RefCell::new(Vec::new()),
    });
    for path in [
        "/103",
        "/100",
        "/101",
        "/205-body",
        "/205-chunked",
        "/server",
    ] {
        let out = exchange(&rt, path, &service);
        assert!(out.starts_with("HTTP/1.1 500 "), "{path}: {out}");
        assert_eq!(out.matches("HTTP/1.1 ").count(), 1, "{path}: {out}");
        assert_eq!(out.matches("Server:").count(), 1, "{path}: {out}");
        let errors = service.errors.borrow();
        assert_eq!(errors.len(), 1, "{path}: the service saw no error");
        drop(errors);
        let error = service.errors.borrow_mut().pop().unwrap();
        let expected = if path.starts_with("/10") {
            "not a final response"
        } else {
            "205 has no body"
        };
        let expected = if path == "/server" {
            "Server may appear once"
        } else {
            expected
        };
        assert!(error.contains(expected), "{path}: {error}");
    }
    // A 205 without a body is fine, announced as empty.
    let out = exchange(&rt, "/205", &service);
    assert!(out.starts_with("HTTP/1.1 205 Reset Content\r\n"), "{out}");
    assert!(out.contains("\r\nContent-Length: 0\r\n"), "{out}");
    assert!(service.errors.borrow().is_empty());
}

#[test]
fn responder_misuse_is_refused_epoll() {
    misuse_is_refused(Backend::Poll);
}

#[test]
fn responder_misuse_is_refused_uring() {
    misuse_is_refused(Backend::Uring);
}
