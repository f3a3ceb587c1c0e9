//! How a PostgreSQL failure is sorted: whether it may be retried, whether the operation may
//! have been applied, whether it says anything about the database's health, and the label it
//! is counted under (its SQLSTATE class).

use crate::Error;
use std::io;

/// A failed attempt.
#[derive(Debug, Clone)]
pub(crate) enum Fail {
    /// The request's own fault (a condition that did not hold): answered as is, never
    /// retried, and a sign of a healthy database.
    Request(Error),
    /// The database or the way to it failed.
    Db(DbFail),
}

#[derive(Debug, Clone)]
pub(crate) struct DbFail {
    /// Worth another try: the connection was refused, reset or closed, or SQLSTATE 40001
    /// (serialization failure), 40P01 (deadlock), 57P01 (admin shutdown), 57P03 (starting
    /// up).
    pub(crate) transient: bool,
    /// The operation may have been applied before the failure (the connection broke while a
    /// statement was in flight). Only idempotent operations are retried then.
    pub(crate) maybe_applied: bool,
    /// The connection cannot be used again.
    pub(crate) broken: bool,
    /// The metrics label: a SQLSTATE class ("08", "40", "57", ...), "io" or "timeout".
    pub(crate) class: String,
    pub(crate) message: String,
}

impl Fail {
    /// From the driver: a server error with its SQLSTATE, or a broken connection.
    pub(crate) fn from_pg(e: tokio_postgres::Error) -> Fail {
        if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            let transient = matches!(code, "40001" | "40P01" | "57P01" | "57P03");
            // A serialization failure or a deadlock rolled the transaction back: nothing of
            // it applied. An admin shutdown may have come after a commit.
            let maybe_applied = !matches!(code, "40001" | "40P01" | "57P03");
            return Fail::Db(DbFail {
                transient,
                maybe_applied,
                broken: code.starts_with("57P") || code.starts_with("08"),
                class: code.get(..2).unwrap_or("??").to_string(),
                message: format!("PostgreSQL error {code}: {}", db.message()),
            });
        }
        let io_kind = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<io::Error>())
            .map(io::Error::kind);
        let closed = e.is_closed() || io_kind.is_some();
        Fail::Db(DbFail {
            transient: closed,
            maybe_applied: true,
            broken: true,
            class: if closed { "io".into() } else { "client".into() },
            message: format!("PostgreSQL connection: {e}"),
        })
    }

    /// A socket error before anything was sent (connect): always retriable, never applied.
    pub(crate) fn io(e: &io::Error, message: String) -> Fail {
        let transient = matches!(
            e.kind(),
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted
        );
        Fail::Db(DbFail {
            transient,
            maybe_applied: false,
            broken: true,
            class: "io".into(),
            message,
        })
    }

    pub(crate) fn io_msg(message: &str) -> Fail {
        Fail::Db(DbFail {
            transient: false,
            maybe_applied: false,
            broken: true,
            class: "io".into(),
            message: message.into(),
        })
    }

    /// A time limit passed (connect, acquire or statement). Not retried: the time is spent.
    pub(crate) fn timeout(message: String) -> Fail {
        Fail::Db(DbFail {
            transient: false,
            maybe_applied: true,
            broken: true,
            class: "timeout".into(),
            message,
        })
    }

    /// Too many requests wait for a connection: refused at once, nothing sent, not a sign
    /// of the database's health.
    pub(crate) fn busy(message: String) -> Fail {
        Fail::Db(DbFail {
            transient: false,
            maybe_applied: false,
            broken: false,
            class: "busy".into(),
            message,
        })
    }

    /// Marks a failure that happened before the statement was sent (acquiring a connection):
    /// nothing can have been applied.
    pub(crate) fn before_sending(mut self) -> Fail {
        if let Fail::Db(d) = &mut self {
            d.maybe_applied = false;
        }
        self
    }

    pub(crate) fn broken(&self) -> bool {
        matches!(self, Fail::Db(d) if d.broken)
    }
}
