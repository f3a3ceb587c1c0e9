//! Carrying a request's trace to the store: a sampled trace's `traceparent` goes with the
//! request's database calls ([`Db::traced`]); an unsampled one records nothing downstream, so
//! it is not carried there (on PostgreSQL it would cost a statement for nothing). The cluster
//! (NATS) gets every trace, sampled or not, as W3C Trace Context asks of a proxy: a header
//! costs nothing.

use ringwire_db::Db;
use ringwire_net::trace::TraceContext;
use std::borrow::Cow;

/// `db`, carrying `trace` when it is sampled.
pub(crate) fn db_for<'d>(db: &'d Db, trace: Option<&TraceContext>) -> Cow<'d, Db> {
    match trace.filter(|t| t.sampled()) {
        Some(t) => db.traced(Some(&t.traceparent())),
        None => Cow::Borrowed(db),
    }
}
