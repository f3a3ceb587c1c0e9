//! `GET|HEAD /static/<path>`: files under the configured root, with validators, conditional
//! requests, single byte ranges, and zero-copy transfer (sendfile, or splice on io_uring).

pub mod path;
pub mod range;

use ringwire_net::{Error, Request, Responder};
use ringwire_protocol::http1::http_date;
use std::{
    fs::File,
    io,
    path::{Path, PathBuf},
    rc::Rc,
    time::UNIX_EPOCH,
};

const TEXT: (&str, &[u8]) = ("Content-Type", b"text/plain; charset=utf-8");

/// Files under one root directory.
pub struct StaticFiles {
    root: File,
    root_path: PathBuf,
}

impl StaticFiles {
    /// Opens `root` (it must be a directory).
    pub fn new(root: &Path) -> io::Result<StaticFiles> {
        let file = File::open(root)?;
        if !file.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(StaticFiles {
            root: file,
            root_path: root.to_path_buf(),
        })
    }

    /// Answers a request for `rel` (the path after `/static/`).
    pub fn serve(
        &self,
        req: &Request<'_>,
        rel: &str,
        res: &mut Responder<'_>,
    ) -> Result<(), Error> {
        let rel = match path::resolve(rel) {
            Ok(p) => p,
            Err(path::Refused::Malformed(why)) => {
                return res.send(400, &[TEXT], format!("bad path: {why}\n").as_bytes());
            }
            Err(path::Refused::Hidden) => return not_found(res),
        };
        let file = match ringwire_reactor::fs::open_beneath(&self.root, &self.root_path, &rel) {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(13) => {
                return res.send(403, &[TEXT], b"forbidden\n");
            }
            // Not found, a directory on the way, or a symlink leaving the root: all look alike.
            Err(_) => return not_found(res),
        };
        let meta = file.metadata()?;
        if !meta.is_file() {
            return not_found(res);
        }
        let size = meta.len();
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        let etag = format!("\"{:x}-{:x}\"", mtime.as_nanos(), size);
        let last_modified = http_date(mtime.as_secs());
        let content_type = mime_guess::from_path(&rel)
            .first_raw()
            .unwrap_or("application/octet-stream");
        let validators = [
            ("ETag", etag.as_bytes()),
            ("Last-Modified", &last_modified[..]),
        ];

        if not_modified(req, &etag, mtime.as_secs()) {
            return res.send(304, &validators, b"");
        }
        let wants_range =
            req.method().as_str() == "GET" && if_range_holds(req, &etag, &last_modified);
        let ranged = if wants_range {
            range::parse(req.header("range"), size)
        } else {
            range::Ranged::Full
        };
        let file = Rc::new(file);
        match ranged {
            range::Ranged::Full => {
                let headers = [
                    ("Content-Type", content_type.as_bytes()),
                    ("Accept-Ranges", b"bytes"),
                    validators[0],
                    validators[1],
                ];
                res.send_file(200, &headers, file, 0, size)
            }
            range::Ranged::Part(r) => {
                let content_range = format!("bytes {}-{}/{size}", r.start, r.end - 1);
                let headers = [
                    ("Content-Type", content_type.as_bytes()),
                    ("Content-Range", content_range.as_bytes()),
                    ("Accept-Ranges", b"bytes"),
                    validators[0],
                    validators[1],
                ];
                res.send_file(206, &headers, file, r.start, r.end - r.start)
            }
            range::Ranged::Unsatisfiable => {
                let content_range = format!("bytes */{size}");
                res.send(
                    416,
                    &[("Content-Range", content_range.as_bytes()), TEXT],
                    b"range not satisfiable\n",
                )
            }
        }
    }
}

fn not_found(res: &mut Responder<'_>) -> Result<(), Error> {
    res.send(404, &[TEXT], b"not found\n")
}

/// RFC 9110 §13.1.2 and §13.1.3: If-None-Match (weak comparison) wins over If-Modified-Since.
fn not_modified(req: &Request<'_>, etag: &str, mtime_secs: u64) -> bool {
    if let Some(inm) = req.header("if-none-match") {
        let Ok(inm) = std::str::from_utf8(inm) else {
            return false;
        };
        return inm.trim() == "*"
            || inm
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag);
    }
    let Some(ims) = req
        .header("if-modified-since")
        .and_then(|v| std::str::from_utf8(v).ok())
    else {
        return false;
    };
    match httpdate::parse_http_date(ims.trim()) {
        Ok(t) => t
            .duration_since(UNIX_EPOCH)
            .map(|d| mtime_secs <= d.as_secs())
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// RFC 9110 §13.1.5: a Range applies only if If-Range (when present) still matches.
fn if_range_holds(req: &Request<'_>, etag: &str, last_modified: &[u8]) -> bool {
    match req.header("if-range") {
        None => true,
        Some(v) => {
            let v = v.trim_ascii();
            if v.starts_with(b"\"") {
                v == etag.as_bytes()
            } else {
                v == last_modified
            }
        }
    }
}
