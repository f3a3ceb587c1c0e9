//! `GET|HEAD /static/<path>`: files under the configured root, with validators, conditional
//! requests, single byte ranges, and zero-copy transfer (sendfile, or splice on io_uring).

mod cache;

// The pure parsers live in the sans-I/O protocol crate, where the fuzz targets reach them.
use ringwire_protocol::http1::{path, range};

use bytes::Bytes;
use cache::{Cache, Meta};
use ringwire_net::{Error, Request, Responder, problem::send_error};
use ringwire_protocol::http1::http_date;
use std::{
    fs::File,
    io::{self, Read},
    path::{Path, PathBuf},
    rc::Rc,
    time::UNIX_EPOCH,
};

/// Files under one root directory (one instance per core, with its own small-file cache).
pub struct StaticFiles {
    root: File,
    root_path: PathBuf,
    cache: Cache,
}

/// Where a response body comes from.
enum Body {
    Memory(Bytes),
    File(Rc<File>),
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
            cache: Cache::default(),
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
                let msg = format!("bad path: {why}");
                return send_error(req, res, 400, "files.bad_path", &msg, &[]);
            }
            Err(path::Refused::Hidden) => return not_found(req, res),
        };
        let now = ringwire_reactor::time::now();
        let (meta, body) = match self.cache.fresh(&rel, now) {
            Some((meta, bytes)) => (meta, Body::Memory(bytes)),
            None => match self.load(&rel, now) {
                Ok(Some(found)) => found,
                Ok(None) => return not_found(req, res),
                Err(e) if e.raw_os_error() == Some(13) => {
                    let msg = "the server may not read this file";
                    return send_error(req, res, 403, "files.forbidden", msg, &[]);
                }
                Err(e) => {
                    // The error names a path on the server: for the log only.
                    tracing::error!(
                        file = %rel.display(),
                        request_id = req.request_id(),
                        "static file failed: {e}"
                    );
                    let msg = "the file could not be read; quote the request id to the operator";
                    return send_error(req, res, 500, "server.internal", msg, &[]);
                }
            },
        };
        respond(req, res, &meta, body)
    }

    /// Opens `rel` and returns its metadata and body: cached bytes if the cache holds this
    /// version, freshly read bytes for a small file, the open file otherwise. `None`: not
    /// found, not a regular file, or outside the root (all look alike to the client).
    fn load(&self, rel: &Path, now: std::time::Instant) -> io::Result<Option<(Meta, Body)>> {
        let mut file = match ringwire_reactor::fs::open_beneath(&self.root, &self.root_path, rel) {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(13) => return Err(e),
            Err(_) => {
                self.cache.remove(rel);
                return Ok(None);
            }
        };
        let stat = file.metadata()?;
        if !stat.is_file() {
            self.cache.remove(rel);
            return Ok(None);
        }
        let mtime = stat
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        let meta = Meta {
            size: stat.len(),
            mtime_ns: mtime.as_nanos(),
            etag: format!("\"{:x}-{:x}\"", mtime.as_nanos(), stat.len()),
            last_modified: http_date(mtime.as_secs()),
            content_type: mime_guess::from_path(rel)
                .first_raw()
                .unwrap_or("application/octet-stream"),
        };
        if meta.size > cache::MAX_FILE {
            self.cache.remove(rel);
            return Ok(Some((meta, Body::File(Rc::new(file)))));
        }
        if let Some(bytes) = self.cache.revalidate(rel, &meta, now) {
            return Ok(Some((meta, Body::Memory(bytes))));
        }
        // Small and (re)loaded: a page-cache read of at most MAX_FILE bytes.
        let mut buf = Vec::with_capacity(meta.size as usize);
        file.by_ref().take(cache::MAX_FILE).read_to_end(&mut buf)?;
        if buf.len() as u64 != meta.size {
            // Changed while being read: serve what was read, cache nothing.
            return Ok(Some((meta, Body::Memory(Bytes::from(buf)))));
        }
        let bytes = Bytes::from(buf);
        self.cache.insert(rel, meta.clone(), bytes.clone(), now);
        Ok(Some((meta, Body::Memory(bytes))))
    }
}

/// Validators, conditionals, ranges, then the body from memory or from the file.
fn respond(
    req: &Request<'_>,
    res: &mut Responder<'_>,
    meta: &Meta,
    body: Body,
) -> Result<(), Error> {
    let size = match &body {
        Body::Memory(b) => b.len() as u64,
        Body::File(_) => meta.size,
    };
    let validators = [
        ("ETag", meta.etag.as_bytes()),
        ("Last-Modified", &meta.last_modified[..]),
    ];
    if not_modified(req, &meta.etag, (meta.mtime_ns / 1_000_000_000) as u64) {
        return res.send(304, &validators, b"");
    }
    let wants_range =
        req.method().as_str() == "GET" && if_range_holds(req, &meta.etag, &meta.last_modified);
    let ranged = if wants_range {
        range::parse(req.header("range"), size)
    } else {
        range::Ranged::Full
    };
    let content_type = meta.content_type.as_bytes();
    let (status, part, content_range) = match ranged {
        range::Ranged::Full => (200, 0..size, None),
        range::Ranged::Part(r) => (
            206,
            r.clone(),
            Some(format!("bytes {}-{}/{size}", r.start, r.end - 1)),
        ),
        range::Ranged::Unsatisfiable => {
            let content_range = format!("bytes */{size}");
            let headers = [("Content-Range", content_range.as_bytes())];
            let msg = "no part of the file is in the requested range";
            return send_error(req, res, 416, "files.range_not_satisfiable", msg, &headers);
        }
    };
    let mut headers: Vec<(&str, &[u8])> = vec![("Content-Type", content_type)];
    if let Some(cr) = &content_range {
        headers.push(("Content-Range", cr.as_bytes()));
    }
    headers.extend([
        ("Accept-Ranges", &b"bytes"[..]),
        validators[0],
        validators[1],
    ]);
    match body {
        Body::Memory(b) => res.send_bytes(
            status,
            &headers,
            b.slice(part.start as usize..part.end as usize),
        ),
        Body::File(f) => res.send_file(status, &headers, f, part.start, part.end - part.start),
    }
}

fn not_found(req: &Request<'_>, res: &mut Responder<'_>) -> Result<(), Error> {
    send_error(req, res, 404, "files.not_found", "no such file", &[])
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
