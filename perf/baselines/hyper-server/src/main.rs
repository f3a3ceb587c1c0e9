//! hyper 1.x on a current-thread tokio runtime (one core, like one ringwire worker), serving
//! the same plaintext body and streaming /echo back. Pipelined responses are flushed together
//! (`pipeline_flush`), hyper's best setting for the pipelined scenario.

use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

type Body = BoxBody<Bytes, hyper::Error>;

fn full(b: &'static [u8]) -> Body {
    Full::new(Bytes::from_static(b)).map_err(|never| match never {}).boxed()
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let resp = match (req.method(), req.uri().path()) {
        (&Method::GET, "/plaintext") => Response::builder()
            .header("content-type", "text/plain")
            .header("server", "hyper")
            .body(full(b"Hello, World!"))
            .unwrap(),
        (&Method::POST, "/echo") => Response::new(req.into_body().boxed()),
        _ => Response::builder().status(StatusCode::NOT_FOUND).body(full(b"not found\n")).unwrap(),
    };
    Ok(resp)
}

fn main() {
    let addr: std::net::SocketAddr =
        std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7100".into()).parse().expect("address");
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
    rt.block_on(async move {
        let std_listener = ringwire_perf_echo::listen(addr).expect("bind");
        std_listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        eprintln!("hyper-server on {addr}");
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .await;
            });
        }
    });
}
