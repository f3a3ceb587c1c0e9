//! The dashboard's page, script and style, embedded at build time and sent with a strict
//! Content-Security-Policy: same-origin script, style and `fetch` only, nothing inline, no
//! framing.

use ringwire_net::{Error, Responder};

/// Only this origin's script, style and `fetch`; no inline code, plugins, forms or framing.
const CSP: &[u8] = b"default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// One embedded file.
pub(crate) struct Asset {
    content_type: &'static [u8],
    body: &'static str,
}

const PAGE: Asset = Asset {
    content_type: b"text/html; charset=utf-8",
    body: include_str!("assets/dashboard.html"),
};
const SCRIPT: Asset = Asset {
    content_type: b"text/javascript; charset=utf-8",
    body: include_str!("assets/dashboard.js"),
};
const STYLE: Asset = Asset {
    content_type: b"text/css; charset=utf-8",
    body: include_str!("assets/dashboard.css"),
};

/// The file served at `path`, if any.
pub(crate) fn asset(path: &str) -> Option<&'static Asset> {
    match path {
        "/dashboard" => Some(&PAGE),
        "/dashboard.js" => Some(&SCRIPT),
        "/dashboard.css" => Some(&STYLE),
        _ => None,
    }
}

pub(crate) fn send(asset: &Asset, res: &mut Responder<'_>) -> Result<(), Error> {
    let headers = [
        ("Content-Type", asset.content_type),
        ("Content-Security-Policy", CSP),
        // Served by the binary: an upgraded server must not be shown an old script.
        ("Cache-Control", b"no-store"),
    ];
    res.send(200, &headers, asset.body.as_bytes())
}
