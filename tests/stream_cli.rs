//! `ringwire client` and `ringwire bench-stream` against a real `ringwire serve`, on both
//! backends (the server's and the client's).

mod util;

use std::{
    io::Read,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};
use util::Server;

/// What a finished command printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn spawn(io: &str, args: &[&str]) -> Child {
    let (cmd, rest) = args.split_first().expect("a subcommand");
    Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .arg(cmd)
        .args(["--io", io])
        .args(rest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ringwire")
}

/// Waits for `child` at most 30 s (then kills it and fails).
fn finish(mut child: Child) -> Run {
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ringwire did not finish in time");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

fn ringwire(io: &str, args: &[&str]) -> Run {
    finish(spawn(io, args))
}

both_backends! {
    fn ping_and_echo(io) {
        let s = Server::start(io, &[]);
        let addr = s.stream.unwrap().to_string();
        let ping = ["ping", "--count", "2", "--interval", "0"];
        let r = ringwire(io, &[&["client", "--addr", &addr][..], &ping].concat());
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout.matches("pong from").count(), 2, "{}", r.stdout);
        assert!(r.stdout.contains("2 pings: min/avg/max"), "{}", r.stdout);

        let r = ringwire(io, &["client", "--addr", &addr, "echo", "hello, world"]);
        assert_eq!((r.code, r.stdout.as_str()), (0, "hello, world\n"), "{}", r.stderr);
    }
}

both_backends! {
    fn echo_through_the_http_upgrade(io) {
        let s = Server::start(io, &[]);
        let http = s.addr.to_string();
        let r = ringwire(io, &["client", "--upgrade", "--addr", &http, "echo", "upgraded"]);
        assert_eq!((r.code, r.stdout.as_str()), (0, "upgraded\n"), "{}", r.stderr);

        // The HTTP port without the upgrade: a clear hint, not a protocol dump.
        let r = ringwire(io, &["client", "--addr", &http, "ping"]);
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("needs the upgrade"), "{}", r.stderr);
    }
}

both_backends! {
    fn publish_reaches_a_subscriber(io) {
        let s = Server::start(io, &[]);
        let addr = s.stream.unwrap().to_string();
        let sub = spawn(io, &["client", "--addr", &addr, "sub", "cli-test", "--count", "2"]);
        // The subscription races the first publish: publish until the subscriber has its two.
        let mut sub = Some(sub);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let r = ringwire(io, &["client", "--addr", &addr, "pub", "cli-test", "same"]);
            assert_eq!(r.code, 0, "{}", r.stderr);
            assert_eq!(r.stdout, "published 1 message to cli-test\n");
            if sub.as_mut().unwrap().try_wait().unwrap().is_some() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let r = finish(sub.take().unwrap());
        assert_eq!((r.code, r.stdout.as_str()), (0, "same\nsame\n"), "{}", r.stderr);

        let r = ringwire(io, &["client", "--addr", &addr, "pub", "bad channel", "x"]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("channel"), "{}", r.stderr);
    }
}

both_backends! {
    fn bench_echo_and_fan_out_report_json(io) {
        let s = Server::start(io, &[]);
        let addr = s.stream.unwrap().to_string();
        let common = ["--addr", addr.as_str(), "--duration", "1", "--warmup", "0.2", "--json"];
        let mut args = vec!["bench-stream", "--connections", "2", "--streams", "2"];
        args.extend(common);
        let r = ringwire(io, &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let j: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON line");
        assert_eq!(j["service"], "echo");
        assert!(j["messages"].as_u64().unwrap() > 0, "{j}");
        assert!(j["latency_us"]["p99"].as_f64().unwrap() > 0.0, "{j}");
        assert!(r.stderr.contains("msg/s"), "no progress lines: {}", r.stderr);

        let mut args = vec!["bench-stream", "--service", "pubsub", "--subscribers", "5"];
        args.extend(["--connections", "2", "--rate", "500"]);
        args.extend(common);
        let r = ringwire(io, &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let j: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON line");
        assert_eq!(j["service"], "pubsub");
        let published = j["published"].as_u64().unwrap();
        let delivered = j["messages"].as_u64().unwrap();
        assert!(published > 300 && delivered > 4 * published, "{j}");
    }
}
