use super::*;
use ringwire_reactor::{Backend, Runtime, yield_now};
use std::task::Waker;

fn run(f: impl AsyncFnOnce()) {
    let rt = Runtime::builder().backend(Backend::Poll).build().unwrap();
    rt.block_on(f());
}

/// Lets the hub's own tasks (control, delivery, space notices) run.
async fn settle() {
    for _ in 0..8 {
        yield_now().await;
    }
}

/// Core 1 of a two-core mesh says it has subscribers to `channel`, without running a hub:
/// its queue is never drained, like a core that is too busy to keep up. (Sent through the
/// control queue, as a real core does.)
fn remote_interest(hub: &Hub, channel: &str, on: bool) {
    hub.links[hub.index]
        .control
        .send(Interest {
            channel: Arc::from(channel),
            core: 1,
            on,
            routed: None,
        })
        .unwrap();
}

#[test]
fn local_delivery_and_the_slow_consumer_policy() {
    run(async || {
        let mut seeds = mesh(1);
        let hub = Hub::start(seeds.remove(0), 2);
        let signal = Rc::new(Signal::default());
        let ch = hub.channel_name("news");
        let fast = hub.subscribe(ch.clone(), signal.clone());
        let slow = hub.subscribe(ch.clone(), signal.clone());
        for i in 0..2u8 {
            hub.publish(&ch, 0, Bytes::from(vec![i]), &signal)
                .ok()
                .unwrap();
            fast.mailbox().pop(); // keeps up
        }
        assert_eq!(slow.mailbox().queue.borrow().len(), 2);
        hub.publish(&ch, 0, Bytes::from_static(b"third"), &signal)
            .ok()
            .unwrap();
        assert!(slow.mailbox().overflowed(), "a full mailbox overflows");
        assert_eq!(
            fast.mailbox().front().as_deref(),
            Some(&b"third"[..]),
            "the fast one still gets it"
        );
        let s = hub.stats();
        assert_eq!(
            (s.published, s.delivered, s.slow_consumers, s.subscriptions),
            (3, 5, 1, 2)
        );
        drop(slow);
        assert_eq!(hub.channels.borrow()["news"].len(), 1);
        drop(fast);
        assert!(hub.channels.borrow().is_empty(), "the channel is gone");
        assert_eq!(hub.stats().subscriptions, 0);
    });
}

#[test]
fn publishes_cross_only_to_cores_with_subscribers() {
    run(async || {
        let mut seeds = mesh(2);
        let other = seeds.pop().unwrap();
        let hub = Hub::start(seeds.pop().unwrap(), 8);
        let signal = Rc::new(Signal::default());
        let ch = hub.channel_name("quiet");
        for _ in 0..10 {
            hub.publish(&ch, 0, Bytes::from_static(b"x"), &signal)
                .ok()
                .unwrap();
        }
        assert_eq!(hub.stats().forwarded, 0, "no core has subscribers");
        assert!(other.data.is_empty());

        remote_interest(&hub, "quiet", true);
        settle().await;
        hub.publish(&ch, 0, Bytes::from_static(b"y"), &signal)
            .ok()
            .unwrap();
        assert_eq!(hub.stats().forwarded, 1);
        assert_eq!(other.data.try_recv().unwrap().payload, &b"y"[..]);

        remote_interest(&hub, "quiet", false);
        settle().await;
        hub.publish(&ch, 0, Bytes::from_static(b"z"), &signal)
            .ok()
            .unwrap();
        assert_eq!(hub.stats().forwarded, 1, "the interest was withdrawn");
        assert!(other.data.is_empty());
    });
}

#[test]
fn a_subscription_announces_itself_and_leaves_when_dropped() {
    run(async || {
        let mut seeds = mesh(2);
        let other = seeds.pop().unwrap();
        let hub = Hub::start(seeds.pop().unwrap(), 8);
        let signal = Rc::new(Signal::default());
        let a = hub.subscribe(hub.channel_name("c"), signal.clone());
        let b = hub.subscribe(hub.channel_name("c"), signal.clone());
        let on = other.control.try_recv().unwrap();
        assert_eq!((&*on.channel, on.core, on.on), ("c", 0, true));
        assert!(
            other.control.is_empty(),
            "only the first subscriber is announced"
        );
        assert_eq!(hub.stats().subscriptions, 2);
        drop(a);
        assert!(other.control.is_empty());
        drop(b);
        let off = other.control.try_recv().unwrap();
        assert_eq!((&*off.channel, off.on), ("c", false));
        assert_eq!(hub.stats().subscriptions, 0);
        assert!(hub.channels.borrow().is_empty());
    });
}

#[test]
fn a_full_queue_holds_the_publisher_and_room_wakes_it() {
    run(async || {
        let mut seeds = mesh(2);
        let other = seeds.pop().unwrap();
        let hub = Hub::start(seeds.pop().unwrap(), 8);
        remote_interest(&hub, "firehose", true);
        settle().await;
        let ch = hub.channel_name("firehose");
        let signal = Rc::new(Signal::default());
        let payload = Bytes::from(vec![0u8; 1000]);
        let mut held = None;
        let mut sent = 0;
        for _ in 0..100_000 {
            match hub.publish(&ch, 0, payload.clone(), &signal) {
                Ok(()) => sent += 1,
                Err(SendError::Held(h)) => {
                    held = Some(h);
                    break;
                }
                Err(SendError::Unavailable) => panic!("no bridge, no refusal"),
            }
        }
        let mut held = held.expect("the queue filled up");
        let (messages, bytes) = hub.links[1].queued();
        assert_eq!(messages, sent);
        assert!(
            messages <= INBOX_MESSAGES && bytes <= INBOX_BYTES,
            "{messages} messages, {bytes} bytes queued"
        );
        assert_eq!(hub.stats().held, 1);
        // Still full: a retry holds on, and nothing is queued beyond the bound.
        assert!(!hub.retry(&mut held, &signal));
        assert_eq!(hub.links[1].queued().0, sent);

        let waker = futures_waker();
        assert!(!signal.take(&waker), "no room yet");
        // Core 1 takes one message out: core 0 is told, and the held publisher is woken.
        let p = other.data.try_recv().unwrap();
        hub.links[1].taken(p.payload.len(), &hub.links);
        settle().await;
        assert!(signal.take(&waker), "the held publisher was woken");
        assert!(hub.retry(&mut held, &signal));
        assert_eq!(hub.stats().forwarded, sent as u64 + 1);
    });
}

fn futures_waker() -> Waker {
    use std::task::Wake;
    struct Nop;
    impl Wake for Nop {
        fn wake(self: Arc<Self>) {}
    }
    Arc::new(Nop).into()
}
