//! The built-in routes.

use crate::files::StaticFiles;
use ringwire_net::{Error, Request, Responder, Service};
use ringwire_services::{channels::http::ChannelsHttp, kv::http::KvHttp};
use std::path::Path;

const TEXT: (&str, &[u8]) = ("Content-Type", b"text/plain; charset=utf-8");

/// `/plaintext`, `/json`, `/echo`, `/static/...`, `/kv/...`, `/channels/...`, and 404 for
/// everything else.
pub struct Router {
    files: Option<StaticFiles>,
    kv: KvHttp,
    channels: Option<ChannelsHttp>,
    /// `/debug/stall?ms=N`, which blocks the worker thread: only with
    /// `RINGWIRE_TEST_HOOKS=1`, for the tests that prove a stuck worker trips the watchdog.
    test_hooks: bool,
}

impl Router {
    /// Routes with static files served from `root`, if given, the key-value store and the
    /// channels.
    pub fn new(
        root: Option<&Path>,
        kv: KvHttp,
        channels: Option<ChannelsHttp>,
    ) -> std::io::Result<Router> {
        let test_hooks = std::env::var("RINGWIRE_TEST_HOOKS").is_ok_and(|v| v == "1");
        Ok(Router {
            files: root.map(StaticFiles::new).transpose()?,
            kv,
            channels,
            test_hooks,
        })
    }
}

#[derive(serde::Serialize)]
struct Message {
    message: &'static str,
}

impl Service for Router {
    async fn call(&self, req: &mut Request<'_>, res: &mut Responder<'_>) -> Result<(), Error> {
        let method = req.method().as_str();
        let path = req.path();
        match path {
            "/plaintext" if method == "GET" || method == "HEAD" => {
                res.send(200, &[TEXT], b"Hello, World!")
            }
            "/json" if method == "GET" || method == "HEAD" => {
                // Serialized per request, as the TechEmpower rules ask.
                let body = serde_json::to_vec(&Message {
                    message: "Hello, World!",
                })
                .map_err(|e| Error::Service(e.to_string()))?;
                res.send(200, &[("Content-Type", b"application/json")], &body)
            }
            "/echo" if method == "POST" => echo(req, res).await,
            "/debug/stall" if self.test_hooks => {
                let ms = req
                    .query()
                    .and_then(|q| q.strip_prefix("ms="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1000);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                res.send(200, &[TEXT], b"stalled\n")
            }
            "/plaintext" | "/json" => res.send(
                405,
                &[("Allow", b"GET, HEAD"), TEXT],
                b"method not allowed\n",
            ),
            "/echo" => res.send(405, &[("Allow", b"POST"), TEXT], b"method not allowed\n"),
            _ if path.starts_with("/kv/") => self.kv.handle(req, res, &path[4..]).await,
            _ if path.starts_with("/channels/") && self.channels.is_some() => {
                let channels = self.channels.as_ref().expect("checked");
                channels.handle(req, res, &path["/channels/".len()..]).await
            }
            _ => match (&self.files, path.strip_prefix("/static/")) {
                (Some(files), Some(rest)) if method == "GET" || method == "HEAD" => {
                    files.serve(req, rest, res)
                }
                (Some(_), Some(_)) => res.send(
                    405,
                    &[("Allow", b"GET, HEAD"), TEXT],
                    b"method not allowed\n",
                ),
                _ => res.send(404, &[TEXT], b"not found\n"),
            },
        }
    }
}

/// Streams the request body back: same length if it had one, chunked otherwise. Never holds
/// more than one received buffer of it.
async fn echo(req: &mut Request<'_>, res: &mut Responder<'_>) -> Result<(), Error> {
    let length = match req.body().framing() {
        ringwire_protocol::http1::Framing::None => Some(0),
        ringwire_protocol::http1::Framing::Length(n) => Some(n),
        ringwire_protocol::http1::Framing::Chunked => None,
    };
    let content_type = req
        .header("content-type")
        .unwrap_or(b"application/octet-stream");
    res.start(200, &[("Content-Type", content_type)], length)?;
    while let Some(piece) = req.body().chunk().await? {
        res.write(piece).await?;
    }
    res.finish().await
}
