//! The stream-protocol client against a small server built on the codec (`stream_client/
//! fake.rs`), on both I/O backends.

#[path = "stream_client/fake.rs"]
mod fake;
#[macro_use]
#[path = "stream_client/common.rs"]
mod common;

use bytes::Bytes;
use common::{pattern, read_to_end, settings, with_server};
use fake::{Config, Upgrade};
use ringwire_net::stream::client::{Client, ErrorCode, Options, error_code};
use ringwire_reactor::{Backend, Runtime, spawn_local, time::sleep};
use std::{cell::Cell, io, rc::Rc, time::Duration};

both_backends!(
    fn handshake_learns_the_servers_settings(backend) {
        let server = settings(|s| {
            s.max_concurrent_streams = 7;
            s.initial_stream_window = 10_000;
        });
        let cfg = Config { settings: server, ..Config::default() };
        let log = cfg.log.clone();
        with_server(backend, cfg, |addr| async move {
            let client = Client::connect(addr).await.unwrap();
            assert_eq!(client.peer_settings(), server);
            assert_eq!(client.message_limit(), 5_000, "half the stream window");
            assert_eq!(client.addr(), addr);
            client.close().await.unwrap();
            sleep(Duration::from_millis(50)).await;
            assert_eq!(log.borrow().closed, 1, "close() closes the socket");
        });
    }
);

both_backends!(
    fn echo_round_trip(backend) {
        with_server(backend, Config::default(), |addr| async move {
            let client = Client::connect(addr).await.unwrap();
            let stream = client.open("echo").await.unwrap();
            assert_eq!(stream.service(), "echo");
            stream.send(b"hello").await.unwrap();
            stream.finish().unwrap();
            assert_eq!(stream.recv().await.unwrap(), Some(Bytes::from_static(b"hello")));
            assert_eq!(stream.recv().await.unwrap(), None);
            assert_eq!(stream.recv().await.unwrap(), None, "END is sticky");
            let e = stream.send(b"more").await.unwrap_err();
            assert!(e.to_string().contains("finished"), "{e}");
        });
    }
);

both_backends!(
    fn upgrade_from_http(backend) {
        let cfg = Config { upgrade: Upgrade::Accept, ..Config::default() };
        let log = cfg.log.clone();
        with_server(backend, cfg, |addr| async move {
            let client = Client::connect_upgrade(addr).await.unwrap();
            let stream = client.open("echo").await.unwrap();
            stream.send(b"through the upgrade").await.unwrap();
            stream.finish().unwrap();
            assert_eq!(read_to_end(&stream).await.unwrap(), b"through the upgrade");
            let request = log.borrow().requests[0].to_ascii_lowercase();
            assert!(request.starts_with("get / http/1.1\r\n"), "{request}");
            assert!(request.contains("connection: upgrade\r\n"), "{request}");
            assert!(request.contains("upgrade: ringwire-stream/1\r\n"), "{request}");
        });
    }
);

both_backends!(
    fn refused_upgrade_says_what_the_server_answered(backend) {
        let cfg = Config { upgrade: Upgrade::Refuse, ..Config::default() };
        with_server(backend, cfg, |addr| async move {
            let e = Client::connect_upgrade(addr).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
            assert!(e.to_string().contains("404 Not Found"), "{e}");
        });
    }
);

both_backends!(
    fn handshake_refused_with_goaway_reports_the_code(backend) {
        let cfg = Config {
            refuse_handshake: Some(ErrorCode::UNSUPPORTED_VERSION),
            ..Config::default()
        };
        with_server(backend, cfg, |addr| async move {
            let e = Client::connect(addr).await.unwrap_err();
            assert_eq!(error_code(&e), Some(ErrorCode::UNSUPPORTED_VERSION), "{e}");
            let text = e.to_string();
            assert!(text.contains("UNSUPPORTED_VERSION") && text.contains("go away"), "{text}");
        });
    }
);

both_backends!(
    fn a_token_is_presented_in_the_handshake(backend) {
        let cfg = Config { token: Some(b"good-token".to_vec()), ..Config::default() };
        let log = cfg.log.clone();
        with_server(backend, cfg, |addr| async move {
            let options = Options { token: Some("good-token".into()), ..Options::default() };
            assert!(!format!("{options:?}").contains("good-token"), "the token is redacted");
            let client = Client::connect_with(addr, &options).await.unwrap();
            let stream = client.open("echo").await.unwrap();
            stream.send(b"hi").await.unwrap();
            stream.finish().unwrap();
            assert_eq!(read_to_end(&stream).await.unwrap(), b"hi");
            assert_eq!(log.borrow().tokens, [b"good-token".to_vec()]);
            // Without a token the HELLO is plain, as before.
            let plain = Client::connect(addr).await.unwrap();
            plain.ping().await.unwrap();
            assert_eq!(log.borrow().tokens.len(), 1);
        });
    }
);

both_backends!(
    fn a_refused_token_fails_connect_with_the_servers_text(backend) {
        let cfg = Config { token: Some(b"good-token".to_vec()), ..Config::default() };
        with_server(backend, cfg, |addr| async move {
            let options = Options { token: Some("stale".into()), ..Options::default() };
            let e = Client::connect_with(addr, &options).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
            assert_eq!(error_code(&e), Some(ErrorCode::UNAUTHENTICATED), "{e}");
            let text = e.to_string();
            assert!(text.contains("UNAUTHENTICATED") && text.contains("\"invalid token\""), "{text}");
            // A token the protocol cannot carry is refused before anything is sent.
            let options = Options { token: Some(String::new()), ..Options::default() };
            let e = Client::connect_with(addr, &options).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        });
    }
);

both_backends!(
    fn connect_times_out_without_a_hello(backend) {
        let rt = Runtime::builder().backend(backend).build().unwrap();
        rt.block_on(async {
            // A listener that never accepts: TCP completes, HELLO never comes.
            let silent = ringwire_reactor::net::TcpListener::bind("127.0.0.1:0".parse().unwrap())
                .unwrap();
            let options = Options { timeout: Duration::from_millis(200), ..Options::default() };
            let e = Client::connect_with(silent.local_addr().unwrap(), &options)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
            assert!(e.to_string().contains("handshake"), "{e}");
        });
    }
);

both_backends!(
    fn many_concurrent_streams_interleave(backend) {
        let cfg = Config::default();
        let log = cfg.log.clone();
        with_server(backend, cfg, |addr| async move {
            let client = Rc::new(Client::connect(addr).await.unwrap());
            let mut tasks = Vec::new();
            for s in 0..40u64 {
                let client = client.clone();
                tasks.push(spawn_local(async move {
                    let stream = client.open("echo").await.unwrap();
                    // Lock-step, so every stream has a message in flight at once and their
                    // frames share the connection.
                    for m in 0..25u64 {
                        let message = pattern(s * 100 + m, 1 + (m as usize * 397) % 5000);
                        stream.send(&message).await.unwrap();
                        let mut echo = Vec::new();
                        while echo.len() < message.len() {
                            echo.extend_from_slice(&stream.recv().await.unwrap().unwrap());
                        }
                        assert!(echo == message, "stream {s}, message {m}: echo differs");
                    }
                    stream.finish().unwrap();
                    assert_eq!(stream.recv().await.unwrap(), None);
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            // Frames of different streams alternate on the wire, not one stream after another.
            let log = log.borrow();
            let switches = log.data.windows(2).filter(|w| w[0].0 != w[1].0).count();
            assert!(switches > 100, "only {switches} stream switches in {} frames", log.data.len());
        });
    }
);

both_backends!(
    fn partial_frames_across_receive_buffers(backend) {
        let cfg = Config { dribble: true, ..Config::default() };
        with_server(backend, cfg, |addr| async move {
            let client = Client::connect(addr).await.unwrap();
            let stream = client.open("echo").await.unwrap();
            let message = pattern(7, 40_000);
            stream.send(&message).await.unwrap();
            stream.finish().unwrap();
            assert!(read_to_end(&stream).await.unwrap() == message);
            assert!(client.ping().await.is_ok());
        });
    }
);

both_backends!(
    fn flow_control_stalls_a_fast_sender_until_the_server_consumes(backend) {
        let server = settings(|s| s.initial_stream_window = 64 * 1024);
        let cfg = Config { settings: server, ..Config::default() };
        let log = cfg.log.clone();
        with_server(backend, cfg, |addr| async move {
            let client = Client::connect(addr).await.unwrap();
            let sink = Rc::new(client.open("sink").await.unwrap());
            let progress = Rc::new(Cell::new(0usize));
            let (s, p) = (sink.clone(), progress.clone());
            let sender = spawn_local(async move {
                for i in 0..30u64 {
                    s.send(&pattern(i, 10_000)).await.unwrap();
                    p.set(p.get() + 10_000);
                }
            });
            sleep(Duration::from_millis(200)).await;
            // 6 whole messages fit the 65 536-byte window; the 7th waits instead of splitting.
            assert_eq!(progress.get(), 60_000, "the sender must stall at the window");
            let received: usize = log.borrow().data.iter().map(|d| d.1).sum();
            assert_eq!(received, 60_000);

            let _release = client.open("release").await.unwrap();
            sender.await.unwrap();
            assert_eq!(progress.get(), 300_000);
            sink.finish().unwrap();
            assert_eq!(read_to_end(&sink).await.unwrap(), b"300000");
            let log = log.borrow();
            let frames: Vec<usize> =
                log.data.iter().filter(|d| d.0 == sink.id() && d.1 > 0).map(|d| d.1).collect();
            assert!(frames.iter().all(|&n| n == 10_000), "a message was split: {frames:?}");
        });
    }
);

both_backends!(
    fn the_connection_window_stalls_every_stream(backend) {
        let server = settings(|s| s.initial_connection_window = 32 * 1024);
        let cfg = Config { settings: server, ..Config::default() };
        with_server(backend, cfg, |addr| async move {
            let client = Client::connect(addr).await.unwrap();
            let a = client.open("sink").await.unwrap();
            let b = Rc::new(client.open("sink").await.unwrap());
            a.send(&[1; 16 * 1024]).await.unwrap();
            a.send(&[1; 16 * 1024]).await.unwrap();
            let done = Rc::new(Cell::new(false));
            let (b2, d) = (b.clone(), done.clone());
            let blocked = spawn_local(async move {
                b2.send(b"x").await.unwrap();
                d.set(true);
            });
            sleep(Duration::from_millis(100)).await;
            assert!(!done.get(), "stream b sent beyond the connection window");
            let _release = client.open("release").await.unwrap();
            blocked.await.unwrap();
            assert!(done.get());
        });
    }
);

both_backends!(
    fn a_message_larger_than_every_window_goes_in_pieces(backend) {
        let server = settings(|s| {
            s.initial_stream_window = 16 * 1024;
            s.initial_connection_window = 32 * 1024;
        });
        let cfg = Config { settings: server, ..Config::default() };
        let log = cfg.log.clone();
        with_server(backend, cfg, |addr| async move {
            // The client's own windows are small too, so the echo waits on this client's reads.
            let options = Options {
                settings: settings(|s| s.initial_stream_window = 8 * 1024),
                ..Options::default()
            };
            let client = Client::connect_with(addr, &options).await.unwrap();
            assert_eq!(client.message_limit(), 8 * 1024);
            let stream = Rc::new(client.open("echo").await.unwrap());
            let message = pattern(3, 300_000);
            let (s, m) = (stream.clone(), message.clone());
            let sender = spawn_local(async move {
                s.send(&m).await.unwrap();
                s.finish().unwrap();
            });
            let got = read_to_end(&stream).await.unwrap();
            sender.await.unwrap();
            assert!(got == message, "echo differs ({} of {} bytes)", got.len(), message.len());
            assert!(log.borrow().data.iter().all(|d| d.1 <= 16 * 1024));
        });
    }
);

both_backends!(
    fn ping_measures_the_round_trip(backend) {
        with_server(backend, Config::default(), |addr| async move {
            let client = Client::connect(addr).await.unwrap();
            for _ in 0..10 {
                let rtt = client.ping().await.unwrap();
                assert!(rtt > Duration::ZERO && rtt < Duration::from_secs(1), "{rtt:?}");
            }
        });
    }
);

both_backends!(
    fn resets_name_their_code(backend) {
        let cfg = Config::default();
        let log = cfg.log.clone();
        with_server(backend, cfg, |addr| async move {
            let client = Client::connect(addr).await.unwrap();
            let unknown = client.open("nope").await.unwrap();
            let e = unknown.recv().await.unwrap_err();
            assert_eq!(error_code(&e), Some(ErrorCode::UNKNOWN_SERVICE));
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
            let text = e.to_string();
            assert!(text.contains("UNKNOWN_SERVICE") && text.contains("\"nope\""), "{text}");
            assert!(unknown.send(b"x").await.is_err());

            let failing = client.open("reset").await.unwrap();
            let e = failing.recv().await.unwrap_err();
            assert_eq!(error_code(&e), Some(ErrorCode::SERVICE_ERROR), "{e}");

            // A reset from this side: the server hears it, the connection goes on.
            let echo = client.open("echo").await.unwrap();
            echo.send(b"abc").await.unwrap();
            assert_eq!(echo.recv().await.unwrap().unwrap(), &b"abc"[..]);
            echo.reset(ErrorCode::CANCEL).unwrap();
            let e = echo.send(b"x").await.unwrap_err();
            assert_eq!(error_code(&e), Some(ErrorCode::CANCEL), "{e}");
            client.ping().await.unwrap();
            assert!(log.borrow().resets.contains(&(echo.id(), ErrorCode::CANCEL)));
            let again = client.open("echo").await.unwrap();
            again.send(b"still fine").await.unwrap();
            again.finish().unwrap();
            assert_eq!(read_to_end(&again).await.unwrap(), b"still fine");

            // Dropping an open stream cancels it on the wire.
            let dropped = client.open("echo").await.unwrap();
            let id = dropped.id();
            drop(dropped);
            client.ping().await.unwrap();
            assert!(log.borrow().resets.contains(&(id, ErrorCode::CANCEL)));
        });
    }
);

both_backends!(
    fn goaway_refuses_new_streams_while_open_ones_finish(backend) {
        with_server(backend, Config::default(), |addr| async move {
            let client = Client::connect(addr).await.unwrap();
            // Three OPENs in one write: the server accepts 1 and 3, drains at 3, refuses 5.
            let first = client.open("echo").await.unwrap();
            let trigger = client.open("goaway").await.unwrap();
            let late = client.open("echo").await.unwrap();
            let e = late.recv().await.unwrap_err();
            assert_eq!(error_code(&e), Some(ErrorCode::REFUSED_STREAM), "{e}");
            assert!(e.to_string().contains("safe to retry"), "{e}");
            assert_eq!(client.goaway(), Some((ErrorCode::NO_ERROR, "draining".to_string())));

            let e = client.open("echo").await.unwrap_err();
            assert!(e.to_string().contains("GOAWAY NO_ERROR \"draining\""), "{e}");

            first.send(b"still served").await.unwrap();
            first.finish().unwrap();
            assert_eq!(read_to_end(&first).await.unwrap(), b"still served");
            trigger.finish().unwrap();
            assert_eq!(read_to_end(&trigger).await.unwrap(), b"");
            // No stream left: the server closes, and the client says why.
            let e = client.ping().await.unwrap_err();
            assert!(e.to_string().contains("after GOAWAY NO_ERROR"), "{e}");
        });
    }
);

both_backends!(
    fn goaway_with_an_error_fails_everything(backend) {
        with_server(backend, Config::default(), |addr| async move {
            let client = Client::connect(addr).await.unwrap();
            let echo = client.open("echo").await.unwrap();
            let _kill = client.open("kill").await.unwrap();
            let e = echo.recv().await.unwrap_err();
            assert_eq!(error_code(&e), Some(ErrorCode::INTERNAL_ERROR), "{e}");
            assert!(e.to_string().contains("test kill"), "{e}");
            let e = client.open("echo").await.unwrap_err();
            assert_eq!(error_code(&e), Some(ErrorCode::INTERNAL_ERROR), "{e}");
            assert!(client.error().is_some());
        });
    }
);

both_backends!(
    fn open_waits_for_the_servers_stream_limit(backend) {
        let cfg = Config {
            settings: settings(|s| s.max_concurrent_streams = 2),
            ..Config::default()
        };
        with_server(backend, cfg, |addr| async move {
            let client = Rc::new(Client::connect(addr).await.unwrap());
            let a = client.open("echo").await.unwrap();
            let _b = client.open("echo").await.unwrap();
            let c2 = client.clone();
            let third = spawn_local(async move { c2.open("echo").await.map(|s| s.id()) });
            sleep(Duration::from_millis(50)).await;
            assert_eq!(client.open_streams(), 2, "the third open must wait");
            a.finish().unwrap();
            assert_eq!(read_to_end(&a).await.unwrap(), b"");
            assert_eq!(third.await.unwrap().unwrap(), 5);
        });
    }
);

both_backends!(
    fn dropping_every_handle_flushes_and_closes(backend) {
        let cfg = Config::default();
        let log = cfg.log.clone();
        with_server(backend, cfg, |addr| async move {
            let client = Client::connect(addr).await.unwrap();
            let stream = client.open("sink").await.unwrap();
            stream.send(b"last words").await.unwrap();
            let id = stream.id();
            drop(client);
            drop(stream);
            for _ in 0..200 {
                if log.borrow().closed == 1 {
                    break;
                }
                sleep(Duration::from_millis(5)).await;
            }
            let log = log.borrow();
            assert_eq!(log.closed, 1, "the socket must close once every handle is gone");
            assert!(log.data.contains(&(id, 10)), "queued data must be flushed first");
            assert!(log.resets.contains(&(id, ErrorCode::CANCEL)));
        });
    }
);
