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

pub mod http;
mod query;
pub mod stream;

pub use query::{decode, etag, parse_etags};
