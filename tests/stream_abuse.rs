//! The stream protocol against hostile and careless clients, on the real server and both
//! backends: GOAWAY on drain after the client's own GOAWAY, deadlines for the handshake and
//! for a frame, keep-alive PINGs and the dead-peer timeout, GOAWAY before an idle close, caps
//! on peer-provoked work (ENHANCE_YOUR_CALM), and the one switch and one path for the
//! protocol over HTTP Upgrade.
//!
//! Timeouts are configured short; the assertions count bytes and frames, not time: a drip
//! client checks that it was cut off long before it could have finished.

mod util;

use ringwire_protocol::stream::{ErrorCode, Frame, FrameType, Settings, decode};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};
use util::{
    Server,
    wire::{Ev, Wire},
};

const T: Duration = Duration::from_secs(10);

/// A frame read off the wire: its type, and the code if it is a GOAWAY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Hello,
    Ping,
    Pong,
    GoAway(u32),
    /// WINDOW_UPDATE: stream, increment.
    Update(u32, u32),
    Other(FrameType),
}

/// Reads `sock` until the server closes it (or `limit` passes: then `closed` is false) and
/// returns the frames in what was read, skipping `skip` bytes first.
fn frames_until_close(sock: &mut TcpStream, limit: Duration) -> (Vec<Seen>, bool) {
    let end = Instant::now() + limit;
    let mut bytes = Vec::new();
    let mut closed = false;
    while Instant::now() < end {
        sock.set_read_timeout(Some(
            end.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .unwrap();
        let mut chunk = [0u8; 65536];
        match sock.read(&mut chunk) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    let settings = Settings {
        max_frame_size: ringwire_protocol::stream::MAX_FRAME_SIZE,
        ..Settings::default()
    };
    let mut seen = Vec::new();
    let mut pos = 0;
    while let Ok(Some((frame, n))) = decode(&bytes[pos..], &settings) {
        pos += n;
        seen.push(match frame {
            Frame::Hello(_) => Seen::Hello,
            Frame::Ping(_) => Seen::Ping,
            Frame::Pong(_) => Seen::Pong,
            Frame::GoAway { code, .. } => Seen::GoAway(code.0),
            Frame::WindowUpdate { id, increment } => Seen::Update(id, increment),
            other => Seen::Other(other.kind()),
        });
    }
    (seen, closed)
}

fn goaways(seen: &[Seen]) -> Vec<u32> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::GoAway(c) => Some(*c),
            _ => None,
        })
        .collect()
}

fn hello_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    Frame::Hello(Settings::default()).encode(&mut b);
    b
}

/// Writes `bytes` one at a time, `every` apart, on a thread; counts what went out and stops at
/// the first error or when told to.
fn drip(sock: &TcpStream, bytes: Vec<u8>, every: Duration) -> (Arc<AtomicUsize>, Arc<AtomicBool>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut w = sock.try_clone().unwrap();
    let (s, st) = (sent.clone(), stop.clone());
    thread::spawn(move || {
        for b in bytes {
            if st.load(Ordering::SeqCst) || w.write_all(&[b]).is_err() {
                return;
            }
            s.fetch_add(1, Ordering::SeqCst);
            thread::sleep(every);
        }
    });
    (sent, stop)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

both_backends! {
    /// A client's GOAWAY is its own: on drain the server still sends its GOAWAY, lets the
    /// open stream finish, and closes the connection itself (no force-close at the deadline).
    fn a_client_goaway_does_not_silence_the_servers_goaway_on_drain(io) {
        let mut s = Server::start(io, &["--workers", "1", "--shutdown-timeout", "20s"]);
        let mut w = Wire::connect(s.stream.unwrap());
        let id = w.open("echo");
        let mut bye = Vec::new();
        Frame::GoAway { last_id: 0, code: ErrorCode::NO_ERROR, debug: b"client leaving" }.encode(&mut bye);
        w.raw(&bye);
        // The stream still works, and its echo proves the server has read the GOAWAY.
        w.send(id, b"after goaway", false);
        assert_eq!(w.read_stream(id, 12, T).0, b"after goaway");
        s.signal("TERM");
        let mut goaway = None;
        let deadline = Instant::now() + T;
        while goaway.is_none() && Instant::now() < deadline {
            if let Some(Ev::GoAway { last_id, code }) = w.next(Duration::from_millis(200)) {
                goaway = Some((last_id, code));
            }
        }
        let (last_id, code) = goaway.expect("the server's GOAWAY on drain, despite the client's");
        assert_eq!((last_id, code), (id, ErrorCode::NO_ERROR.0));
        w.send(id, b"done", true);
        assert_eq!(w.read_stream(id, 4, T), (b"done".to_vec(), true));
        assert_eq!(w.next(T), None, "the server closes the connection once the stream ended");
        // Well before the 20 s shutdown deadline: nothing had to be force-closed.
        let status = s.wait(Duration::from_secs(15)).expect("exits once the stream finished");
        assert_eq!(status.code(), Some(0));
        let log = s.log();
        assert!(!log.contains("force-closed") || log.contains("0 force-closed"), "{log}");
    }
}

both_backends! {
    /// A client dripping its HELLO one byte at a time is cut off at the handshake deadline
    /// with GOAWAY TIMEOUT, long before the HELLO could be complete.
    fn a_handshake_dripped_byte_by_byte_is_cut_off(io) {
        let s = Server::start(io, &["--stream-handshake-timeout", "500ms"]);
        let mut sock = connect(s.stream.unwrap());
        let hello = hello_bytes();
        let total = hello.len();
        let (sent, stop) = drip(&sock, hello, Duration::from_millis(250));
        let (seen, closed) = frames_until_close(&mut sock, T);
        let sent = sent.load(Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        assert!(closed, "still open after {sent} of {total} HELLO bytes: {seen:?}");
        assert!(sent < total, "closed only after the whole HELLO ({sent} bytes)");
        assert_eq!(goaways(&seen), vec![ErrorCode::TIMEOUT.0], "{seen:?}");
        assert!(!seen.contains(&Seen::Hello), "the server answered an incomplete HELLO");
    }
}

both_backends! {
    /// With a stream open, a frame dripped a byte at a time is cut off at the frame deadline;
    /// the same bytes sent at once are fine.
    fn a_frame_dripped_byte_by_byte_is_cut_off_even_with_a_stream_open(io) {
        let s = Server::start(io, &["--stream-frame-timeout", "500ms"]);
        let mut w = Wire::connect(s.stream.unwrap());
        let id = w.open("echo");
        let mut frame = Vec::new();
        Frame::Data { id, data: &[b'x'; 64], end: false }.encode(&mut frame);
        w.raw(&frame);
        assert_eq!(w.read_stream(id, 64, T).0, vec![b'x'; 64]);
        let total = frame.len();
        let (sent, stop) = drip(&w.sock, frame, Duration::from_millis(250));
        let (seen, closed) = frames_until_close(&mut w.sock, T);
        let sent = sent.load(Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        assert!(closed, "still open after {sent} of {total} bytes of a frame: {seen:?}");
        assert!(sent < total, "closed only after the whole frame ({sent} bytes)");
        assert_eq!(goaways(&seen), vec![ErrorCode::TIMEOUT.0], "{seen:?}");
    }
}

both_backends! {
    /// With a stream open, a silent peer is PINGed; one that does not answer is closed with
    /// GOAWAY TIMEOUT, one that answers (the codec does it on every read) stays.
    fn a_silent_peer_is_pinged_and_closed_unless_it_answers(io) {
        let s = Server::start(io, &["--stream-ping-interval", "300ms", "--stream-ping-timeout", "700ms"]);
        let mut dead = Wire::connect(s.stream.unwrap());
        dead.open("echo");
        let mut alive = Wire::connect(s.stream.unwrap());
        let id = alive.open("echo");
        // `alive` reads (and so answers PINGs) for a while; `dead` reads nothing meanwhile.
        let mut pings = 0;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            match alive.next(Duration::from_millis(100)) {
                Some(Ev::Pong) => pings += 1,
                Some(Ev::GoAway { code, .. }) => panic!("a peer that answers PINGs got GOAWAY {code}"),
                _ => {}
            }
        }
        assert!(pings >= 1, "no keep-alive PING in 3 s with a 300 ms interval");
        alive.send(id, b"still here", true);
        assert_eq!(alive.read_stream(id, 10, T).0, b"still here");
        let (seen, closed) = frames_until_close(&mut dead.sock, T);
        assert!(seen.contains(&Seen::Ping), "{seen:?}");
        assert!(closed, "a peer that never answered PINGs is still connected: {seen:?}");
        assert_eq!(goaways(&seen), vec![ErrorCode::TIMEOUT.0], "{seen:?}");
    }
}

both_backends! {
    /// An idle connection gets GOAWAY NO_ERROR before it is closed; PINGs do not keep it.
    fn an_idle_connection_gets_goaway_before_close_and_pings_do_not_keep_it(io) {
        let s = Server::start(io, &["--keepalive-timeout", "300ms"]);
        let mut idle = Wire::connect(s.stream.unwrap());
        let mut pinger = Wire::connect(s.stream.unwrap());
        let (seen, closed) = frames_until_close(&mut idle.sock, T);
        assert!(closed, "the idle connection stayed open");
        assert_eq!(goaways(&seen), vec![ErrorCode::NO_ERROR.0], "{seen:?}");
        let mut ping = Vec::new();
        Frame::Ping([1; 8]).encode(&mut ping);
        let mut got = Vec::new();
        let until = Instant::now() + T;
        while Instant::now() < until {
            if pinger.sock.write_all(&ping).is_err() {
                break;
            }
            // Paced under the PING cap (50 a second): what ends it must be the idle timeout,
            // not ENHANCE_YOUR_CALM (which won the race once on a loaded machine).
            std::thread::sleep(Duration::from_millis(30));
            match pinger.next(Duration::from_millis(100)) {
                Some(Ev::GoAway { code, .. }) => got.push(code),
                None if !got.is_empty() => break,
                _ => {}
            }
        }
        assert_eq!(got, vec![ErrorCode::NO_ERROR.0], "a pinging idle connection is closed with GOAWAY too");
    }
}

/// Sends `flood` on a fresh connection (after the handshake) and returns what the server
/// answered until it closed.
fn flood(addr: SocketAddr, prefix: impl FnOnce(&mut Wire), flood: Vec<u8>) -> (Vec<Seen>, bool) {
    let mut w = Wire::connect(addr);
    prefix(&mut w);
    let mut writer = w.sock.try_clone().unwrap();
    // Written on a thread: the server stops reading once it has cut the client off.
    let t = thread::spawn(move || {
        let _ = writer.write_all(&flood);
    });
    let seen = frames_until_close(&mut w.sock, T);
    let _ = t.join();
    seen
}

both_backends! {
    /// Rapid reset (CVE-2023-44487): OPEN then RESET, thousands of times. The client is cut
    /// off with ENHANCE_YOUR_CALM; a PING flood, an empty DATA flood and a refused-stream
    /// flood likewise.
    fn floods_of_free_work_end_with_enhance_your_calm(io) {
        let s = Server::start(io, &["--stream-max-streams", "4"]);
        let addr = s.stream.unwrap();
        let calm = ErrorCode::ENHANCE_YOUR_CALM.0;

        let mut resets = Vec::new();
        for k in 0..3000u32 {
            let id = 2 * k + 1;
            Frame::Open { id, service: "echo" }.encode(&mut resets);
            Frame::Reset { id, code: ErrorCode::CANCEL }.encode(&mut resets);
        }
        let (seen, closed) = flood(addr, |_| {}, resets);
        assert!(closed && goaways(&seen) == vec![calm], "rapid reset: {seen:?}");

        let mut pings = Vec::new();
        for k in 0..5000u64 {
            Frame::Ping(k.to_be_bytes()).encode(&mut pings);
        }
        let (seen, closed) = flood(addr, |_| {}, pings);
        assert!(closed && goaways(&seen) == vec![calm], "PING flood: {:?}", goaways(&seen));
        let pongs = seen.iter().filter(|s| **s == Seen::Pong).count();
        assert!(pongs < 200, "{pongs} PONGs: the flood was answered one for one");

        let mut empty = Vec::new();
        for _ in 0..5000 {
            Frame::Data { id: 1, data: &[], end: false }.encode(&mut empty);
        }
        let (seen, closed) = flood(addr, |w| { w.open("echo"); }, empty);
        assert!(closed && goaways(&seen) == vec![calm], "empty DATA flood: {:?}", goaways(&seen));

        // Four streams fill the limit; every further OPEN is refused.
        let mut opens = Vec::new();
        for k in 0..3000u32 {
            Frame::Open { id: 2 * k + 1, service: "echo" }.encode(&mut opens);
        }
        let (seen, closed) = flood(addr, |_| {}, opens);
        assert!(closed && goaways(&seen) == vec![calm], "refused-stream flood: {:?}", goaways(&seen));

        // Unknown services are reset by the server: the same cap.
        let mut unknown = Vec::new();
        for k in 0..3000u32 {
            Frame::Open { id: 2 * k + 1, service: "nope" }.encode(&mut unknown);
        }
        let (seen, closed) = flood(addr, |_| {}, unknown);
        assert!(closed && goaways(&seen) == vec![calm], "unknown-service flood: {:?}", goaways(&seen));
    }
}

both_backends! {
    /// A busy but well-behaved client (many short streams, some cancelled, a few PINGs, a
    /// bare END_STREAM) is never cut off.
    fn a_busy_normal_client_is_not_cut_off(io) {
        let s = Server::start(io, &[]);
        let mut w = Wire::connect(s.stream.unwrap());
        for round in 0..3 {
            let ids: Vec<u32> = (0..60).map(|_| w.open("echo")).collect();
            for (k, id) in ids.iter().enumerate() {
                if k % 3 == 0 {
                    w.reset(*id);
                } else {
                    w.send(*id, format!("r{round}s{k}").as_bytes(), k % 3 == 1);
                }
            }
            let mut ping = Vec::new();
            for p in 0..10u64 {
                Frame::Ping(p.to_be_bytes()).encode(&mut ping);
            }
            w.raw(&ping);
            for (k, id) in ids.iter().enumerate() {
                if k % 3 == 2 {
                    w.send(*id, b"", true);
                }
            }
            let mut ended = 0;
            let until = Instant::now() + T;
            while ended < 40 && Instant::now() < until {
                match w.next(T) {
                    Some(Ev::Data { id, data, end }) => {
                        w.consume(id, data.len());
                        ended += usize::from(end);
                    }
                    Some(Ev::GoAway { code, .. }) => panic!("a normal client got GOAWAY {code}"),
                    Some(_) => {}
                    None => panic!("the connection closed"),
                }
            }
            assert_eq!(ended, 40, "round {round}");
        }
        let id = w.open("echo");
        w.send(id, b"fine", true);
        assert_eq!(w.read_stream(id, 4, T).0, b"fine");
    }
}

/// Sends an upgrade request for `path` on the HTTP port: the status line's code, and the
/// socket with what was read past the response head.
fn upgrade(addr: SocketAddr, path: &str) -> (u16, TcpStream, Vec<u8>) {
    let mut sock = connect(addr);
    sock.set_read_timeout(Some(T)).unwrap();
    write!(sock, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: ringwire-stream/1\r\n\r\n").unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() <= 2 {
            break;
        }
    }
    (status, sock, reader.buffer().to_vec())
}

both_backends! {
    /// The upgrade switches protocols on `/` only: on any other path it is ordinary HTTP.
    fn the_upgrade_works_on_its_path_only(io) {
        let s = Server::start(io, &["--stream-listen", ""]);
        let (status, _, _) = upgrade(s.addr, "/plaintext");
        assert_eq!(status, 200, "Upgrade on /plaintext must be answered as plain HTTP");
        let (status, sock, already) = upgrade(s.addr, "/");
        assert_eq!(status, 101);
        let mut w = Wire::over(sock, Settings::default(), already);
        let id = w.open("echo");
        w.send(id, b"over http", true);
        assert_eq!(w.read_stream(id, 9, T).0, b"over http");
    }
}

both_backends! {
    /// `stream.enabled = false` turns the protocol off everywhere: no stream listener even
    /// with an address configured, and no upgrade on the HTTP port.
    fn stream_enabled_false_turns_off_the_listener_and_the_upgrade(io) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let listen = format!("127.0.0.1:{port}");
        let s = Server::start(io, &["--stream-enabled", "false", "--stream-listen", &listen]);
        assert!(s.log().contains("stream protocol off"), "{}", s.log());
        assert!(TcpStream::connect(&listen).is_err(), "the stream listener is bound on {listen}");
        let (status, _, _) = upgrade(s.addr, "/");
        assert_ne!(status, 101, "the upgrade still switched protocols");
        assert!((400..500).contains(&status), "an ordinary HTTP answer, got {status}");
    }
}

both_backends! {
    /// DATA for a stream that is already closed is dropped but still returned to the
    /// connection window: exactly once, also when the frame ends a read (it used to be
    /// decoded again with the next bytes, returning its window twice).
    fn data_for_a_closed_stream_returns_its_window_once(io) {
        let s = Server::start(io, &[]);
        let mut w = Wire::connect(s.stream.unwrap());
        let id = w.open("echo");
        w.reset(id);
        let payload = vec![7u8; 16 * 1024];
        let mut sent = 0u64;
        for _ in 0..48 {
            let mut frame = Vec::new();
            Frame::Data { id, data: &payload, end: false }.encode(&mut frame);
            w.raw(&frame);
            sent += payload.len() as u64;
            thread::sleep(Duration::from_millis(10));
        }
        let (seen, closed) = frames_until_close(&mut w.sock, Duration::from_secs(2));
        assert!(!closed, "the connection closed: {seen:?}");
        let returned: u64 = seen
            .iter()
            .filter_map(|f| match f {
                Seen::Update(0, n) => Some(u64::from(*n)),
                _ => None,
            })
            .sum();
        assert!(returned > 0, "no connection window came back: {seen:?}");
        assert!(returned <= sent, "{returned} bytes of window returned for {sent} sent");
    }
}
