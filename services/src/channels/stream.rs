//! Channels over the stream protocol: service `channels` (messages in
//! `ringwire_protocol::channels`, rules in `docs/PROTOCOL.md`).
//!
//! Requests of one stream are answered in the order they came: each takes an answer slot when
//! it is read, and slots go out front first as they are filled. Publishes run as local tasks,
//! each after the stream's previous one ([`Turn`]), so one publisher's messages keep their
//! order on every backend, while many of them share a commit. A stream holds at most
//! [`MAX_IN_FLIGHT`] unanswered requests and about [`MAX_BACKLOG`] bytes of unsent answers and
//! messages; past either it stops reading, and the bytes it has not consumed keep the client's
//! window closed. A subscription (SUB) or a consumer (CONSUME) runs as a task of its own that
//! fills a bounded outbox, woken by the channel's hub.

use super::{
    consume::Consuming,
    core::{ChannelError, Channels},
    feed::Feed,
};
use crate::{
    framed::{Inbox, Next},
    turn::{Finish, Turn},
};
use bytes::Bytes;
use ringwire_db::Error as DbError;
use ringwire_net::auth::Need;
use ringwire_net::edge::{Access, Denial};
use ringwire_net::stream::{Progress, StreamHandler, StreamService, Wakeup};
use ringwire_protocol::channels::{self as wire, Answer, Op, Request, Status, encode_answer};
use ringwire_reactor::JoinHandle;
use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    rc::Rc,
};

/// Requests one stream may have unanswered.
pub const MAX_IN_FLIGHT: usize = 256;
/// Answer and message bytes one stream may have waiting for the client's window.
pub const MAX_BACKLOG: usize = 1 << 20;
/// Messages a subscription takes from its feed at a time.
pub(crate) const FEED_BATCH: usize = 64;

/// The `channels` stream service of one core.
pub struct ChannelsStream {
    channels: Rc<Channels>,
    prepaid: Rc<Cell<usize>>,
}

impl ChannelsStream {
    /// Serves `channels`.
    pub fn new(channels: Rc<Channels>) -> ChannelsStream {
        ChannelsStream {
            channels,
            prepaid: Rc::new(Cell::new(0)),
        }
    }
}

impl StreamService for ChannelsStream {
    fn open(&self, wakeup: Wakeup) -> Box<dyn StreamHandler> {
        self.open_for(wakeup, Access::open())
    }

    fn open_for(&self, wakeup: Wakeup, access: Access) -> Box<dyn StreamHandler> {
        Box::new(Handler {
            inbox: Inbox::new(self.prepaid.clone()),
            st: State {
                channels: self.channels.clone(),
                slots: VecDeque::new(),
                last_publish: None,
                outbox: Rc::new(Outbox::default()),
                attached: None,
                wakeup,
                access,
            },
        })
    }
}

/// An answer, filled when its request is done.
pub(crate) type Slot = Rc<RefCell<Option<Vec<u8>>>>;

/// What a subscription or consumer task hands to the stream.
#[derive(Default)]
pub(crate) struct Outbox {
    /// Encoded MESSAGEs (and a last failed answer if the subscription ended).
    pub(crate) bytes: RefCell<Vec<u8>>,
    /// Woken when the stream took bytes out.
    pub(crate) room: Wakeup,
    /// The subscription ended (its last words are in `bytes`): the stream ends too.
    pub(crate) ended: Cell<bool>,
    /// The SUB/CONSUME answer went out: messages may follow.
    pub(crate) open: Cell<bool>,
}

impl Outbox {
    /// Waits while the stream has a full backlog of this outbox's bytes.
    pub(crate) async fn wait_for_room(&self) {
        while self.bytes.borrow().len() >= MAX_BACKLOG {
            self.room.woken().await;
        }
    }
}

/// A stream's SUB or CONSUME.
enum Attached {
    Sub(JoinHandle<()>),
    Consumer(Consuming),
}

struct Handler {
    inbox: Inbox,
    st: State,
}

/// Everything of a stream but its input.
struct State {
    channels: Rc<Channels>,
    /// Answers in request order; the front goes out once filled. The flag marks the SUB or
    /// CONSUME answer, after which messages may go out.
    slots: VecDeque<(Slot, bool)>,
    /// The turn of the stream's latest publish.
    last_publish: Option<Rc<Turn>>,
    outbox: Rc<Outbox>,
    attached: Option<Attached>,
    wakeup: Wakeup,
    /// The client, as the edge sees it: every request is checked and counted here.
    access: Access,
}

impl Drop for State {
    fn drop(&mut self) {
        if let Some(Attached::Sub(task)) = self.attached.take() {
            task.abort();
        }
    }
}

impl StreamHandler for Handler {
    fn receive(&mut self, data: &[u8], end: bool) {
        self.inbox.receive(data, end);
    }

    fn poll(&mut self, out: &mut Vec<u8>) -> Progress {
        let st = &mut self.st;
        st.flush(out);
        let max_message = st.channels.db().max_value() + 1024;
        let mut partial = false;
        while !self.inbox.failed && out.len() < MAX_BACKLOG && st.slots.len() < MAX_IN_FLIGHT {
            let (body, used) = match self.inbox.next(max_message) {
                Next::Message { body, used } => (body, used),
                Next::Partial => {
                    partial = true;
                    break;
                }
                Next::TooLarge { len, id } => {
                    let why = format!(
                        "a message of {len} bytes is over this server's limit of {max_message} \
                         (kv.max_value + 1 KiB)"
                    );
                    st.refuse(id, Op::Pub, Status::TooLarge, &why);
                    self.inbox.failed = true;
                    break;
                }
            };
            let fatal = match wire::parse_request(body) {
                Ok(req) => st.handle(req),
                Err(e) => {
                    let (id, op) = id_and_op(body);
                    st.refuse(id, op, Status::BadRequest, &e.to_string());
                    true
                }
            };
            self.inbox.advance(used);
            self.inbox.failed |= fatal;
        }
        if partial && self.inbox.ended_inside_a_message() {
            st.refuse(
                0,
                Op::Pub,
                Status::BadRequest,
                "the stream ended inside a message",
            );
            self.inbox.failed = true;
        }
        st.flush(out);
        let consumed = self.inbox.consumed(partial);
        // Done once every answer went out and either the subscription ended (its last words
        // sent) or the client finished its side (which ends a subscription, as on `pubsub`).
        let answered = st.slots.is_empty();
        let sub_over = st.outbox.ended.get() && st.outbox.bytes.borrow().is_empty();
        let client_over = (self.inbox.ended || self.inbox.failed) && self.inbox.is_drained();
        Progress {
            consumed,
            done: answered && (sub_over || client_over),
        }
    }
}

impl State {
    /// Moves filled answers (in order) and then subscription messages into `out`.
    fn flush(&mut self, out: &mut Vec<u8>) {
        while let Some((slot, opens)) = self.slots.front() {
            let Some(answer) = slot.borrow_mut().take() else {
                break;
            };
            out.extend_from_slice(&answer);
            if *opens {
                self.outbox.open.set(true);
            }
            self.slots.pop_front();
        }
        if self.outbox.open.get() && out.len() < MAX_BACKLOG {
            let mut bytes = self.outbox.bytes.borrow_mut();
            if !bytes.is_empty() {
                out.append(&mut bytes);
                self.outbox.room.wake();
            }
        }
    }

    /// A slot whose answer is known now.
    fn answer(&mut self, id: u32, op: Op, answer: &Answer<'_>) {
        let mut bytes = Vec::new();
        encode_answer(id, op, answer, &mut bytes);
        self.slots
            .push_back((Rc::new(RefCell::new(Some(bytes))), false));
    }

    /// A slot answering `e` now.
    fn answer_error(&mut self, id: u32, op: Op, e: &ChannelError) {
        let bytes = encoded_error(id, op, e);
        self.slots
            .push_back((Rc::new(RefCell::new(Some(bytes))), false));
    }

    /// A slot answering `status` now.
    fn refuse(&mut self, id: u32, op: Op, status: Status, why: &str) {
        self.answer(
            id,
            op,
            &Answer::Failed {
                status,
                message: why,
            },
        );
    }

    /// A slot filled later by `work`, run as a local task.
    fn spawn(&mut self, opens: bool, work: impl Future<Output = Vec<u8>> + 'static) {
        let slot: Slot = Rc::new(RefCell::new(None));
        self.slots.push_back((slot.clone(), opens));
        let wakeup = self.wakeup.clone();
        ringwire_reactor::spawn_local(async move {
            let answer = work.await;
            *slot.borrow_mut() = Some(answer);
            wakeup.wake();
        });
    }

    /// Handles a request; true if the stream cannot go on.
    fn handle(&mut self, req: Request<'_>) -> bool {
        let (id, op) = (req.id(), req.op());
        let checked = match &req {
            Request::Pub { channel, .. } => self.access.request(Need::Pub(channel)),
            Request::Info { channel, .. }
            | Request::Sub { channel, .. }
            | Request::Consume { channel, .. }
            | Request::DeleteConsumer { channel, .. } => self.access.request(Need::Sub(channel)),
            // Within a CONSUME this stream was allowed.
            Request::Ack { .. } | Request::Nak { .. } => self.access.admit(),
        };
        if let Err(denial) = checked {
            let status = match denial {
                Denial::MissingToken | Denial::InvalidToken => Status::Unauthorized,
                Denial::Forbidden | Denial::ProtectedMode => Status::Forbidden,
                Denial::RateLimited(_) => Status::RateLimited,
                Denial::Overloaded => Status::Unavailable,
            };
            self.refuse(id, op, status, denial.code());
            return false;
        }
        match req {
            Request::Pub { channel, data, .. } => {
                let publish =
                    match self
                        .channels
                        .publish(channel, Bytes::copy_from_slice(data), None)
                    {
                        Ok(p) => p,
                        Err(e) => {
                            self.answer_error(id, op, &e);
                            return false;
                        }
                    };
                let me = Rc::new(Turn::default());
                let prev = self.last_publish.replace(me.clone());
                self.spawn(false, async move {
                    let _finish = Finish(me);
                    if let Some(prev) = prev {
                        prev.wait().await;
                    }
                    encoded(id, op, &publish.await.map(|seq| Answer::Published { seq }))
                });
            }
            Request::Info { channel, .. } => {
                let channels = self.channels.clone();
                let channel = channel.to_string();
                self.spawn(false, async move {
                    let info = channels.info(&channel).await.map(|i| Answer::Info {
                        first: i.first,
                        next: i.next,
                        count: i.count,
                        bytes: i.bytes,
                    });
                    encoded(id, op, &info)
                });
            }
            Request::Sub { channel, start, .. } => {
                if self.attached.is_some() {
                    self.refuse(id, op, Status::BadRequest, ONE_SUBSCRIPTION);
                    return true;
                }
                if let Err(e) = self.channels.durable(channel) {
                    self.answer_error(id, op, &e);
                    return false;
                }
                let feed = Feed::join(&self.channels, channel, self.outbox.room.clone());
                let slot: Slot = Rc::new(RefCell::new(None));
                self.slots.push_back((slot.clone(), true));
                let task = ringwire_reactor::spawn_local(super::subscribe::subscribe(
                    self.channels.clone(),
                    channel.to_string(),
                    start,
                    (id, slot),
                    feed,
                    self.outbox.clone(),
                    self.wakeup.clone(),
                ));
                self.attached = Some(Attached::Sub(task));
            }
            Request::Consume {
                channel,
                consumer,
                ack_wait_ms,
                max_ack_pending,
                start,
                ..
            } => {
                if self.attached.is_some() {
                    self.refuse(id, op, Status::BadRequest, ONE_SUBSCRIPTION);
                    return true;
                }
                let slot: Slot = Rc::new(RefCell::new(None));
                self.slots.push_back((slot.clone(), true));
                let consuming = Consuming::attach(
                    &self.channels,
                    channel,
                    consumer,
                    (ack_wait_ms, max_ack_pending, start),
                    (id, slot),
                    self.outbox.clone(),
                    self.wakeup.clone(),
                );
                self.attached = Some(Attached::Consumer(consuming));
            }
            Request::Ack { seq, .. } | Request::Nak { seq, .. } => {
                let Some(Attached::Consumer(c)) = &self.attached else {
                    let why = "ACK and NAK need a CONSUME on this stream first";
                    self.refuse(id, op, Status::BadRequest, why);
                    return false;
                };
                let work = c.settle(seq, op == Op::Ack);
                self.spawn(false, async move { encoded(id, op, &work.await) });
            }
            Request::DeleteConsumer {
                channel, consumer, ..
            } => {
                let work = Consuming::delete(&self.channels, channel, consumer);
                self.spawn(false, async move { encoded(id, op, &work.await) });
            }
        }
        false
    }
}

const ONE_SUBSCRIPTION: &str = "one SUB or CONSUME per stream: open another stream";

/// An answer's bytes.
pub(crate) fn encoded(id: u32, op: Op, answer: &Result<Answer<'_>, ChannelError>) -> Vec<u8> {
    match answer {
        Ok(a) => {
            let mut out = Vec::new();
            encode_answer(id, op, a, &mut out);
            out
        }
        Err(e) => encoded_error(id, op, e),
    }
}

/// A failed answer's bytes.
pub(crate) fn encoded_error(id: u32, op: Op, e: &ChannelError) -> Vec<u8> {
    let mut out = Vec::new();
    let message = e.to_string();
    let failed = Answer::Failed {
        status: status_of(e),
        message: &message,
    };
    encode_answer(id, op, &failed, &mut out);
    out
}

/// The status a client gets for `e`.
pub(crate) fn status_of(e: &ChannelError) -> Status {
    match e {
        ChannelError::BadName => Status::BadRequest,
        ChannelError::TooLarge { .. } => Status::TooLarge,
        ChannelError::NotDurable => Status::NotDurable,
        ChannelError::Unavailable(_) => Status::Unavailable,
        ChannelError::Conflict => Status::Conflict,
        ChannelError::TakenOver => Status::TakenOver,
        ChannelError::Db(DbError::MapFull { .. }) => Status::Full,
        ChannelError::Db(DbError::Busy | DbError::Unavailable { .. }) => Status::Busy,
        ChannelError::Db(_) => Status::Error,
    }
}

/// The id and op of a request that did not parse, as far as they are there.
fn id_and_op(body: &[u8]) -> (u32, Op) {
    let id = body
        .get(..4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let op = body.get(4).and_then(|&b| Op::from_u8(b)).unwrap_or(Op::Pub);
    (id, op)
}
