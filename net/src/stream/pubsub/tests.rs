use super::*;

#[test]
fn command_lines() {
    assert_eq!(parse_command(b"SUB news\n"), Some(Command::Sub("news")));
    assert_eq!(
        parse_command(b"PUB a.b:c-d_e\n"),
        Some(Command::Pub("a.b:c-d_e"))
    );
    for bad in [
        &b"SUB news"[..],
        b"SUB \n",
        b"sub news\n",
        b"SUB a b\n",
        b"SUBnews\n",
        b"PUB \xff\n",
        b"SUB news\n\n",
        b"GET news\n",
        b"SUB .news\n",
        b"SUB news.\n",
        b"SUB a..b\n",
        b"SUB .\n",
        b"SUB orders.*\n",
    ] {
        assert_eq!(
            parse_command(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let longest = format!("SUB {}\n", "x".repeat(MAX_CHANNEL));
    assert!(parse_command(longest.as_bytes()).is_some());
    let over = format!("SUB {}\n", "x".repeat(MAX_CHANNEL + 1));
    assert_eq!(parse_command(over.as_bytes()), None);
}

#[test]
fn the_message_limit_follows_the_peers_settings() {
    let mut s = Settings::default();
    assert_eq!(message_limit(&s), 16 * 1024);
    s.max_frame_size = 1024;
    assert_eq!(message_limit(&s), 1024);
    s.initial_stream_window = 100;
    assert_eq!(message_limit(&s), 50);
    s.initial_connection_window = 0;
    assert_eq!(message_limit(&s), 1);
}

/// A client and a server codec after their handshake, and the client's `pubsub` stream
/// with `line` as its command (already decoded by the server).
fn pair(line: &[u8]) -> (Connection, Connection, u32) {
    use ringwire_protocol::stream::{Event, Role};
    let mut client = Connection::new(Role::Client, Settings::default()).unwrap();
    let mut server = Connection::new(Role::Server, Settings::default()).unwrap();
    let (mut c2s, mut s2c) = (Vec::new(), Vec::new());
    client.hello(&mut c2s).unwrap();
    let (used, ev) = server.decode(&c2s, &mut s2c).unwrap();
    assert!(matches!(ev, Some(Event::Hello(_))) && used == c2s.len());
    let (_, ev) = client.decode(&s2c, &mut c2s).unwrap();
    assert!(matches!(ev, Some(Event::Hello(_))));
    c2s.clear();
    let id = client.open_stream("pubsub", &mut c2s).unwrap();
    client.send_data(id, line, false, &mut c2s).unwrap();
    let mut rest = &c2s[..];
    while !rest.is_empty() {
        let (used, _) = server.decode(rest, &mut s2c).unwrap();
        rest = &rest[used..];
    }
    (client, server, id)
}

/// A publisher whose messages a full cross-core queue holds is slowed by flow control: the
/// server stops giving its window back, so it stops after one window, and nothing on the
/// server grows beyond that window; once the queue drains the window comes back.
#[test]
fn a_held_publisher_stops_after_one_window_and_resumes_when_the_queue_drains() {
    use super::super::hub::{INBOX_MESSAGES, mesh};
    use ringwire_protocol::stream::Event;
    use ringwire_reactor::{Backend, Runtime, yield_now};
    let rt = Runtime::builder().backend(Backend::Poll).build().unwrap();
    rt.block_on(async {
        let mut seeds = mesh(2);
        let other = seeds.pop().unwrap();
        let hub = Hub::start(seeds.pop().unwrap(), 8);
        hub.fake_interest("firehose", 1, true);
        let (mut client, mut server, id) = pair(b"PUB firehose\n");
        let signal = Rc::new(Signal::default());
        let mut publisher = Publisher::new(hub.clone(), hub.channel_name("firehose"), signal);
        let message = vec![7u8; 1000];
        let (mut sent, mut stalled) = (0usize, 0);
        // Bounded: a publisher that is never stopped fails below instead of hanging.
        while stalled < 3 && sent < 2 * INBOX_MESSAGES {
            let (mut c2s, mut s2c) = (Vec::new(), Vec::new());
            while client.send_capacity(id) >= message.len() {
                client.send_data(id, &message, false, &mut c2s).unwrap();
                sent += 1;
            }
            stalled = if c2s.is_empty() { stalled + 1 } else { 0 };
            let mut rest = &c2s[..];
            while !rest.is_empty() {
                let (used, ev) = server.decode(rest, &mut s2c).unwrap();
                if let Some(Event::Data { data, .. }) = ev {
                    publisher.message(id, data, &mut server, &mut s2c).unwrap();
                }
                rest = &rest[used..];
            }
            publisher.pump(id, &mut server, &mut s2c).unwrap();
            let mut rest = &s2c[..];
            while !rest.is_empty() {
                let (used, _) = client.decode(rest, &mut c2s).unwrap();
                rest = &rest[used..];
            }
        }
        let window = Settings::default().initial_stream_window as usize;
        assert_eq!(
            other.data.len(),
            INBOX_MESSAGES,
            "the other core's queue is full"
        );
        let held = sent - INBOX_MESSAGES;
        assert!(
            held > 0 && held * message.len() <= window,
            "{held} messages held"
        );
        assert_eq!(
            publisher.waiting.len(),
            held,
            "held on the server, not queued anywhere"
        );
        assert!(
            client.send_capacity(id) < message.len(),
            "the publisher is stopped"
        );
        // The other core takes its messages: the publisher's window comes back.
        while let Ok(p) = other.data.try_recv() {
            hub.links_for_tests()[1].taken(p.payload.len(), hub.links_for_tests());
        }
        for _ in 0..8 {
            yield_now().await;
        }
        let mut s2c = Vec::new();
        assert!(
            publisher.pump(id, &mut server, &mut s2c).unwrap(),
            "everything went"
        );
        let (mut rest, mut opened) = (&s2c[..], false);
        while !rest.is_empty() {
            let (used, ev) = client.decode(rest, &mut Vec::new()).unwrap();
            opened |= matches!(ev, Some(Event::WindowOpened { .. }));
            rest = &rest[used..];
        }
        assert!(opened, "a WINDOW_UPDATE went out");
        assert!(client.send_capacity(id) >= window / 2);
    });
}
