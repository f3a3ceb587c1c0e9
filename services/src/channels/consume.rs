//! A named consumer on a stream (CONSUME, ACK, NAK, DELETE_CONSUMER): the I/O around the
//! [`Consumer`] state machine.
//!
//! **State** lives in the kv under the reserved key `\0ch/<channel>\0<name>` (see
//! `docs/STORAGE.md`), written only with compare-and-set on its version. Attaching reads it
//! (or starts a new consumer at the CONSUME's start), raises its epoch and writes it back: a
//! second attach, on any core, makes the first one's next write fail, and that stream ends
//! with TAKEN_OVER. One owner at a time.
//!
//! **Acknowledgements are durable before they are answered.** An ACK updates the state at
//! once and waits for a write holding it: writes run one at a time per consumer, and each
//! carries every acknowledgement made before it started, so many ACKs share one write. After a
//! crash, what was delivered and not acknowledged is delivered again (with a count of at least
//! 2; exact counts are kept in memory only).
//!
//! **Deliveries** are read from the channel's log (at once on the embedded store) when the
//! state machine allows (redeliveries first, then new messages while fewer than
//! `max_ack_pending` are in flight), woken by the channel's hub on appends, by acks, and by a
//! timer at the earliest `ack_wait` deadline.

use super::{
    consumer::{Config, Consumer, Stored},
    core::{ChannelError, Channels},
    stats::{ChannelStats, Open},
    stream::{Outbox, encoded, encoded_error},
};
use crate::turn::{Finish, Turn};
use bytes::Bytes;
use ringwire_db::Error as DbError;
use ringwire_net::stream::Wakeup;
use ringwire_protocol::channels::{Answer, Op as WireOp, Start, Status, encode_message};
use ringwire_reactor::JoinHandle;
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    sync::Arc,
    task::{Poll, Waker},
    time::{Duration, Instant},
};

/// Attempts to attach while the state keeps changing under the compare-and-set.
const ATTACH_TRIES: u32 = 5;
/// Deliveries read and sent per round.
const BATCH: usize = 64;

/// The kv key of consumer `name` of `channel`.
pub fn state_key(channel: &str, name: &str) -> Bytes {
    let mut k = Vec::with_capacity(5 + channel.len() + name.len());
    k.extend_from_slice(b"\0ch/");
    k.extend_from_slice(channel.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k.into()
}

/// The attached consumer's state, shared by the delivery task and the stream's ACKs.
struct Shared {
    channels: Rc<Channels>,
    key: Bytes,
    consumer: RefCell<Option<Consumer>>,
    /// The version of the key our last write made (compare-and-set token).
    version: Cell<u64>,
    /// Changes of the state made so far (acks, deliveries) / known durable (counters).
    made: Cell<u64>,
    durable: Cell<u64>,
    /// A write is running; the others wait in `waiting` for its end.
    writing: Cell<bool>,
    waiting: RefCell<Vec<Waker>>,
    taken_over: Cell<bool>,
    /// Wakes the delivery task.
    wakeup: Wakeup,
}

/// A CONSUME on a stream.
pub(crate) struct Consuming {
    shared: Rc<Shared>,
    /// Done once the attach finished (or failed).
    attached: Rc<Turn>,
    stats: Arc<ChannelStats>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Consuming {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Consuming {
    /// Attaches consumer `name` of `channel` and starts delivering into `outbox`; the
    /// answer goes into `slot`.
    pub(crate) fn attach(
        channels: &Rc<Channels>,
        channel: &str,
        name: &str,
        (ack_wait_ms, max_ack_pending, start): (u32, u32, Start),
        (id, slot): (u32, Rc<RefCell<Option<Vec<u8>>>>),
        outbox: Rc<Outbox>,
        stream: Wakeup,
    ) -> Consuming {
        let settings = channels.settings();
        let cfg = Config {
            ack_wait: match ack_wait_ms {
                0 => settings.ack_wait,
                ms => Duration::from_millis(ms.into()),
            },
            max_ack_pending: match max_ack_pending {
                0 => settings.max_ack_pending,
                n => n,
            },
        };
        let shared = Rc::new(Shared {
            channels: channels.clone(),
            key: state_key(channel, name),
            consumer: RefCell::new(None),
            version: Cell::new(0),
            made: Cell::new(0),
            durable: Cell::new(0),
            writing: Cell::new(false),
            waiting: RefCell::new(Vec::new()),
            taken_over: Cell::new(false),
            wakeup: outbox.room.clone(),
        });
        let attached = Rc::new(Turn::default());
        let task = ringwire_reactor::spawn_local(run(
            channels.clone(),
            channel.to_string(),
            shared.clone(),
            (cfg, start, ack_wait_ms != 0 || max_ack_pending != 0),
            (id, slot, Finish(attached.clone())),
            outbox,
            stream,
        ));
        Consuming {
            shared,
            attached,
            stats: channels.stats().clone(),
            task: Some(task),
        }
    }

    /// ACK (`ack`) or NAK of `seq`: the answer, once the acknowledgement is durable.
    pub(crate) fn settle(
        &self,
        seq: u64,
        ack: bool,
    ) -> impl Future<Output = Result<Answer<'static>, ChannelError>> + 'static {
        let shared = self.shared.clone();
        let stats = self.stats.clone();
        let attached = self.attached.clone();
        async move {
            // An ACK pipelined right behind its CONSUME waits for the attach (a resuming
            // client acknowledges what it processed before it reconnected).
            attached.wait().await;
            let done = {
                let mut c = shared.consumer.borrow_mut();
                match c.as_mut() {
                    None => {
                        return Ok(Answer::Failed {
                            status: Status::BadRequest,
                            message: "the CONSUME on this stream failed: nothing to acknowledge",
                        });
                    }
                    Some(c) if ack => c.ack(seq),
                    Some(c) => c.nak(seq, Instant::now()),
                }
            };
            if done.is_err() {
                return Ok(not_pending());
            }
            // Room for another delivery, or a redelivery now.
            shared.wakeup.wake();
            if !ack {
                return Ok(Answer::Done);
            }
            let mine = shared.made.get() + 1;
            shared.made.set(mine);
            persist(&shared, mine).await?;
            ChannelStats::add(&stats.acks, 1);
            Ok(Answer::Done)
        }
    }

    /// DELETE_CONSUMER.
    pub(crate) fn delete(
        channels: &Rc<Channels>,
        channel: &str,
        name: &str,
    ) -> impl Future<Output = Result<Answer<'static>, ChannelError>> + 'static {
        let check = channels.durable(channel).and_then(|d| match d {
            Some(_) => Ok(()),
            None => Err(ChannelError::NotDurable),
        });
        let (channels, key) = (channels.clone(), state_key(channel, name));
        async move {
            check?;
            match channels.state_delete(&key).await? {
                true => Ok(Answer::Done),
                false => Ok(Answer::Failed {
                    status: Status::NotFound,
                    message: "no such consumer",
                }),
            }
        }
    }
}

fn not_pending() -> Answer<'static> {
    Answer::Failed {
        status: Status::NotFound,
        message: "that sequence number is not in flight (never delivered, already \
                  acknowledged, or trimmed)",
    }
}

/// Waits until acknowledgement number `mine` is durable, writing the state if nobody is.
async fn persist(shared: &Shared, mine: u64) -> Result<(), ChannelError> {
    loop {
        if shared.taken_over.get() {
            return Err(taken_over());
        }
        if shared.durable.get() >= mine {
            return Ok(());
        }
        if shared.writing.get() {
            std::future::poll_fn(|cx| {
                if shared.writing.get() {
                    shared.waiting.borrow_mut().push(cx.waker().clone());
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
            .await;
            continue;
        }
        let upto = shared.made.get();
        let result = {
            let _writing = Writing::start(shared);
            write_state(shared).await
        };
        match result {
            Ok(()) => shared.durable.set(shared.durable.get().max(upto)),
            Err(e) => return Err(e),
        }
    }
}

/// Marks a state write running; its end (however the write ends) wakes the waiters.
struct Writing<'a>(&'a Shared);

impl<'a> Writing<'a> {
    fn start(shared: &'a Shared) -> Writing<'a> {
        shared.writing.set(true);
        Writing(shared)
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.writing.set(false);
        for w in self.0.waiting.take() {
            w.wake();
        }
    }
}

/// Writes the consumer's state with compare-and-set; another attach makes it fail for good.
async fn write_state(shared: &Shared) -> Result<(), ChannelError> {
    let Some(stored) = shared.consumer.borrow().as_ref().map(Consumer::stored) else {
        return Ok(());
    };
    let written = shared
        .channels
        .state_put(&shared.key, stored.encode(), Some(shared.version.get()))
        .await;
    match written {
        Ok(version) => {
            shared.version.set(version);
            Ok(())
        }
        Err(ChannelError::Conflict) => {
            shared.taken_over.set(true);
            shared.wakeup.wake();
            Err(taken_over())
        }
        Err(e) => Err(e),
    }
}

fn taken_over() -> ChannelError {
    ChannelError::TakenOver
}

/// The delivery task: attach, answer, then deliver until the stream goes away.
async fn run(
    channels: Rc<Channels>,
    channel: String,
    shared: Rc<Shared>,
    (cfg, start, explicit): (Config, Start, bool),
    (id, slot, attaching): (u32, Rc<RefCell<Option<Vec<u8>>>>, Finish),
    outbox: Rc<Outbox>,
    stream: Wakeup,
) {
    let stats = channels.stats().clone();
    let _attached = Open::new(&stats.consumers);
    let hub_mail = channels.hub().join(&channel, &shared.wakeup);
    // Woken when another node appended (each round reads the channel's head anyway).
    let _watch = channels.watch(&channel, shared.wakeup.clone());
    hub_mail.routed().await;
    let attached = attach(&channels, &channel, &shared, cfg, start, explicit).await;
    drop(attaching);
    let ok = attached.is_ok();
    *slot.borrow_mut() = Some(encoded(id, WireOp::Consume, &attached));
    stream.wake();
    if !ok {
        outbox.ended.set(true);
        return;
    }
    loop {
        while hub_mail.pop().is_some() {}
        hub_mail.clear_overflow();
        if shared.taken_over.get() {
            let mut bytes = outbox.bytes.borrow_mut();
            bytes.extend_from_slice(&encoded_error(id, WireOp::Consume, &taken_over()));
            outbox.ended.set(true);
            drop(bytes);
            stream.wake();
            return;
        }
        let info = match channels.log_info(&channel).await {
            Ok(i) => i,
            Err(e) => return end(id, &outbox, &stream, e),
        };
        let mut sent = 0;
        while sent < BATCH && outbox.bytes.borrow().len() < super::stream::MAX_BACKLOG {
            let next =
                shared.consumer.borrow_mut().as_mut().and_then(|c| {
                    c.next_delivery(Instant::now(), info.first.max(1), info.next.max(1))
                });
            let Some(d) = next else { break };
            let record = match channels.log_read(&channel, d.seq, 1).await {
                Ok(r) => r.into_iter().next().filter(|r| r.seq == d.seq),
                Err(e) => return end(id, &outbox, &stream, e),
            };
            // Trimmed meanwhile: the state machine skips it at the next round.
            if let Some(r) = record {
                encode_message(r.seq, d.deliveries, &r.data, &mut outbox.bytes.borrow_mut());
                sent += 1;
                ChannelStats::add(&stats.deliveries, 1);
                if d.deliveries > 1 {
                    ChannelStats::add(&stats.redeliveries, 1);
                }
            }
        }
        if sent > 0 {
            stream.wake();
            // What was delivered is kept too (a restart then counts redeliveries from 2),
            // without holding the deliveries up.
            let change = shared.made.get() + 1;
            shared.made.set(change);
            let s = shared.clone();
            ringwire_reactor::spawn_local(async move {
                let _ = persist(&s, change).await;
            });
            continue;
        }
        // With the client's backlog full nothing can be sent, a due redelivery included:
        // wait for room only (a deadline in the past would make this loop spin).
        let full = outbox.bytes.borrow().len() >= super::stream::MAX_BACKLOG;
        let deadline = shared
            .consumer
            .borrow()
            .as_ref()
            .and_then(Consumer::next_deadline)
            .filter(|_| !full);
        wait(&shared.wakeup, deadline).await;
    }
}

/// Reads or creates the consumer, takes ownership (epoch + 1, compare-and-set).
async fn attach(
    channels: &Rc<Channels>,
    channel: &str,
    shared: &Shared,
    cfg: Config,
    start: Start,
    explicit: bool,
) -> Result<Answer<'static>, ChannelError> {
    if channels.durable(channel)?.is_none() {
        return Err(ChannelError::NotDurable);
    }
    // A compare-and-set that fails means the state changed between the read and the write:
    // the previous owner's last write landing, or another attach. Read again and take over
    // (the last attach wins; the other one's next write fails with TAKEN_OVER).
    let mut tries = 0;
    let consumer = loop {
        tries += 1;
        let (mut consumer, expect) = match channels.state_get(&shared.key).await? {
            Some((value, version)) => {
                let stored = Stored::decode(&value).map_err(|why| {
                    ChannelError::Db(DbError::Storage(format!("consumer state: {why}")))
                })?;
                let mut c = Consumer::restore(stored, Instant::now());
                if explicit {
                    c.set_config(cfg);
                }
                (c, Some(version))
            }
            None => (
                Consumer::new(cfg, channels.start_seq(channel, start).await?),
                None,
            ),
        };
        consumer.set_epoch(consumer.epoch() + 1);
        let encoded = consumer.stored().encode();
        match channels.state_put(&shared.key, encoded, expect).await {
            Ok(version) => {
                shared.version.set(version);
                break consumer;
            }
            Err(ChannelError::Conflict) if tries < ATTACH_TRIES => {}
            Err(e) => return Err(e),
        }
    };
    *shared.consumer.borrow_mut() = Some(consumer);
    let info = channels.info(channel).await?;
    Ok(Answer::Subscribed {
        first: info.first,
        next: info.next,
    })
}

fn end(id: u32, outbox: &Outbox, stream: &Wakeup, e: ChannelError) {
    let mut bytes = outbox.bytes.borrow_mut();
    bytes.extend_from_slice(&encoded_error(id, WireOp::Consume, &e));
    outbox.ended.set(true);
    drop(bytes);
    stream.wake();
}

/// Waits for `wakeup` or until `deadline`.
async fn wait(wakeup: &Wakeup, deadline: Option<Instant>) {
    let mut timer = deadline.map(|d| Box::pin(ringwire_reactor::time::sleep_until(d)));
    std::future::poll_fn(|cx| {
        if wakeup.poll_woken(cx).is_ready() {
            return Poll::Ready(());
        }
        match timer.as_mut() {
            Some(t) => t.as_mut().poll(cx),
            None => Poll::Pending,
        }
    })
    .await
}
