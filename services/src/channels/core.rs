//! One core's view of the channels: which are durable, publishing (a durable channel appends
//! to its log in the store first, then tells the subscribers on every core), reading back,
//! and where a subscriber starts.
//!
//! **Why live delivery cannot lose or reorder a durable message.** A message is put on the
//! cores' pub/sub hub only after its append is durable, carrying its sequence number. On both
//! store backends a log's records become visible in sequence order (if seq N is committed,
//! every seq below N is too), so a subscriber that sees seq N from the hub while expecting an
//! earlier one reads the missing ones from the store (see [`Feed`](super::feed::Feed)): the
//! hub is a fast path and a wake-up, the store is the truth.

use super::{
    jetstream::port::JsHandle,
    policy::{Durability, Retention},
    stats::ChannelStats,
};
use bytes::Bytes;
use ringwire_db::{Db, Error as DbError, LogEntry, LogInfo, Op, Outcome};
use ringwire_net::{
    stream::{Held, Hub, SendError, Wakeup},
    trace::TraceContext,
};
use ringwire_protocol::channels::{Start, valid_channel};
use std::{cell::RefCell, collections::HashMap, fmt, rc::Rc, sync::Arc, time::Duration};

/// Why the cluster bridge refuses an ephemeral publish.
const REFUSED: &str = "the cluster is unreachable and its buffer (cluster.buffer) is full";
/// Records read from the store per round trip when catching up or replaying.
pub const READ_PAGE: usize = 256;
/// On a store other nodes write too (PostgreSQL, or JetStream in cluster mode), how often a
/// core looks at the head of each durable channel it has readers of, for what another node
/// appended (a node hears only its own appends live; see `watch.rs`).
pub const SHARED_STORE_POLL: Duration = Duration::from_secs(1);
/// A durable channel with a count or bytes bound is trimmed after every this many appends
/// (trims run in the store's writer, in bounded slices, never awaited by a publisher).
pub const TRIM_EVERY: u64 = 64;

/// What the channels of a server do (`pubsub.*` keys).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Which channels are durable, and what each keeps.
    pub durable: Durability,
    /// A consumer's default time to acknowledge a delivery before it is redelivered.
    pub ack_wait: Duration,
    /// A consumer's default bound on deliveries not yet acknowledged.
    pub max_ack_pending: u32,
    /// How often an idle Server-Sent Events response sends a comment.
    pub sse_heartbeat: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            durable: Durability::default(),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 1000,
            sse_heartbeat: Duration::from_secs(15),
        }
    }
}

/// Why a channel operation failed.
#[derive(Debug)]
pub enum ChannelError {
    /// Not a valid channel name.
    BadName,
    /// A message over the store's limit (`kv.max_value`).
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Replay or consumers asked of an ephemeral channel.
    NotDurable,
    /// The cluster cannot take it now: the bridge refuses (NATS unreachable and
    /// `cluster.buffer` full), or JetStream did not answer. Retry later.
    Unavailable(String),
    /// A consumer was attached by another client meanwhile.
    Conflict,
    /// Another client attached this consumer: this one is done.
    TakenOver,
    /// The store failed (or is unavailable).
    Db(DbError),
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelError::BadName => f.write_str(
                "a channel is 1 to 64 bytes: tokens of A-Z a-z 0-9 _ : - separated by single dots",
            ),
            ChannelError::TooLarge { len, max } => write!(
                f,
                "a message of {len} bytes is over this server's limit of {max} (kv.max_value)"
            ),
            ChannelError::NotDurable => f.write_str(
                "this channel is not durable (pubsub.durable): it keeps no messages to replay",
            ),
            ChannelError::Unavailable(why) => write!(f, "{why}: not published; retry later"),
            ChannelError::Conflict => {
                f.write_str("another client attached this consumer at the same moment: retry")
            }
            ChannelError::TakenOver => f.write_str(
                "another client attached this consumer: it delivers there now, not here",
            ),
            ChannelError::Db(e) => write!(f, "{e}"),
        }
    }
}

impl From<DbError> for ChannelError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::ValueTooLarge { len, max } => ChannelError::TooLarge { len, max },
            e => ChannelError::Db(e),
        }
    }
}

/// The channels of one core.
pub struct Channels {
    pub(super) db: Db,
    hub: Rc<Hub>,
    settings: Rc<Settings>,
    stats: Arc<ChannelStats>,
    /// By durable channel: the newest notice some core's full queue has not taken yet, and
    /// the wakeup its retry waits on.
    held: RefCell<HashMap<Rc<str>, (Held, Wakeup)>>,
    /// Cluster mode: durable channels are JetStream streams, reached through the bridge.
    pub(super) js: Option<JsHandle>,
    /// Readers of durable channels other nodes append to (`watch.rs`).
    pub(super) watches: super::watch::Watches,
}

impl Channels {
    /// The channels of this core: durable ones in `db` (or, in cluster mode, in JetStream
    /// through `js`), live delivery through `hub`, counted in `stats`.
    pub fn new(
        db: Db,
        hub: Rc<Hub>,
        settings: Rc<Settings>,
        stats: Arc<ChannelStats>,
        js: Option<JsHandle>,
    ) -> Rc<Channels> {
        let durable = settings.clone();
        hub.set_durable(Box::new(move |ch| durable.durable.lookup(ch).is_some()));
        Rc::new(Channels {
            db,
            hub,
            settings,
            stats,
            held: RefCell::new(HashMap::new()),
            js,
            watches: Default::default(),
        })
    }

    /// This core's counters.
    pub fn stats(&self) -> &Arc<ChannelStats> {
        &self.stats
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The store.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// How long a durable reader with nothing to do may wait before it looks at the store
    /// again: `None` on the embedded store (only this node appends, and every append wakes
    /// it); [`SHARED_STORE_POLL`] on PostgreSQL.
    pub fn poll_interval(&self) -> Option<Duration> {
        (self.js.is_some() || matches!(self.db, Db::Postgres(..))).then_some(SHARED_STORE_POLL)
    }

    /// Whether durable channels are in JetStream (cluster mode) rather than the store.
    pub fn in_cluster(&self) -> bool {
        self.js.is_some()
    }

    /// The core's pub/sub hub.
    pub fn hub(&self) -> &Rc<Hub> {
        &self.hub
    }

    /// What `channel` keeps, if it is durable; `Err` if the name is not valid.
    pub fn durable(&self, channel: &str) -> Result<Option<&Retention>, ChannelError> {
        if !valid_channel(channel.as_bytes()) {
            return Err(ChannelError::BadName);
        }
        Ok(self.settings.durable.lookup(channel))
    }

    /// Publishes `data` on `channel`. A durable channel answers its sequence number once the
    /// append is durable (under `db.sync`); an ephemeral one answers 0 once every core with
    /// subscribers took the message (a full cross-core queue makes this wait).
    ///
    /// Nothing runs until the returned future is polled, except that on the embedded store
    /// the append is handed to the writer at once, so appends keep the order of the calls.
    ///
    /// `trace`: the publishing request's trace, carried to the store when sampled (see
    /// [`Db::traced`]) and to the cluster (a `traceparent` NATS header) in any case.
    pub fn publish(
        self: &Rc<Self>,
        channel: &str,
        data: Bytes,
        trace: Option<&TraceContext>,
    ) -> Result<impl Future<Output = Result<u64, ChannelError>> + 'static, ChannelError> {
        let retention = self.durable(channel)?.cloned();
        let this = self.clone();
        let channel: Rc<str> = Rc::from(channel);
        let write = retention
            .is_some()
            .then(|| self.append(&channel, data.clone(), trace));
        let trace = trace.copied();
        Ok(async move {
            let Some(write) = write else {
                let sent = this.announce(&channel, 0, data, trace.as_ref()).await;
                let counter = match sent {
                    Ok(()) => &this.stats.ephemeral_published,
                    Err(_) => &this.stats.refused,
                };
                ChannelStats::add(counter, 1);
                return sent.map(|()| 0);
            };
            let seq = write.await?;
            ChannelStats::add(&this.stats.durable_published, 1);
            // JetStream keeps its streams within their limits itself.
            if let Some(r) = retention.filter(|r| r.max_count.is_some() || r.max_bytes.is_some())
                && seq % TRIM_EVERY == 0
                && this.js.is_none()
            {
                let (db, stats) = (this.db.clone(), this.stats.clone());
                ringwire_reactor::spawn_local(trim(db, stats, log_name(&channel), r));
            }
            this.notify(&channel, seq, data);
            Ok(seq)
        })
    }

    /// Puts a stored message on the hub without holding its publisher: it is in the store,
    /// and a subscriber that misses a notice reads the store at the next one. So while a
    /// core's queue is full, a channel keeps at most one notice waiting (the newest replaces
    /// the older ones): what waits is bounded by the number of channels, not by the rate of
    /// publishing.
    fn notify(self: &Rc<Self>, channel: &str, seq: u64, data: Bytes) {
        let waiting = self.held.borrow().get(channel).map(|(_, w)| w.clone());
        let wakeup = waiting.clone().unwrap_or_default();
        if let Err(SendError::Held(held)) = self.hub.send(channel, seq, data, None, &wakeup) {
            let channel: Rc<str> = Rc::from(channel);
            self.held
                .borrow_mut()
                .insert(channel.clone(), (held, wakeup.clone()));
            if waiting.is_none() {
                ringwire_reactor::spawn_local(resend(self.clone(), channel, wakeup));
            }
        }
    }

    /// Puts a message on the hub, waiting while a core's queue is full. Refused (an
    /// ephemeral message only) while the cluster bridge refuses: then it went nowhere.
    async fn announce(
        &self,
        channel: &str,
        seq: u64,
        data: Bytes,
        trace: Option<&TraceContext>,
    ) -> Result<(), ChannelError> {
        let wakeup = Wakeup::new();
        match self.hub.send(channel, seq, data, trace, &wakeup) {
            Ok(()) => Ok(()),
            Err(SendError::Unavailable) => Err(ChannelError::Unavailable(REFUSED.into())),
            Err(SendError::Held(mut held)) => {
                while !self.hub.resend(&mut held, &wakeup) {
                    wakeup.woken().await;
                }
                Ok(())
            }
        }
    }

    /// The state of a durable channel (an unwritten one: first = next = 1).
    pub async fn info(&self, channel: &str) -> Result<LogInfo, ChannelError> {
        self.require_durable(channel)?;
        self.log_info(channel).await
    }

    /// Up to `limit` messages of a durable channel from `from` on.
    pub async fn read(
        &self,
        channel: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>, ChannelError> {
        self.require_durable(channel)?;
        self.log_read(channel, from, limit).await
    }

    /// The sequence number a subscriber starting at `start` reads first. `From(n)` below the
    /// first kept stays below it, so the feed reports the trimmed ones as a gap.
    pub async fn start_seq(&self, channel: &str, start: Start) -> Result<u64, ChannelError> {
        let info = self.info(channel).await?;
        Ok(match start {
            Start::New => info.next,
            // Not raised to the first kept: a reader asking for trimmed messages is told of
            // the gap (the feed finds it at its first read).
            Start::From(n) => n.clamp(1, info.next),
            Start::Last(n) => info.next.saturating_sub(n).max(info.first),
            Start::SinceMs(ms) => self
                .log_seek(channel, ms)
                .await?
                .clamp(info.first, info.next),
        })
    }

    fn require_durable(&self, channel: &str) -> Result<(), ChannelError> {
        match self.durable(channel)? {
            Some(_) => Ok(()),
            None => Err(ChannelError::NotDurable),
        }
    }
}

/// Retries `channel`'s held notice until every core took it (or a newer one replaced it and
/// got through: the entry is then the newer one's).
async fn resend(channels: Rc<Channels>, channel: Rc<str>, wakeup: Wakeup) {
    loop {
        wakeup.woken().await;
        let mut held = channels.held.borrow_mut();
        let Some((h, _)) = held.get_mut(&channel) else {
            return;
        };
        if channels.hub.resend(h, &wakeup) {
            held.remove(&channel);
            return;
        }
    }
}

/// The store log of durable channel `channel`.
pub fn log_name(channel: &str) -> Bytes {
    let mut name = Vec::with_capacity(3 + channel.len());
    name.extend_from_slice(b"ch/");
    name.extend_from_slice(channel.as_bytes());
    name.into()
}

/// Trims `log` to `retention`, a slice per write, until a slice removes less than a whole one.
pub(crate) async fn trim(db: Db, stats: Arc<ChannelStats>, log: Bytes, retention: Retention) {
    loop {
        let op = Op::Trim {
            log: log.clone(),
            trim: retention.to_trim(),
        };
        let removed = db.write(vec![op]).await.map(|o| match o.first() {
            Some(Outcome::Trim { removed }) => *removed,
            _ => 0,
        });
        match removed {
            Ok(n) => {
                ChannelStats::add(&stats.trimmed, n);
                if n < ringwire_db::TRIM_SLICE {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(log = %String::from_utf8_lossy(&log), "trim: {e}");
                return;
            }
        }
    }
}
