//! The key-value service: keys of 1 to 511 bytes, values up to `kv.max_value`, a version per
//! key (the HTTP `ETag`), compare-and-set on it, prefix listings.
//!
//! HTTP, under `/kv/` ([`http`]):
//!
//! | request | answer |
//! |---|---|
//! | `PUT /kv/{key}` (body = value) | `201` created / `204` updated, `ETag`; once durable per `db.sync` |
//! | `GET`/`HEAD /kv/{key}` | `200` value + `ETag`; `404`; `304` for a matching `If-None-Match` |
//! | `DELETE /kv/{key}` | `204`; `404` when absent |
//! | `If-Match` on PUT/DELETE | compare-and-set: `412` unless the current version is listed (strong comparison) |
//! | `If-None-Match` on PUT | `*`: create only; tags: `412` if the current version is listed |
//! | `GET /kv/?prefix=P&limit=N&after=K` | `{"keys": [...], "next": K or null}` |
//!
//! `{key}` is the percent-decoded rest of the path.
//!
//! **Reserved keys.** Keys starting with a NUL byte belong to the server (a channel
//! consumer's state, see `channels::consume`): both services refuse to read or write them,
//! and listings skip them.

pub mod http;
pub(crate) mod query;
pub mod stream;

pub use query::{decode, etag, parse_etags};

/// Why a reserved key is refused.
pub const RESERVED: &str = "keys starting with a NUL byte (%00) are reserved for the server";

/// Whether `key` (or a listing prefix) is reserved for the server.
pub fn reserved(key: &[u8]) -> bool {
    key.first() == Some(&0)
}

/// Where a listing with an empty prefix starts so that it skips the reserved keys: after the
/// largest reserved key there can be, unless `after` is later already.
pub fn listing_after(prefix: &[u8], after: Option<&[u8]>) -> Option<Vec<u8>> {
    if !prefix.is_empty() {
        return after.map(<[u8]>::to_vec);
    }
    let mut last_reserved = vec![0xff; ringwire_db::MAX_KEY];
    last_reserved[0] = 0;
    Some(match after {
        Some(a) if a > &last_reserved[..] => a.to_vec(),
        _ => last_reserved,
    })
}
