//! The bridge's plumbing, with the test playing the bridge thread.

use super::super::{Hub, INBOX_MESSAGES, SendError, Signal};
use super::*;
use ringwire_reactor::{Backend, Runtime, yield_now};
use std::rc::Rc;

fn run(f: impl AsyncFnOnce()) {
    let rt = Runtime::builder().backend(Backend::Poll).build().unwrap();
    rt.block_on(f());
}

async fn settle() {
    for _ in 0..8 {
        yield_now().await;
    }
}

#[test]
fn local_publishes_reach_the_bridge_and_bridge_messages_stay_local() {
    run(async || {
        let (mut seeds, bridge) = mesh_with_bridge(1);
        let hub = Hub::start(seeds.remove(0), 16);
        let signal = Rc::new(Signal::default());
        let ch = hub.channel_name("t");
        // The first subscriber is announced to the bridge.
        let sub = hub.subscribe(ch.clone(), signal.clone());
        let (channel, core, on) = bridge.cores.interest().await.unwrap();
        assert_eq!((&*channel, core, on), ("t", 0, true));
        // A local publish: delivered here and queued for the bridge.
        hub.publish(&ch, 0, Bytes::from_static(b"local"), &signal)
            .ok()
            .unwrap();
        assert_eq!(sub.pop().unwrap().payload, &b"local"[..]);
        let out = bridge.outbox.recv().await.unwrap();
        assert_eq!((&*out.channel, &out.payload[..]), ("t", &b"local"[..]));
        assert!(out.traceparent.is_none());
        // A durable message (seq != 0) does not cross through the bridge.
        hub.publish(&ch, 7, Bytes::from_static(b"durable"), &signal)
            .ok()
            .unwrap();
        assert_eq!(sub.pop().unwrap().seq, 7);
        // What the bridge hands in is delivered locally and never goes back to it.
        bridge
            .cores
            .try_deliver(0, ch.clone(), Bytes::from_static(b"remote"))
            .unwrap();
        settle().await;
        assert_eq!(sub.pop().unwrap().payload, &b"remote"[..]);
        assert!(bridge.outbox.data.is_empty(), "nothing forwarded again");
        drop(sub);
        let (_, _, on) = bridge.cores.interest().await.unwrap();
        assert!(!on, "the last subscriber's end is announced");
    });
}

#[test]
fn refusal_publishes_nothing_and_is_counted() {
    run(async || {
        let (mut seeds, bridge) = mesh_with_bridge(1);
        let hub = Hub::start(seeds.remove(0), 16);
        let signal = Rc::new(Signal::default());
        let ch = hub.channel_name("t");
        let sub = hub.subscribe(ch.clone(), signal.clone());
        bridge.gate.refusing.store(true, Ordering::Release);
        let r = hub.publish(&ch, 0, Bytes::from_static(b"x"), &signal);
        assert!(matches!(r, Err(SendError::Unavailable)));
        assert!(sub.is_empty(), "not delivered locally either");
        assert!(bridge.outbox.data.is_empty());
        assert_eq!(bridge.gate.refused.load(Ordering::Relaxed), 1);
        // Durable messages are not the bridge's: never refused.
        hub.publish(&ch, 1, Bytes::from_static(b"d"), &signal)
            .ok()
            .unwrap();
        bridge.gate.refusing.store(false, Ordering::Release);
        hub.publish(&ch, 0, Bytes::from_static(b"y"), &signal)
            .ok()
            .unwrap();
        assert_eq!(sub.len(), 2);
    });
}

#[test]
fn a_full_bridge_queue_holds_the_publisher_and_a_full_core_queue_holds_the_bridge() {
    run(async || {
        let (mut seeds, bridge) = mesh_with_bridge(1);
        let hub = Hub::start(seeds.remove(0), 16);
        let signal = Rc::new(Signal::default());
        let ch = hub.channel_name("t");
        let payload = Bytes::from(vec![0u8; 1000]);
        let mut held = None;
        for _ in 0..100_000 {
            if let Err(SendError::Held(h)) = hub.publish(&ch, 0, payload.clone(), &signal) {
                held = Some(h);
                break;
            }
        }
        drop(held.expect("the bridge's queue filled up"));
        // A traced publish held for the bridge keeps its trace until the bridge takes it.
        let tp = *b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut held = match hub.publish_traced(&ch, 0, payload.clone(), Some(&tp), &signal) {
            Err(SendError::Held(h)) => h,
            _ => panic!("held while the bridge's queue is full"),
        };
        assert!(!hub.retry(&mut held, &signal));
        bridge.outbox.recv().await.unwrap();
        assert!(
            hub.retry(&mut held, &signal),
            "room after the bridge took one"
        );
        let mut last = None;
        while let Ok(out) = bridge.outbox.data.try_recv() {
            last = Some(out);
        }
        assert_eq!(last.and_then(|p| p.trace).as_deref(), Some(&tp));
        // The other way: the core does not run its delivery task here while the test fills
        // its queue synchronously, so the bridge is refused, then told when there is room.
        let mut n = 0;
        while bridge
            .cores
            .try_deliver(0, ch.clone(), Bytes::from_static(b"r"))
            .is_ok()
        {
            n += 1;
        }
        assert_eq!(n, INBOX_MESSAGES);
        settle().await; // the core's delivery task drains its queue
        assert_eq!(bridge.cores.room().await, Some(()));
        bridge
            .cores
            .try_deliver(0, ch.clone(), Bytes::from_static(b"r"))
            .unwrap();
    });
}
