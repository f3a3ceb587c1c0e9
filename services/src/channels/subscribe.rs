//! A SUB's task on the `channels` stream service ([`super::stream`]): its answer, then the
//! channel's messages into the stream's bounded outbox, until the stream goes away.

use super::{
    core::{ChannelError, Channels},
    feed::{Feed, FeedError, Item},
    stream::{FEED_BATCH, Outbox, Slot, encoded},
};
use ringwire_net::stream::Wakeup;
use ringwire_protocol::channels::{
    self as wire, Answer, Op, Status, encode_answer, encode_message,
};
use std::rc::Rc;

/// A SUB's task: answers, then fills the outbox from the feed until the stream goes away.
pub(crate) async fn subscribe(
    channels: Rc<Channels>,
    channel: String,
    start: wire::Start,
    (id, slot): (u32, Slot),
    mut feed: Feed,
    outbox: Rc<Outbox>,
    wakeup: Wakeup,
) {
    feed.routed().await;
    let answer = if feed.durable() {
        match channels.start_seq(&channel, start).await {
            Ok(seq) => {
                feed.start_at(seq);
                channels.info(&channel).await.map(|i| Answer::Subscribed {
                    first: i.first,
                    next: i.next,
                })
            }
            Err(e) => Err(e),
        }
    } else if start == wire::Start::New {
        Ok(Answer::Subscribed { first: 0, next: 0 })
    } else {
        // An ephemeral channel keeps nothing to start from.
        Err(ChannelError::NotDurable)
    };
    let ok = answer.is_ok();
    *slot.borrow_mut() = Some(encoded(id, Op::Sub, &answer));
    wakeup.wake();
    if !ok {
        outbox.ended.set(true);
        return;
    }
    loop {
        outbox.wait_for_room().await;
        let items = match feed.next(FEED_BATCH).await {
            Ok(items) => items,
            Err(e) => {
                let why = match e {
                    FeedError::Slow => "slow consumer: the subscription fell \
                        stream.subscriber_queue messages behind and was cut"
                        .to_string(),
                    FeedError::Store(ref e) => format!("the store failed: {e}"),
                };
                let status = match e {
                    FeedError::Slow => Status::Busy,
                    FeedError::Store(_) => Status::Error,
                };
                let mut bytes = outbox.bytes.borrow_mut();
                encode_answer(
                    id,
                    Op::Sub,
                    &Answer::Failed {
                        status,
                        message: &why,
                    },
                    &mut bytes,
                );
                outbox.ended.set(true);
                drop(bytes);
                wakeup.wake();
                return;
            }
        };
        let mut bytes = outbox.bytes.borrow_mut();
        for item in items {
            match item {
                Item::Message { seq, data } => encode_message(seq, 1, &data, &mut bytes),
                // A MESSAGE-free gap: the client sees it in the sequence numbers.
                Item::Gap { .. } => {}
            }
        }
        drop(bytes);
        wakeup.wake();
    }
}
