//! Tokens on the stream protocol against the real server with `--auth-keys`, on both
//! backends: the token in the handshake (stream port and HTTP upgrade), per-request kv and
//! channels scopes that refuse one request and let the stream go on, the no-token and
//! invalid-token answers, and the denial counters.

mod util;

use ringwire_net::stream::client::{Client, ErrorCode, Options, Stream, error_code};
use ringwire_protocol::{
    channels::{self, Answer, ServerMessage, Start},
    kv::{self, Cond, Op, Request, Response},
};
use ringwire_reactor::{Backend, Runtime};
use std::{io, net::SocketAddr};
use util::{
    Server,
    kvstream::exchange,
    tokens::{Key, KeyDir, denied, now},
};

/// Runs `f` on a client runtime of backend `io`.
fn on<T>(io: &str, f: impl AsyncFnOnce() -> T) -> T {
    let rt = Runtime::builder()
        .backend(io.parse::<Backend>().unwrap())
        .build()
        .unwrap();
    rt.block_on(f())
}

fn options(token: Option<&str>, upgrade: bool) -> Options {
    Options {
        token: token.map(str::to_string),
        upgrade,
        ..Options::default()
    }
}

async fn connect(addr: SocketAddr, token: Option<&str>, upgrade: bool) -> io::Result<Client> {
    Client::connect_with(addr, &options(token, upgrade)).await
}

/// An error from the client carries `code`.
fn assert_code(e: &io::Error, code: ErrorCode) {
    assert_eq!(error_code(e), Some(code), "{e}");
}

/// Opens `service`, sends `bytes`, and expects the stream to be reset with `code`.
async fn expect_reset(c: &Client, service: &str, bytes: &[u8], code: ErrorCode) {
    let stream = c.open(service).await.unwrap();
    let _ = stream.send(bytes).await; // may already see the RESET
    loop {
        match stream.recv().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("{service}: the stream ended instead of a RESET {code:?}"),
            Err(e) => return assert_code(&e, code),
        }
    }
}

fn get(id: u32, key: &[u8]) -> Request<'_> {
    Request::Get { id, key }
}

fn put<'a>(id: u32, key: &'a [u8], value: &'a [u8]) -> Request<'a> {
    Request::Put {
        id,
        cond: Cond::Any,
        key,
        value,
    }
}

fn scan(id: u32, prefix: &[u8]) -> Request<'_> {
    Request::Scan {
        id,
        prefix,
        after: b"",
        limit: 100,
    }
}

fn op_of(r: &Request<'_>) -> Op {
    match r {
        Request::Get { .. } => Op::Get,
        Request::Put { .. } => Op::Put,
        Request::Delete { .. } => Op::Delete,
        Request::Scan { .. } => Op::Scan,
    }
}

/// What each kv answer says, in the order of `reqs` (answers may come out of order: they are
/// paired by id), in a comparable form: "value:<v>", "written", "keys:<n>", "not_found", or
/// the failed status.
async fn kv_outcomes(c: &Client, reqs: &[Request<'_>]) -> Vec<String> {
    let answers = exchange(c, reqs).await;
    assert_eq!(answers.len(), reqs.len());
    let mut out = Vec::new();
    for req in reqs {
        let body = answers
            .iter()
            .find(|b| kv::response_id(b).ok() == Some(req.id()))
            .unwrap_or_else(|| panic!("no answer to request {}", req.id()));
        let r = kv::decode_response(body, op_of(req)).unwrap();
        out.push(match r {
            Response::Value { value, .. } => format!("value:{}", String::from_utf8_lossy(value)),
            Response::Written { .. } => "written".into(),
            Response::Keys { keys, .. } => format!("keys:{}", keys.len()),
            Response::NotFound { .. } => "not_found".into(),
            Response::Failed { status, .. } => format!("{status:?}"),
            other => format!("{other:?}"),
        });
    }
    out
}

both_backends! {
    fn kv_requests_are_checked_one_by_one(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &["--workers", "2", "--auth-keys", keys.path()]);
        let rw = a.token(&["kv:read:a/", "kv:write:a/"]);
        let reader = a.token(&["kv:read:a/"]);
        let forbidden0 = denied(&s, "forbidden");
        let addr = s.stream.unwrap();
        on(io, async || {
            let c = connect(addr, Some(&rw), false).await.unwrap();
            let got = kv_outcomes(&c, &[put(1, b"a/x", b"v"), put(2, b"b/y", b"no")]).await;
            assert_eq!(got, ["written", "Forbidden"]);
            let got = kv_outcomes(&c, &[
                get(2, b"a/x"),
                get(3, b"b/x"),
                put(4, b"b/y", b"no"),
                get(5, b"a/x"),
                scan(6, b"a/"),
                scan(7, b"b"),
            ]).await;
            assert_eq!(got, ["value:v", "Forbidden", "Forbidden", "value:v", "keys:1", "Forbidden"]);
            // The connection goes on too.
            assert_eq!(kv_outcomes(&c, &[get(1, b"a/x")]).await, ["value:v"]);

            let r = connect(addr, Some(&reader), false).await.unwrap();
            let got = kv_outcomes(&r, &[put(1, b"a/z", b"w"), get(2, b"a/x"), get(3, b"a/z")]).await;
            assert_eq!(got, ["Forbidden", "value:v", "not_found"]);
        });
        assert!(denied(&s, "forbidden") >= forbidden0 + 5.0, "{}", s.log());
    }
}

both_backends! {
    fn without_a_token_data_services_are_refused_and_echo_works(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &["--workers", "2", "--auth-keys", keys.path()]);
        let missing0 = denied(&s, "missing_token");
        let addr = s.stream.unwrap();
        on(io, async || {
            let c = connect(addr, None, false).await.expect("the handshake needs no token");
            let mut wire = Vec::new();
            kv::encode_request(&get(1, b"a/x"), &mut wire);
            expect_reset(&c, "kv", &wire, ErrorCode::UNAUTHENTICATED).await;
            let mut wire = Vec::new();
            channels::Request::Sub { id: 1, channel: "orders.eu", start: Start::New }.encode(&mut wire);
            expect_reset(&c, "channels", &wire, ErrorCode::UNAUTHENTICATED).await;

            // Echo is public, on the same connection.
            let echo = c.open("echo").await.unwrap();
            echo.send(b"still here").await.unwrap();
            echo.finish().unwrap();
            let mut got = Vec::new();
            while let Some(b) = echo.recv().await.unwrap() {
                got.extend_from_slice(&b);
            }
            assert_eq!(got, b"still here");
        });
        assert!(denied(&s, "missing_token") >= missing0 + 2.0, "{}", s.log());
    }
}

both_backends! {
    fn invalid_tokens_end_the_handshake(io) {
        let (a, stranger) = (Key::new(), Key::new());
        let keys = KeyDir::with(&[&a]);
        let list = tempfile::tempdir().unwrap();
        let revoked_file = list.path().join("revoked");
        let revoked = a.token(&["kv:read:"]);
        util::tokens::write_revoked(&revoked_file, &[&util::tokens::jti_of(&revoked)]);
        let s = Server::start(io, &[
            "--workers", "2",
            "--auth-keys", keys.path(),
            "--auth-revoked", revoked_file.to_str().unwrap(),
        ]);
        let invalid0 = denied(&s, "invalid_token");
        let t = now();
        let bad = [
            ("revoked", revoked),
            ("garbage", "not-a-token".to_string()),
            ("unknown key", stranger.token(&["kv:read:"])),
            ("expired", a.token_at(&["kv:read:"], t - 3600, t - 120)),
            ("not yet valid", a.token_at(&["kv:read:"], t + 600, t + 3600)),
        ];
        let addr = s.stream.unwrap();
        on(io, async || {
            for (what, token) in &bad {
                let e = match connect(addr, Some(token), false).await {
                    Ok(_) => panic!("{what}: the handshake was accepted"),
                    Err(e) => e,
                };
                assert_code(&e, ErrorCode::UNAUTHENTICATED);
                assert!(e.to_string().contains("invalid token"), "{what}: {e}");
            }
            // A good token on the same server still gets in.
            let c = connect(addr, Some(&a.token(&["kv:read:"])), false).await.unwrap();
            assert_eq!(kv_outcomes(&c, &[get(1, b"k")]).await, ["not_found"]);
        });
        assert!(denied(&s, "invalid_token") >= invalid0 + bad.len() as f64, "{}", s.log());
    }
}

/// One `channels` stream: requests out, answers and messages in.
struct Chan {
    stream: Stream,
    buf: Vec<u8>,
}

/// A channels server message, owned: `Ok(answer text)` or `Err(status)` for an answer, or
/// a delivered message's data.
#[derive(Debug, PartialEq)]
enum Got {
    Answer(Result<&'static str, channels::Status>),
    Message(Vec<u8>),
}

impl Chan {
    async fn open(c: &Client) -> Chan {
        Chan {
            stream: c.open("channels").await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn send(&self, req: channels::Request<'_>) {
        let mut wire = Vec::new();
        req.encode(&mut wire);
        self.stream.send(&wire).await.unwrap();
    }

    async fn next(&mut self) -> Got {
        loop {
            if let Some((body, used)) = channels::split(&self.buf).unwrap() {
                let got = match channels::parse_server_message(body).unwrap() {
                    ServerMessage::Answer { answer, .. } => Got::Answer(match answer {
                        Answer::Published { .. } => Ok("published"),
                        Answer::Subscribed { .. } => Ok("subscribed"),
                        Answer::Info { .. } => Ok("info"),
                        Answer::Done => Ok("done"),
                        Answer::Failed { status, .. } => Err(status),
                    }),
                    ServerMessage::Message { data, .. } => Got::Message(data.to_vec()),
                };
                self.buf.drain(..used);
                return got;
            }
            let more = self.stream.recv().await.unwrap().expect("the stream ended");
            self.buf.extend_from_slice(&more);
        }
    }

    async fn publish(&mut self, id: u32, channel: &str, data: &[u8]) -> Got {
        self.send(channels::Request::Pub { id, channel, data })
            .await;
        self.next().await
    }
}

both_backends! {
    fn channel_scopes_refuse_one_request_at_a_time(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &["--workers", "2", "--auth-keys", keys.path()]);
        let token = a.token(&["pub:orders.*", "sub:orders.>"]);
        let addr = s.stream.unwrap();
        on(io, async || {
            let c = connect(addr, Some(&token), false).await.unwrap();
            let mut sub = Chan::open(&c).await;
            sub.send(channels::Request::Sub { id: 1, channel: "orders.eu", start: Start::New }).await;
            assert_eq!(sub.next().await, Got::Answer(Ok("subscribed")));

            let mut publ = Chan::open(&c).await;
            let forbidden = Got::Answer(Err(channels::Status::Forbidden));
            assert_eq!(publ.publish(1, "audit", b"no").await, forbidden);
            assert_eq!(publ.publish(2, "orders.eu.x", b"no").await, forbidden);
            assert_eq!(publ.publish(3, "orders.eu", b"yes").await, Got::Answer(Ok("published")));
            assert_eq!(sub.next().await, Got::Message(b"yes".to_vec()));

            // A subscription outside sub: is refused on its own stream.
            let mut other = Chan::open(&c).await;
            other.send(channels::Request::Sub { id: 1, channel: "audit", start: Start::New }).await;
            assert_eq!(other.next().await, forbidden);
        });
    }
}

both_backends! {
    fn the_upgrade_carries_the_token(io) {
        let (a, stranger) = (Key::new(), Key::new());
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &["--workers", "2", "--auth-keys", keys.path()]);
        let rw = a.token(&["kv:read:a/", "kv:write:a/"]);
        let http = s.addr;
        on(io, async || {
            let c = connect(http, Some(&rw), true).await.unwrap();
            let got = kv_outcomes(&c, &[put(1, b"a/up", b"1"), put(2, b"b/up", b"1")]).await;
            assert_eq!(got, ["written", "Forbidden"]);
            let got = kv_outcomes(&c, &[get(1, b"a/up"), get(2, b"b/up")]).await;
            assert_eq!(got, ["value:1", "Forbidden"]);

            let anonymous = connect(http, None, true).await.unwrap();
            let mut wire = Vec::new();
            kv::encode_request(&get(1, b"a/up"), &mut wire);
            expect_reset(&anonymous, "kv", &wire, ErrorCode::UNAUTHENTICATED).await;

            let e = match connect(http, Some(&stranger.token(&["kv:read:"])), true).await {
                Ok(_) => panic!("a stranger's token passed the upgraded handshake"),
                Err(e) => e,
            };
            assert_code(&e, ErrorCode::UNAUTHENTICATED);
        });

        // The CLI's --upgrade path carries --token too.
        let cli = |token: Option<&str>| {
            let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ringwire"));
            c.args(["client", "--io", io, "--addr", &http.to_string(), "--upgrade"]);
            c.env_remove("RINGWIRE_TOKEN");
            if let Some(t) = token {
                c.args(["--token", t]);
            }
            c.args(["kv", "get", "a/up"]).output().unwrap()
        };
        let out = cli(Some(&rw));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
        assert!(!cli(None).status.success());
    }
}

/// One `kv` stream kept open: one request at a time.
struct KvStream {
    stream: Stream,
    buf: Vec<u8>,
}

impl KvStream {
    async fn open(c: &Client) -> KvStream {
        KvStream {
            stream: c.open("kv").await.unwrap(),
            buf: Vec::new(),
        }
    }

    /// Sends `req` and reads its answer, as [`kv_outcomes`] words it.
    async fn ask(&mut self, req: Request<'_>) -> String {
        let mut wire = Vec::new();
        kv::encode_request(&req, &mut wire);
        self.stream.send(&wire).await.unwrap();
        loop {
            if let Some((body, used)) = kv::split(&self.buf).unwrap() {
                assert_eq!(kv::response_id(body).ok(), Some(req.id()));
                let word = match kv::decode_response(body, op_of(&req)).unwrap() {
                    Response::NotFound { .. } => "not_found".to_string(),
                    Response::Failed { status, .. } => format!("{status:?}"),
                    other => format!("{other:?}"),
                };
                self.buf.drain(..used);
                return word;
            }
            let more = self
                .stream
                .recv()
                .await
                .unwrap()
                .expect("the kv stream ended");
            self.buf.extend_from_slice(&more);
        }
    }

    /// Asks GET `key` until the answer is `want`, for at most 15 s.
    async fn until(&mut self, key: &[u8], want: &str) {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(15);
        for id in 1.. {
            let got = self.ask(get(id, key)).await;
            if got == want {
                return;
            }
            assert_eq!(got, "not_found", "only the old or the new answer");
            assert!(
                std::time::Instant::now() < end,
                "still {got}, not {want}, after 15 s"
            );
            ringwire_reactor::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

both_backends! {
    fn open_connections_lose_revoked_and_expired_tokens(io) {
        let (a, b) = (Key::new(), Key::new());
        let keys = KeyDir::with(&[&a, &b]);
        let list = tempfile::tempdir().unwrap();
        let revoked = list.path().join("revoked");
        util::tokens::write_revoked(&revoked, &[]);
        let s = Server::start(io, &[
            "--workers", "2",
            "--auth-keys", keys.path(),
            "--auth-revoked", revoked.to_str().unwrap(),
            "--auth-leeway", "0s",
        ]);
        let addr = s.stream.unwrap();
        let (gone, kept) = (a.token(&["kv:read:"]), a.token(&["kv:read:"]));
        let unsigned = b.token(&["kv:read:"]);
        let t = now();
        let brief = a.token_at(&["kv:read:"], t, t + 3);
        on(io, async || {
            let mut streams = Vec::new();
            for token in [&gone, &kept, &unsigned, &brief] {
                let c = connect(addr, Some(token), false).await.unwrap();
                let mut kv = KvStream::open(&c).await;
                assert_eq!(kv.ask(get(0, b"k")).await, "not_found");
                streams.push((c, kv));
            }
            util::tokens::write_revoked(&revoked, &[&util::tokens::jti_of(&gone)]);
            keys.remove(&b);
            s.signal("HUP");
            streams[0].1.until(b"k", "Unauthorized").await;
            streams[2].1.until(b"k", "Unauthorized").await;
            streams[3].1.until(b"k", "Unauthorized").await;
            assert_eq!(streams[1].1.ask(get(99, b"k")).await, "not_found", "the kept token");
            // A new stream on the revoked token's connection is refused at its OPEN.
            let mut wire = Vec::new();
            kv::encode_request(&get(1, b"k"), &mut wire);
            expect_reset(&streams[0].0, "kv", &wire, ErrorCode::UNAUTHENTICATED).await;
        });
    }
}

both_backends! {
    fn pubsub_command_lines_are_checked_against_the_globs(io) {
        let a = Key::new();
        let keys = KeyDir::with(&[&a]);
        let s = Server::start(io, &["--workers", "2", "--auth-keys", keys.path()]);
        let token = a.token(&["pub:orders.*", "sub:orders.>"]);
        let addr = s.stream.unwrap();
        on(io, async || {
            let c = connect(addr, Some(&token), false).await.unwrap();
            expect_reset(&c, "pubsub", b"SUB audit\n", ErrorCode::FORBIDDEN).await;
            expect_reset(&c, "pubsub", b"PUB audit\n", ErrorCode::FORBIDDEN).await;
            expect_reset(&c, "pubsub", b"PUB orders.eu.x\n", ErrorCode::FORBIDDEN).await;

            let sub = c.open("pubsub").await.unwrap();
            sub.send(b"SUB orders.eu.x\n").await.unwrap();
            let publ = c.open("pubsub").await.unwrap();
            publ.send(b"PUB orders.eu\n").await.unwrap();
            let other = c.open("pubsub").await.unwrap();
            other.send(b"SUB orders.eu\n").await.unwrap();
            // The subscription takes effect asynchronously: publish until one arrives.
            let got = 'got: {
                for _ in 0..100 {
                    publ.send_message(b"hi").await.unwrap();
                    let wait = std::time::Duration::from_millis(100);
                    if let Ok(m) = ringwire_reactor::time::timeout(wait, other.recv_message()).await {
                        break 'got m.unwrap().expect("a message");
                    }
                }
                panic!("no message on orders.eu within 10 s");
            };
            assert_eq!(&got[..], b"hi");
            drop(sub);
        });
    }
}
