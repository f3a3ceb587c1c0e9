//! The stream protocol's clients over TLS against the real server, on both backends (the
//! server's and the client's): `ringwire client --tls --tls-ca CA` on the TLS stream port and,
//! through ALPN `ringwire-stream/1`, on the TLS HTTP port; clean failures (a plain client on
//! a TLS port, a TLS client on a plain port, the wrong CA, the wrong name);
//! `ringwire bench-stream --tls`; and the client library itself, byte-exact.

mod util;

use ringwire_net::{
    stream::client::{Client, Options, TlsOptions},
    tls::{ALPN_STREAM, client_config},
};
use ringwire_reactor::{Backend, Runtime, spawn_local};
use std::{
    path::Path,
    process::{Command, Output, Stdio},
    rc::Rc,
    thread,
    time::{Duration, Instant},
};
use util::{
    pattern,
    tls::{self, Pki},
};

/// What a finished command printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `ringwire <args...> --io <io>`, at most 30 s (then killed: a hang fails the test).
fn ringwire(io: &str, args: &[&str]) -> Run {
    let out = wait(spawn(io, args));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn spawn(io: &str, args: &[&str]) -> std::process::Child {
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

fn wait(mut child: std::process::Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "ringwire did not finish in 30 s: {:?}",
                child.wait_with_output()
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// `client --tls --tls-ca CA --addr ADDR` followed by `rest`.
fn tls_client(io: &str, ca: &Path, addr: &str, rest: &[&str]) -> Run {
    let ca = ca.to_str().unwrap();
    let args = [
        &["client", "--tls", "--tls-ca", ca, "--addr", addr][..],
        rest,
    ]
    .concat();
    ringwire(io, &args)
}

fn backend(io: &str) -> Backend {
    io.parse().unwrap()
}

both_backends! {
    fn the_cli_round_trips_over_tls_on_both_ports(io) {
        let pki = Pki::new();
        let s = tls::start(io, &pki, &["--workers", "2"]);
        assert!(s.log().contains("stream protocol on tls://"), "{}", s.log());
        let stream = s.stream.unwrap().to_string();
        let ca = pki.ca();

        // The stream port: the server name defaults to the host, an IP address here.
        let r = tls_client(io, &ca, &stream, &["echo", "over tls"]);
        assert_eq!((r.code, r.stdout.as_str()), (0, "over tls\n"), "{}", r.stderr);
        let r = tls_client(io, &ca, &stream, &["ping", "--count", "2", "--interval", "0"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout.matches("pong from").count(), 2, "{}", r.stdout);
        // A DNS name, checked against the certificate and sent as SNI.
        let named = ["--tls-server-name", "localhost", "kv", "put", "tls/k", "secret"];
        let r = tls_client(io, &ca, &stream, &named);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let r = tls_client(io, &ca, &stream, &["kv", "get", "tls/k"]);
        assert_eq!((r.code, r.stdout.as_str()), (0, "secret\n"), "{}", r.stderr);

        // Pub/sub: publish until the subscriber has its two (the subscription races the first).
        let ca_str = ca.to_str().unwrap();
        let sub_args = ["client", "--tls", "--tls-ca", ca_str, "--addr", &stream, "sub", "tls-ch", "--count", "2"];
        let mut sub = spawn(io, &sub_args);
        let deadline = Instant::now() + Duration::from_secs(20);
        while sub.try_wait().unwrap().is_none() && Instant::now() < deadline {
            let r = tls_client(io, &ca, &stream, &["pub", "tls-ch", "sealed"]);
            assert_eq!(r.code, 0, "{}", r.stderr);
            thread::sleep(Duration::from_millis(100));
        }
        let out = wait(sub);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "sealed\nsealed\n", "{out:?}");

        // The HTTP port: ALPN ringwire-stream/1 gets the stream protocol directly...
        let http = s.addr.to_string();
        let r = tls_client(io, &ca, &http, &["echo", "via alpn"]);
        assert_eq!((r.code, r.stdout.as_str()), (0, "via alpn\n"), "{}", r.stderr);
        // ...and --upgrade offers http/1.1 and upgrades inside TLS.
        let r = tls_client(io, &ca, &http, &["--upgrade", "echo", "upgraded in tls"]);
        assert_eq!((r.code, r.stdout.as_str()), (0, "upgraded in tls\n"), "{}", r.stderr);
    }
}

both_backends! {
    fn failures_say_what_is_wrong_and_never_hang(io) {
        let pki = Pki::new();
        let client_ca = pki.client_ca();
        let s = tls::start(io, &pki, &["--tls-client-ca", client_ca.to_str().unwrap()]);
        let stream = s.stream.unwrap().to_string();

        // A client certificate is presented when the server asks: one from the client CA is
        // taken, one from a CA the server does not know is refused.
        let (cert, key) = pki.client("alice", "alice", true);
        let identity = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
        let r = tls_client(io, &pki.ca(), &stream, &[&identity[..], &["echo", "me"]].concat());
        assert_eq!((r.code, r.stdout.as_str()), (0, "me\n"), "{}", r.stderr);
        let (cert, key) = pki.client("mallory", "mallory", false);
        let identity = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
        let r = tls_client(io, &pki.ca(), &stream, &[&identity[..], &["echo", "me"]].concat());
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("UnknownCA") && r.stderr.contains("refused this client's certificate"), "{}", r.stderr);

        // A plain client on the TLS stream port and on the TLS HTTP port (with the upgrade):
        // the server's alert ends it, with a hint, long before the connect timeout.
        for (addr, extra) in [(&stream, None), (&s.addr.to_string(), Some("--upgrade"))] {
            let mut args = vec!["client", "--timeout", "60s", "--addr", addr];
            args.extend(extra);
            args.push("ping");
            let r = ringwire(io, &args);
            assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
            assert!(r.stderr.contains("speaks TLS"), "{args:?}: {}", r.stderr);
        }

        // Another CA: a certificate error, not a protocol dump.
        let other = Pki::new();
        let r = tls_client(io, &other.ca(), &stream, &["ping", "--count", "1"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("certificate was refused"), "{}", r.stderr);
        // The right CA, a name the certificate does not carry.
        let wrong_name = ["--tls-server-name", "example.com", "ping", "--count", "1"];
        let r = tls_client(io, &pki.ca(), &stream, &wrong_name);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("certificate was refused") && r.stderr.contains("example.com"), "{}", r.stderr);

        // A TLS client on a plain port (the admin endpoints are plain HTTP).
        let admin = s.admin.unwrap().to_string();
        let r = tls_client(io, &pki.ca(), &admin, &["--timeout", "60s", "ping", "--count", "1"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("does the server speak TLS"), "{}", r.stderr);

        // Flags: --tls needs its CA, which must exist; the other flags need --tls.
        let r = ringwire(io, &["client", "--tls", "--addr", &stream, "ping"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("--tls needs --tls-ca FILE"), "{}", r.stderr);
        let missing = pki.path("nope.pem");
        let r = tls_client(io, &missing, &stream, &["ping"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("nope.pem"), "{}", r.stderr);
        let ca = pki.ca();
        let r = ringwire(io, &["client", "--tls-ca", ca.to_str().unwrap(), "--addr", &stream, "ping"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("--tls-ca only works with --tls"), "{}", r.stderr);
    }
}

both_backends! {
    fn bench_stream_loads_echo_over_tls(io) {
        let pki = Pki::new();
        let s = tls::start(io, &pki, &["--workers", "2"]);
        let stream = s.stream.unwrap().to_string();
        let ca = pki.ca();
        let args = [
            "bench-stream", "--tls", "--tls-ca", ca.to_str().unwrap(), "--addr", &stream,
            "--connections", "2", "--streams", "2", "--size", "1024",
            "--duration", "1", "--warmup", "0.2", "--json",
        ];
        let r = ringwire(io, &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let j: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON line");
        assert_eq!((&j["service"], &j["tls"]), (&"echo".into(), &true.into()), "{j}");
        assert!(j["messages"].as_u64().unwrap() > 0, "{j}");
        assert!(r.stderr.contains("over TLS"), "{}", r.stderr);
        // The connections were the server's TLS handshakes.
        let deadline = Instant::now() + Duration::from_secs(10);
        while tls::handshakes(&s, "ok") < 2.0 {
            assert!(Instant::now() < deadline, "{}", s.admin_get("/metrics").1);
            thread::sleep(Duration::from_millis(50));
        }
    }
}

both_backends! {
    fn the_library_echoes_a_thousand_messages_byte_exact(io) {
        let pki = Pki::new();
        let s = tls::start(io, &pki, &[]);
        let addr = s.stream.unwrap();
        let config = client_config(&pki.ca(), &[ALPN_STREAM]).unwrap();
        // Mostly small messages, every tenth up to 256 KiB (one exactly): many TLS records,
        // partial records at every read boundary, flow control windows on both sides.
        let sizes: Vec<usize> = (0..1000usize)
            .map(|i| match i {
                500 => 256 * 1024,
                i if i % 10 == 0 => 1 + (i * 7919) % (256 * 1024),
                i => 1 + (i * 131) % 4096,
            })
            .collect();
        let sent: Vec<u8> = sizes.iter().enumerate().flat_map(|(i, &n)| pattern(i as u64, n)).collect();
        let rt = Runtime::builder().backend(backend(io)).build().unwrap();
        let echoed = rt.block_on(async move {
            let client = Client::connect_tls(addr, "localhost", config.clone()).await.unwrap();
            let stream = Rc::new(client.open("echo").await.unwrap());
            let sender = stream.clone();
            let messages: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| pattern(i as u64, n)).collect();
            let send = spawn_local(async move {
                for m in &messages {
                    sender.send(m).await.unwrap();
                }
                sender.finish().unwrap();
            });
            let mut echoed = Vec::new();
            while let Some(bytes) = stream.recv().await.unwrap() {
                echoed.extend_from_slice(&bytes);
            }
            send.await.unwrap();
            drop(stream);
            client.close().await.unwrap();
            // A second connection with the same configuration resumes the session (the ticket
            // came with the first).
            let options = Options {
                tls: Some(TlsOptions { config, server_name: "localhost".into() }),
                ..Options::default()
            };
            let again = Client::connect_with(addr, &options).await.unwrap();
            again.ping().await.unwrap();
            again.close().await.unwrap();
            echoed
        });
        assert_eq!(echoed.len(), sent.len());
        assert!(echoed == sent, "the echo differs from what was sent");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tls::metric(&s, "ringwire_tls_resumed_total") < 1.0 {
            assert!(Instant::now() < deadline, "{}", s.admin_get("/metrics").1);
            thread::sleep(Duration::from_millis(50));
        }
    }
}
