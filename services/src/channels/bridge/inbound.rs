//! The inbound half of the bridge: NATS subscriptions for the channels this node's cores
//! subscribe to, and delivery to those cores, in order per core.

use super::{
    BridgeStats, Cores, DropReason, HELD_MESSAGES, Interest, Message, NODE_HEADER, subject,
};
use async_nats::Client;
use futures_util::StreamExt;
use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};
use tokio::{sync::mpsc, task::AbortHandle};

/// Messages read from the subscriptions and not yet taken by the delivery loop.
const PIPE: usize = 256;

/// One channel some core subscribes to.
struct Channel {
    cores: Vec<usize>,
    /// The task reading its NATS subscription (aborted, which unsubscribes, with the last).
    reader: AbortHandle,
}

struct Inbound<C> {
    client: Client,
    cores: C,
    node: String,
    stats: Arc<BridgeStats>,
    channels: HashMap<Arc<str>, Channel>,
    pipe: mpsc::Sender<(Arc<str>, async_nats::Message)>,
    /// By core: messages its full queue could not take yet, oldest first.
    held: Vec<VecDeque<Message>>,
    held_messages: usize,
    held_bytes: usize,
    max_held_bytes: usize,
}

/// Runs until the cores are gone.
pub(super) async fn run<C: Cores>(
    client: Client,
    cores: C,
    node: String,
    stats: Arc<BridgeStats>,
    max_held_bytes: usize,
) {
    let (pipe, mut rx) = mpsc::channel(PIPE);
    let mut me = Inbound {
        client,
        cores,
        node,
        stats,
        channels: HashMap::new(),
        pipe,
        held: Vec::new(),
        held_messages: 0,
        held_bytes: 0,
        max_held_bytes,
    };
    loop {
        let full = me.held_messages >= HELD_MESSAGES || me.held_bytes >= me.max_held_bytes;
        tokio::select! {
            i = me.cores.interest() => match i {
                Some(i) => me.interest(i).await,
                None => break,
            },
            r = me.cores.room() => match r {
                Some(()) => me.retry(),
                None => break,
            },
            m = rx.recv(), if !full => match m {
                Some((channel, m)) => me.deliver(channel, m),
                None => break,
            },
        }
    }
    for (_, c) in me.channels.drain() {
        c.reader.abort();
    }
}

impl<C: Cores> Inbound<C> {
    async fn interest(&mut self, i: Interest) {
        if i.on {
            if let Some(c) = self.channels.get_mut(&i.channel) {
                if !c.cores.contains(&i.core) {
                    c.cores.push(i.core);
                }
                return;
            }
            let sub = match self.client.subscribe(subject(&i.channel)).await {
                Ok(sub) => sub,
                Err(e) => {
                    // Only when the client is closed, which it never is while the bridge runs.
                    tracing::error!("cluster bridge: cannot subscribe to {}: {e}", i.channel);
                    return;
                }
            };
            let (pipe, channel) = (self.pipe.clone(), i.channel.clone());
            let reader = tokio::task::spawn_local(async move {
                let mut sub = sub;
                while let Some(m) = sub.next().await {
                    if pipe.send((channel.clone(), m)).await.is_err() {
                        return;
                    }
                }
            })
            .abort_handle();
            self.channels.insert(
                i.channel,
                Channel {
                    cores: vec![i.core],
                    reader,
                },
            );
        } else if let Some(c) = self.channels.get_mut(&i.channel) {
            c.cores.retain(|&core| core != i.core);
            if c.cores.is_empty() {
                if let Some(c) = self.channels.remove(&i.channel) {
                    c.reader.abort();
                }
            }
        }
    }

    fn deliver(&mut self, channel: Arc<str>, m: async_nats::Message) {
        let own = m
            .headers
            .as_ref()
            .and_then(|h| h.get(NODE_HEADER))
            .is_some_and(|v| v.as_str() == self.node);
        if own {
            self.stats.dropped(DropReason::Echo);
            return;
        }
        self.stats.received();
        let Some(c) = self.channels.get(&channel) else {
            return; // no local subscriber any more
        };
        let msg = Message {
            channel,
            payload: m.payload,
            traceparent: None,
        };
        for &core in &c.cores {
            if self.held.len() <= core {
                self.held.resize_with(core + 1, VecDeque::new);
            }
            let queue = &mut self.held[core];
            if queue.is_empty()
                && let Ok(()) = self.cores.try_deliver(core, msg.clone())
            {
                continue;
            }
            self.held_messages += 1;
            self.held_bytes += msg.payload.len();
            queue.push_back(msg.clone());
        }
    }

    /// Some core has room: hands each core what it holds, in order, while it takes it.
    fn retry(&mut self) {
        for (core, queue) in self.held.iter_mut().enumerate() {
            while let Some(msg) = queue.pop_front() {
                let len = msg.payload.len();
                match self.cores.try_deliver(core, msg) {
                    Ok(()) => {
                        self.held_messages -= 1;
                        self.held_bytes -= len;
                    }
                    Err(msg) => {
                        queue.push_front(msg);
                        break;
                    }
                }
            }
        }
    }
}
