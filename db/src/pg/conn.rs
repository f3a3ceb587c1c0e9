//! One connection to PostgreSQL, opened on the current core's reactor: TCP connect, startup
//! and authentication through `tokio-postgres` over [`PgSocket`], then every statement of the
//! fixed set prepared once.

use super::{
    Fail, PgSettings,
    socket::PgSocket,
    sql::{self, Stmt},
};
use ringwire_reactor::{net::TcpStream, time};
use std::{
    future::{Future, poll_fn},
    net::{SocketAddr, ToSocketAddrs},
    pin::pin,
    task::Poll,
    time::{Duration, Instant},
};
use tokio_postgres::{Client, NoTls, Statement, config::Host};

/// Where and how to connect: parsed and resolved once, when the store opens.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) connect_timeout: Duration,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Target")
            .field("addrs", &self.addrs)
            .field("dbname", &self.config.get_dbname())
            .field("user", &self.config.get_user())
            .finish()
    }
}

impl Target {
    /// Parses `url` (`postgres://user:password@host:port/db?...`) and resolves its hosts.
    pub(crate) fn new(settings: &PgSettings) -> Result<Target, String> {
        let mut config: tokio_postgres::Config = settings
            .url
            .parse()
            .map_err(|e| format!("db.url is not a PostgreSQL URL: {e}"))?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(
                "db.url asks for sslmode=require; TLS to PostgreSQL is not built yet \
                 (use a local network or a TLS tunnel)"
                    .into(),
            );
        }
        let ports = config.get_ports().to_vec();
        let mut addrs = Vec::new();
        for (i, host) in config.get_hosts().iter().enumerate() {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => {
                    let found = (name.as_str(), port)
                        .to_socket_addrs()
                        .map_err(|e| format!("db.url: cannot resolve {name}: {e}"))?;
                    addrs.extend(found);
                }
                #[cfg(unix)]
                Host::Unix(path) => {
                    return Err(format!(
                        "db.url names a Unix socket ({}); use a TCP address (host:port)",
                        path.display()
                    ));
                }
            }
        }
        if addrs.is_empty() {
            return Err("db.url names no host (postgres://user:password@host:port/db)".into());
        }
        if config.get_application_name().is_none() {
            config.application_name("ringwire");
        }
        // The server gives up on a statement after query_timeout: a startup parameter, not SQL.
        // A transaction left open (it cannot be: a connection not left clean is closed) would
        // hold its locks; the server ends it after this.
        let timeout = format!(
            "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
            settings.query_timeout.as_millis().max(1),
            (settings.query_timeout * 2)
                .max(Duration::from_secs(5))
                .as_millis()
        );
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} {timeout}"),
            _ => timeout,
        };
        config.options(options);
        Ok(Target {
            config,
            addrs,
            connect_timeout: settings.connect_timeout,
        })
    }
}

/// A ready connection: its client and its prepared statements.
pub(crate) struct Conn {
    pub(crate) client: Client,
    stmts: Vec<Statement>,
    /// The connection's protocol task, which owns the socket.
    task: ringwire_reactor::JoinHandle<()>,
    /// Whether the session's application_name may still name a traced request's
    /// `traceparent` (see [`super::exec::run`]).
    pub(crate) traced: std::cell::Cell<bool>,
}

impl Conn {
    pub(crate) fn stmt(&self, s: Stmt) -> &Statement {
        &self.stmts[s as usize]
    }

    /// Closes the socket now. Dropping the client alone closes it only once every answer it
    /// waits for has come, which a dead or partitioned server never sends.
    pub(crate) fn kill(self) {
        self.task.abort();
    }

    /// Whether the connection is gone (the server closed it, or its task ended).
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// A cheap round trip, for the health check on checkout. A session still named for a
    /// traced request gets its own name back first, in the same flight, so that the check
    /// does not run under that request's trace.
    pub(crate) async fn ping(&self) -> Result<(), Fail> {
        let ping = self.client.query_one(self.stmt(Stmt::Ping), &[]);
        if !self.traced.get() {
            return ping.await.map(|_| ()).map_err(Fail::from_pg);
        }
        let (reset, pinged) = both(self.client.batch_execute(sql::UNTRACE), ping).await;
        if reset.is_ok() {
            self.traced.set(false);
        }
        pinged.map(|_| ()).map_err(Fail::from_pg)
    }
}

/// Opens a TCP connection (trying each address), authenticates and prepares the statements,
/// all within the connect timeout.
pub(crate) async fn open(target: &Target, with_statements: bool) -> Result<Conn, Fail> {
    let deadline = Instant::now() + target.connect_timeout;
    match time::timeout_at(deadline, open_inner(target, with_statements)).await {
        Ok(r) => r,
        Err(_) => Err(Fail::timeout(format!(
            "connecting to PostgreSQL took longer than db.connect_timeout ({:?})",
            target.connect_timeout
        ))),
    }
}

async fn open_inner(target: &Target, with_statements: bool) -> Result<Conn, Fail> {
    let mut last = None;
    let mut stream = None;
    for addr in &target.addrs {
        match TcpStream::connect(*addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(Fail::io(&e, format!("connecting to {addr}: {e}"))),
        }
    }
    let Some(stream) = stream else {
        return Err(last.unwrap_or_else(|| Fail::io_msg("no address to connect to")));
    };
    let _ = stream.set_nodelay(true);
    let (client, connection) = target
        .config
        .connect_raw(PgSocket::new(stream), NoTls)
        .await
        .map_err(Fail::from_pg)?;
    // The connection's own task: it moves messages between the socket and the client until
    // the client is dropped or the server goes away.
    let task = ringwire_reactor::spawn_local(async move {
        if let Err(e) = connection.await {
            tracing::debug!("postgres connection ended: {e}");
        }
    });
    let stmts = if with_statements {
        match prepare_all(&client).await {
            Ok(s) => s,
            Err(f) => {
                task.abort();
                return Err(f);
            }
        }
    } else {
        Vec::new()
    };
    Ok(Conn {
        client,
        stmts,
        task,
        traced: std::cell::Cell::new(false),
    })
}

/// Prepares every statement of the fixed set at once: tokio-postgres pipelines requests
/// polled together, so this is about one round trip instead of one per statement.
async fn prepare_all(client: &Client) -> Result<Vec<Statement>, Fail> {
    let mut pending: Vec<_> = Stmt::ALL
        .iter()
        .map(|s| Some(Box::pin(client.prepare(s.sql()))))
        .collect();
    let mut done: Vec<Option<Statement>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(Ok(st)) => {
                        *out = Some(st);
                        *slot = None;
                    }
                    std::task::Poll::Ready(Err(e)) => {
                        return std::task::Poll::Ready(Err(Fail::from_pg(e)));
                    }
                    std::task::Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(Ok(()))
        }
    })
    .await?;
    Ok(done.into_iter().flatten().collect())
}

/// Runs `BEGIN`, `COMMIT` or `ROLLBACK` (static text, no parameters).
pub(crate) async fn txn(conn: &Conn, what: &'static str) -> Result<(), Fail> {
    debug_assert!([sql::txn::BEGIN, sql::txn::COMMIT, sql::txn::ROLLBACK].contains(&what));
    conn.client.batch_execute(what).await.map_err(Fail::from_pg)
}

/// Polls `a` then `b` (in that order, so `a`'s request is sent first) until both are done.
pub(crate) async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(r) = a.as_mut().poll(cx)
        {
            ra = Some(r);
        }
        if rb.is_none()
            && let Poll::Ready(r) = b.as_mut().poll(cx)
        {
            rb = Some(r);
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                (ra, rb) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}
