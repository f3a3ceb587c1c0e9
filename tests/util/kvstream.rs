//! The `kv` stream service from a test: a client runtime on either backend, and one stream
//! that carries many requests at once.

use super::Server;
use ringwire_net::stream::client::Client;
use ringwire_protocol::kv::{self, Request};
use ringwire_reactor::{Backend, Runtime};

/// Runs `f` on a client runtime of backend `io` against the server's stream port.
pub fn with_stream<T>(io: &str, s: &Server, f: impl AsyncFnOnce(Client) -> T) -> T {
    let rt = Runtime::builder()
        .backend(io.parse::<Backend>().unwrap())
        .build()
        .unwrap();
    let addr = s.stream.unwrap();
    rt.block_on(async move { f(Client::connect(addr).await.unwrap()).await })
}

/// Sends `reqs` all at once on one `kv` stream, finishes it, and collects every answer body.
pub async fn exchange(c: &Client, reqs: &[Request<'_>]) -> Vec<Vec<u8>> {
    let stream = c.open("kv").await.unwrap();
    let mut wire = Vec::new();
    for r in reqs {
        kv::encode_request(r, &mut wire);
    }
    stream.send(&wire).await.unwrap();
    stream.finish().unwrap();
    let mut buf = Vec::new();
    while let Some(b) = stream.recv().await.unwrap() {
        buf.extend_from_slice(&b);
    }
    let mut answers = Vec::new();
    let mut rest = &buf[..];
    while let Some((body, used)) = kv::split(rest).unwrap() {
        answers.push(body.to_vec());
        rest = &rest[used..];
    }
    assert!(rest.is_empty(), "{} stray bytes", rest.len());
    answers
}
