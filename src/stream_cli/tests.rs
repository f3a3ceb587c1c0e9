//! Parsing of `ringwire client` and `ringwire bench-stream`.

use super::*;
use crate::cli::{self, Action};
use channels_args::{ConsumerOpts, SubOpts};
use ringwire_protocol::channels::Start;
use std::time::SystemTime;

fn parse(args: &[&str]) -> Result<Action, String> {
    let mut argv = vec!["ringwire"];
    argv.extend_from_slice(args);
    cli::parse(argv, Vec::new())
}

fn client(args: &[&str]) -> ClientArgs {
    match parse(args) {
        Ok(Action::Client(c)) => *c,
        Ok(_) => panic!("not a client action: {args:?}"),
        Err(e) => panic!("{args:?}: {e}"),
    }
}

fn bench(args: &[&str]) -> BenchArgs {
    match parse(args) {
        Ok(Action::BenchStream(b)) => *b,
        Ok(_) => panic!("not a bench action: {args:?}"),
        Err(e) => panic!("{args:?}: {e}"),
    }
}

fn error(args: &[&str]) -> String {
    match parse(args) {
        Err(e) => e,
        Ok(_) => panic!("{args:?} should not parse"),
    }
}

#[test]
fn client_defaults() {
    let c = client(&["client", "ping"]);
    assert_eq!(
        c.target,
        Target {
            addr: "127.0.0.1:7070".into(),
            upgrade: false,
            io: Backend::Auto,
            timeout: Duration::from_secs(10),
            token: None,
            tls: None,
        }
    );
    assert_eq!(
        c.cmd,
        ClientCmd::Ping {
            count: 4,
            interval: Duration::from_secs(1)
        }
    );
}

#[test]
fn upgrade_defaults_to_the_http_port_and_options_go_anywhere() {
    let c = client(&["client", "--upgrade", "echo", "hi"]);
    assert_eq!(c.target.addr, "127.0.0.1:8080");
    assert!(c.target.upgrade);
    let c = client(&[
        "client",
        "echo",
        "hi",
        "--addr",
        "10.0.0.1:9",
        "--io",
        "epoll",
        "--timeout",
        "500ms",
    ]);
    assert_eq!(c.target.addr, "10.0.0.1:9");
    assert_eq!(c.target.io, Backend::Poll);
    assert_eq!(c.target.timeout, Duration::from_millis(500));
    assert_eq!(
        c.cmd,
        ClientCmd::Echo {
            message: "hi".into()
        }
    );
}

#[test]
fn client_subcommands() {
    assert_eq!(
        client(&["client", "ping", "--count", "2", "--interval", "0.1"]).cmd,
        ClientCmd::Ping {
            count: 2,
            interval: Duration::from_millis(100)
        }
    );
    assert_eq!(
        client(&["client", "pub", "news", "a", "b c"]).cmd,
        ClientCmd::Pub {
            channel: "news".into(),
            messages: vec!["a".into(), "b c".into()]
        }
    );
    assert_eq!(
        client(&["client", "sub", "a.b:c-d_e", "-n", "3"]).cmd,
        ClientCmd::Sub {
            channel: "a.b:c-d_e".into(),
            count: Some(3),
            opts: SubOpts::default(),
        }
    );
    assert_eq!(
        client(&["client", "sub", "news"]).cmd,
        ClientCmd::Sub {
            channel: "news".into(),
            count: None,
            opts: SubOpts::default(),
        }
    );
    assert_eq!(
        client(&["client", "channel-info", "orders.eu"]).cmd,
        ClientCmd::ChannelInfo {
            channel: "orders.eu".into()
        }
    );
}

fn sub_opts(args: &[&str]) -> SubOpts {
    let mut argv = vec!["client", "sub", "orders.eu"];
    argv.extend_from_slice(args);
    match client(&argv).cmd {
        ClientCmd::Sub { opts, .. } => opts,
        other => panic!("{other:?}"),
    }
}

#[test]
fn sub_starts_consumers_and_seq() {
    assert_eq!(sub_opts(&["--from", "5"]).start, Some(Start::From(5)));
    assert_eq!(sub_opts(&["--last", "10"]).start, Some(Start::Last(10)));
    assert_eq!(
        sub_opts(&["--since", "1700000000000"]).start,
        Some(Start::SinceMs(1_700_000_000_000))
    );
    let Some(Start::SinceMs(ago)) = sub_opts(&["--since", "10m"]).start else {
        panic!("--since 10m is a time");
    };
    let now = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        (now - 700_000..=now - 500_000).contains(&ago),
        "{ago} vs {now}"
    );
    assert!(sub_opts(&["--seq"]).seq);
    assert_eq!(sub_opts(&[]), SubOpts::default());
    let opts = sub_opts(&["--consumer", "billing", "--from", "1"]);
    assert_eq!(opts.start, Some(Start::From(1)));
    assert_eq!(
        opts.consumer,
        Some(ConsumerOpts {
            name: "billing".into(),
            ack_wait_ms: 0,
            max_ack_pending: 0,
            ack: true,
        })
    );
    let opts = sub_opts(&[
        "--consumer",
        "b",
        "--ack-wait",
        "300ms",
        "--max-ack-pending",
        "5",
        "--no-ack",
        "-n",
        "2",
    ]);
    assert_eq!(
        opts.consumer,
        Some(ConsumerOpts {
            name: "b".into(),
            ack_wait_ms: 300,
            max_ack_pending: 5,
            ack: false,
        })
    );
}

#[test]
fn sub_mistakes_are_named() {
    let sub = |args: &[&str]| {
        let mut argv = vec!["client", "sub", "orders.eu"];
        argv.extend_from_slice(args);
        error(&argv)
    };
    assert!(sub(&["--from", "1", "--last", "2"]).contains("--last"));
    assert!(sub(&["--from", "0"]).contains("--from"));
    assert!(sub(&["--last", "x"]).contains("--last"));
    assert!(sub(&["--since", "yesterday-ish"]).contains("--since"));
    assert!(sub(&["--ack-wait", "1s"]).contains("--consumer"));
    assert!(sub(&["--no-ack"]).contains("--consumer"));
    assert!(sub(&["--consumer", "a b"]).contains("--consumer"));
    assert!(sub(&["--consumer", "c", "--ack-wait", "0"]).contains("--ack-wait"));
    assert!(sub(&["--consumer", "c", "--max-ack-pending", "0"]).contains("--max-ack-pending"));
    assert!(error(&["client", "sub", "a..b"]).contains("dot"));
    assert!(error(&["client", "sub", "orders."]).contains("dot"));
    assert!(error(&["client", "channel-info", "*"]).contains("channel"));
}

#[test]
fn client_mistakes_are_named() {
    assert!(error(&["client", "sub", "bad channel"]).contains("channel"));
    assert!(error(&["client", "sub", &"x".repeat(65)]).contains("1 to 64"));
    assert!(error(&["client", "pub", "news"]).contains("message"));
    assert!(error(&["client", "pub", "news", &"x".repeat(MAX_MESSAGE + 1)]).contains("16384"));
    assert!(error(&["client", "ping", "--count", "0"]).contains("--count"));
    assert!(error(&["client", "ping", "--addr", "localhost"]).contains("HOST:PORT"));
    assert!(error(&["client", "ping", "--io", "kqueue"]).contains("--io"));
    assert!(error(&["client", "ping", "--timeout", "soon"]).contains("--timeout"));
    assert!(error(&["client"]).contains("Usage"));
}

#[test]
fn bench_defaults() {
    let b = bench(&["bench-stream"]);
    assert_eq!(b.target.addr, "127.0.0.1:7070");
    assert_eq!((b.connections, b.streams, b.size, b.rate), (4, 8, 64, 0));
    assert_eq!(b.duration, Duration::from_secs(10));
    assert_eq!(b.warmup, Duration::from_secs(2));
    assert_eq!(b.service, BenchService::Echo);
    assert_eq!((b.subscribers, b.threads), (1, 1));
    assert!(b.channel.starts_with("bench-"));
    assert!(!b.json && b.cpus.is_none());
}

#[test]
fn bench_options() {
    let b = bench(&[
        "bench-stream",
        "--connections",
        "2",
        "--streams",
        "16",
        "--size",
        "4096",
        "--rate",
        "50000",
        "--duration",
        "3s",
        "--warmup",
        "0",
        "--service",
        "pubsub",
        "--subscribers",
        "100",
        "--channel",
        "fan",
        "--json",
        "--threads",
        "2",
        "--cpus",
        "0-1",
        "--upgrade",
    ]);
    assert_eq!(
        (b.connections, b.streams, b.size, b.rate),
        (2, 16, 4096, 50_000)
    );
    assert_eq!(
        (b.duration, b.warmup),
        (Duration::from_secs(3), Duration::ZERO)
    );
    assert_eq!(b.service, BenchService::Pubsub);
    assert_eq!(
        (b.subscribers, b.channel.as_str(), b.threads),
        (100, "fan", 2)
    );
    assert_eq!(b.cpus, Some(vec![0, 1]));
    assert!(b.json && b.target.upgrade);
    assert_eq!(b.target.addr, "127.0.0.1:8080");
}

#[test]
fn bench_mistakes_are_named() {
    assert!(error(&["bench-stream", "--size", "4"]).contains("--size"));
    assert!(
        error(&["bench-stream", "--service", "pubsub", "--size", "20000"]).contains("one frame")
    );
    assert!(error(&["bench-stream", "--service", "http"]).contains("http"));
    assert!(error(&["bench-stream", "--duration", "0"]).contains("--duration"));
    assert!(error(&["bench-stream", "--connections", "0"]).contains("--connections"));
    assert!(error(&["bench-stream", "--cpus", "3-1"]).contains("--cpus"));
    assert!(error(&["bench-stream", "--channel", "a b"]).contains("--channel"));
    assert!(error(&["bench-stream", "--durable-channel", "d"]).contains("--service channels"));
    assert!(error(&["bench-stream", "--service", "channels", "--replay"]).contains("durable"));
    assert!(
        error(&[
            "bench-stream",
            "--service",
            "channels",
            "--durable-channel",
            "a."
        ])
        .contains("--durable-channel")
    );
}

#[test]
fn bench_channels() {
    let b = bench(&["bench-stream", "--service", "channels", "--depth", "32"]);
    assert_eq!(b.service, BenchService::Channels);
    assert_eq!(
        (b.depth, b.durable_channel.as_deref(), b.replay),
        (32, None, false)
    );
    let b = bench(&[
        "bench-stream",
        "--service",
        "channels",
        "--durable-channel",
        "bench.d",
        "--replay",
    ]);
    assert_eq!(
        (b.durable_channel.as_deref(), b.replay),
        (Some("bench.d"), true)
    );
}

#[test]
fn durations_take_units_or_seconds() {
    assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert!(parse_duration("-1").is_err());
}

#[test]
fn a_token_goes_with_every_command_and_is_never_printed() {
    let token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0In0.c2ln";
    for args in [
        &["client", "--token", token, "ping"][..],
        &["client", "echo", "hi", "--token", token],
        &["client", "pub", "orders", "m", "--token", token],
        &["client", "sub", "orders", "--token", token],
        &["client", "channel-info", "orders", "--token", token],
        &["client", "kv", "get", "k", "--token", token],
    ] {
        let c = client(args);
        assert_eq!(c.target.token.as_deref(), Some(token), "{args:?}");
        assert!(!format!("{c:?}").contains(token), "{args:?}: printed");
    }
    let b = bench(&["bench-stream", "--token", &format!(" {token}\n")]);
    assert_eq!(b.target.token.as_deref(), Some(token), "trimmed");
    assert!(error(&["client", "--token", "", "ping"]).contains("RINGWIRE_TOKEN"));
    let long = "a".repeat(4097);
    assert!(error(&["client", "--token", &long, "ping"]).contains("4096"));
    assert!(error(&["client", "--token", "a b", "ping"]).contains("printable"));
}

#[test]
fn tls_flags_go_with_every_command_and_are_checked() {
    let c = client(&["client", "--tls", "--tls-ca", "ca.pem", "echo", "hi"]);
    let plain = TlsTarget {
        ca: "ca.pem".into(),
        server_name: None,
        identity: None,
    };
    assert_eq!(c.target.tls.as_ref(), Some(&plain));
    let c = client(&["client", "kv", "get", "k", "--tls", "--tls-ca", "ca.pem"]);
    assert_eq!(c.target.tls.as_ref(), Some(&plain));
    let b = bench(&[
        "bench-stream",
        "--tls",
        "--tls-ca",
        "ca.pem",
        "--tls-server-name",
        "localhost",
        "--tls-cert",
        "me.pem",
        "--tls-key",
        "me.key",
    ]);
    let full = TlsTarget {
        ca: "ca.pem".into(),
        server_name: Some("localhost".into()),
        identity: Some(("me.pem".into(), "me.key".into())),
    };
    assert_eq!(b.target.tls, Some(full));
    assert_eq!(client(&["client", "ping"]).target.tls, None);
    assert!(error(&["client", "--tls", "ping"]).contains("--tls needs --tls-ca FILE"));
    assert!(error(&["bench-stream", "--tls"]).contains("--tls-ca"));
    let e = error(&["client", "--tls-ca", "ca.pem", "ping"]);
    assert!(e.contains("--tls-ca only works with --tls"), "{e}");
    let e = error(&["client", "--tls-server-name", "x", "ping"]);
    assert!(e.contains("--tls-server-name only works with --tls"), "{e}");
    let half = [
        "client",
        "--tls",
        "--tls-ca",
        "ca.pem",
        "--tls-key",
        "k",
        "ping",
    ];
    assert!(error(&half).contains("go together"));
    let empty = [
        "client",
        "--tls",
        "--tls-ca",
        "ca.pem",
        "--tls-server-name",
        "",
        "ping",
    ];
    assert!(error(&empty).contains("--tls-server-name"));
}
