//! `ringwire client pub|sub|channel-info` and `bench-stream --service channels` on durable
//! channels, against a real `ringwire serve` on both backends.

mod util;

use std::process::Command;
use util::Server;

/// What a finished command printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ringwire(io: &str, addr: &str, args: &[&str]) -> Run {
    let (cmd, rest) = args.split_first().expect("a subcommand");
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .arg(cmd)
        .args(["--io", io, "--addr", addr, "--timeout", "10s"])
        .args(rest)
        .output()
        .expect("run ringwire");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(r: Run) -> String {
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    r.stdout
}

both_backends! {
    fn durable_channels_from_the_command_line(io) {
        let s = Server::start(io, &["--durable", "orders.*"]);
        let addr = s.stream.unwrap().to_string();
        let run = |args: &[&str]| ringwire(io, &addr, args);
        assert_eq!(
            ok(run(&["client", "pub", "orders.cli", "a", "b", "c"])),
            "seq 1\nseq 2\nseq 3\npublished 3 messages to orders.cli\n"
        );
        assert_eq!(ok(run(&["client", "sub", "orders.cli", "--from", "2", "--seq", "-n", "2"])), "2\tb\n3\tc\n");
        assert_eq!(ok(run(&["client", "sub", "orders.cli", "--last", "1", "-n", "1"])), "c\n");
        assert_eq!(ok(run(&["client", "sub", "orders.cli", "--since", "1h", "-n", "3"])), "a\nb\nc\n");
        assert_eq!(
            ok(run(&["client", "channel-info", "orders.cli"])),
            "first 1\nnext 4\ncount 3\nbytes 3\n"
        );
        // A consumer acknowledges what it printed: the next run goes on from there.
        let consumer = ["client", "sub", "orders.cli", "--consumer", "w", "--from", "1", "--seq"];
        assert_eq!(ok(run(&[&consumer[..], &["-n", "2"]].concat())), "1\ta\n2\tb\n");
        assert_eq!(ok(run(&[&consumer[..], &["-n", "1"]].concat())), "3\tc\n");
        // Without acknowledging, the same message comes again.
        let no_ack = [&consumer[..], &["-n", "1", "--no-ack", "--ack-wait", "100ms"]].concat();
        ok(run(&["client", "pub", "orders.cli", "d"]));
        assert_eq!(ok(run(&no_ack)), "4\td\n");
        assert_eq!(ok(run(&no_ack)), "4\td\n");

        // Ephemeral channels keep their output; replay needs a durable one.
        assert_eq!(ok(run(&["client", "pub", "news", "x"])), "published 1 message to news\n");
        let r = run(&["client", "channel-info", "news"]);
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("NOT_DURABLE"), "{}", r.stderr);
    }
}

both_backends! {
    fn bench_publishes_durably_and_replays(io) {
        let s = Server::start(io, &["--durable", "bench.*"]);
        let addr = s.stream.unwrap().to_string();
        let common = ["--connections", "1", "--streams", "2", "--duration", "1", "--warmup", "0.2", "--json"];
        let mut args = vec!["bench-stream", "--service", "channels", "--durable-channel", "bench.d", "--depth", "8"];
        args.extend(common);
        let j: serde_json::Value = serde_json::from_str(ok(ringwire(io, &addr, &args)).trim()).expect("one JSON line");
        assert_eq!(j["service"], "channels");
        let published = j["messages"].as_u64().unwrap();
        assert!(published > 0 && j["errors"] == 0, "{j}");

        // The replay may read it all in well under a second: no warmup to miss it in.
        let mut args = vec!["bench-stream", "--service", "channels", "--durable-channel", "bench.d", "--replay"];
        args.extend(["--connections", "1", "--streams", "2", "--duration", "1", "--warmup", "0", "--json"]);
        let j: serde_json::Value = serde_json::from_str(ok(ringwire(io, &addr, &args)).trim()).expect("one JSON line");
        assert!(j["messages"].as_u64().unwrap() > 0 && j["errors"] == 0, "{j}");

        // A channel the server does not keep is refused up front.
        let mut args = vec!["bench-stream", "--service", "channels", "--durable-channel", "other"];
        args.extend(common);
        let r = ringwire(io, &addr, &args);
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("NOT_DURABLE"), "{}", r.stderr);
    }
}
