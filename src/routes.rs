//! The built-in routes.

use crate::files::StaticFiles;
use ringwire_net::{
    Error, Request, Responder, Service,
    problem::{method_not_allowed, send_error},
};
use ringwire_services::{channels::http::ChannelsHttp, kv::http::KvHttp};
use std::path::Path;

const TEXT: (&str, &[u8]) = ("Content-Type", b"text/plain; charset=utf-8");

/// `/plaintext`, `/json`, `/echo`, `/static/...`, `/kv/...`, `/channels/...`, and 404 for
/// everything else.
pub struct Router {
    files: Option<StaticFiles>,
    kv: KvHttp,
    channels: Option<ChannelsHttp>,
    /// `/debug/stall?ms=N`, which blocks the worker thread, `/debug/fail` and `/debug/silent`
    /// (a failing and a mute service): only with `RINGWIRE_TEST_HOOKS=1`, for the tests of the
    /// watchdog and of the error answers.
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
            // Test hooks for the error paths: a service error whose text must reach only
            // the log, and a service that returns without answering.
            "/debug/fail" if self.test_hooks => Err(Error::Service(
                "secret detail: /var/lib/ringwire/db.mdb is corrupt".into(),
            )),
            "/debug/silent" if self.test_hooks => Ok(()),
            "/plaintext" | "/json" => method_not_allowed(req, res, b"GET, HEAD"),
            "/echo" => method_not_allowed(req, res, b"POST"),
            _ if path.starts_with("/kv/") => self.kv.handle(req, res, &path[4..]).await,
            _ if path.starts_with("/channels/") && self.channels.is_some() => {
                let channels = self.channels.as_ref().expect("checked");
                channels.handle(req, res, &path["/channels/".len()..]).await
            }
            _ => match (&self.files, path.strip_prefix("/static/")) {
                (Some(files), Some(rest)) if method == "GET" || method == "HEAD" => {
                    files.serve(req, rest, res)
                }
                (Some(_), Some(_)) => method_not_allowed(req, res, b"GET, HEAD"),
                _ => send_error(req, res, 404, "route.not_found", "no such route", &[]),
            },
        }
    }
}

/// The `Content-Type` `/echo` sends back: the request's if it is one a browser does not
/// render as a document (text/plain, application/json, application/octet-stream, with
/// parameters), else `application/octet-stream`. With `nosniff`, always sent, a reflected body
/// cannot become HTML or script in a browser.
fn echo_type(requested: Option<&[u8]>) -> &[u8] {
    const SAFE: [&str; 3] = ["text/plain", "application/json", "application/octet-stream"];
    let Some(value) = requested else {
        return b"application/octet-stream";
    };
    let media = value.split(|&c| c == b';').next().unwrap_or_default();
    let media = media.trim_ascii();
    if SAFE
        .iter()
        .any(|s| media.eq_ignore_ascii_case(s.as_bytes()))
    {
        value
    } else {
        b"application/octet-stream"
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
    let content_type = echo_type(req.header("content-type"));
    let headers = [
        ("Content-Type", content_type),
        ("X-Content-Type-Options", &b"nosniff"[..]),
    ];
    res.start(200, &headers, length)?;
    while let Some(piece) = req.body().chunk().await? {
        res.write(piece).await?;
    }
    res.finish().await
}

#[cfg(test)]
mod tests {
    use super::echo_type;

    #[test]
    fn echo_reflects_only_types_browsers_do_not_render() {
        let t = |v: &str| String::from_utf8(echo_type(Some(v.as_bytes())).to_vec()).unwrap();
        assert_eq!(t("text/plain; charset=utf-8"), "text/plain; charset=utf-8");
        assert_eq!(t("Application/JSON"), "Application/JSON");
        for bad in [
            "text/html",
            "image/svg+xml",
            "text/xml",
            "application/xhtml+xml",
            "x",
        ] {
            assert_eq!(t(bad), "application/octet-stream", "{bad}");
        }
        assert_eq!(echo_type(None), b"application/octet-stream");
    }
}
