//! Fuzz entry points for the binary stream protocol: the frame decoder, and a server
//! connection driven by arbitrary bytes with an application on top whose every observation
//! is checked against a model of the windows and stream states.

use std::collections::{BTreeMap, BTreeSet};

use super::{seed, split_points, xorshift};
use crate::stream::{
    self, Connection, Error, ErrorCode, Event, Frame, HEADER_LEN, MAX_FRAME_SIZE, MAX_SERVICE_NAME,
    Role, Settings,
};

/// The settings the targets run under: the defaults, and tight ones so that window, size and
/// concurrency limits are reached by small inputs.
pub fn stream_settings() -> [Settings; 2] {
    [
        Settings::default(),
        Settings {
            max_frame_size: 1024,
            initial_stream_window: 1500,
            initial_connection_window: 3000,
            max_concurrent_streams: 3,
            max_service_name: 8,
        },
    ]
}

/// Settings that accept every frame a conforming peer may send: for reading what a
/// connection wrote.
fn permissive() -> Settings {
    Settings {
        max_frame_size: MAX_FRAME_SIZE,
        max_service_name: MAX_SERVICE_NAME,
        ..Settings::default()
    }
}

/// Target `stream_frame`: the frame decoder never panics, gives every prefix of a frame
/// either "incomplete" or the same verdict, keeps payloads inside the input, and re-encodes
/// what it decoded to the same bytes (HELLO: to an equivalent frame).
pub fn stream_frame(data: &[u8]) {
    for settings in stream_settings() {
        let mut rest = data;
        loop {
            let full = stream::decode(rest, &settings);
            let extent = match &full {
                Ok(Some((_, n))) => *n,
                _ => rest.len().min(HEADER_LEN + 32),
            };
            for p in split_points(&rest[..extent]) {
                let prefix = stream::decode(&rest[..p], &settings);
                match &full {
                    Ok(Some((_, n))) if p < *n => assert_eq!(prefix, Ok(None), "prefix {p}"),
                    Err(_) if prefix == Ok(None) => assert!(p < rest.len()),
                    _ => assert_eq!(prefix, full, "prefix {p}"),
                }
            }
            let Ok(Some((frame, n))) = full else {
                break;
            };
            let inside = |s: &[u8]| {
                let (a, b) = (rest.as_ptr() as usize, s.as_ptr() as usize);
                b >= a + HEADER_LEN && b + s.len() == a + n
            };
            match frame {
                Frame::Data { data, .. } => assert!(inside(data)),
                Frame::Open { service, .. } => assert!(inside(service.as_bytes())),
                Frame::GoAway { debug, .. } => assert!(inside(debug)),
                _ => {}
            }
            let mut again = Vec::new();
            frame.encode(&mut again);
            // Settings re-encode canonically (unknown ids dropped): compare what they decode to.
            if let Frame::Hello(_) | Frame::HelloAuth(_) = frame {
                assert_eq!(
                    stream::decode(&again, &settings),
                    Ok(Some((frame, again.len())))
                );
            } else {
                assert_eq!(again, &rest[..n]);
            }
            rest = &rest[n..];
        }
    }
}

/// How the application on top of the fuzzed server behaves, chosen by the input's first byte.
#[derive(Debug, Clone, Copy)]
pub struct App {
    /// Which of [`stream_settings`] the server enforces.
    pub tight: bool,
    /// 0: consume every delivered byte at once; 1: never; 2: half of what it holds; 3: all,
    /// but only when a stream ends.
    pub consume: u8,
    /// Echo received bytes back (as far as the windows allow), ending when the peer ends.
    pub echo: bool,
    /// Send a graceful GOAWAY after the fifth event.
    pub drain: bool,
    /// Put a valid client HELLO in front of the input.
    pub hello: bool,
    /// With `hello`: a HELLO with the AUTH flag and an AUTH frame (token `token`) instead.
    pub auth: bool,
}

impl App {
    /// The behaviour encoded in a control byte.
    pub fn from_byte(b: u8) -> App {
        App {
            tight: b & 1 != 0,
            consume: (b >> 1) & 3,
            echo: b & 8 != 0,
            drain: b & 16 != 0,
            hello: b & 128 != 0,
            auth: b & 64 != 0,
        }
    }

    /// What goes in front of the fuzzed bytes: nothing, or a valid client handshake.
    pub fn prefix(&self) -> Vec<u8> {
        match (self.hello, self.auth) {
            (false, _) => Vec::new(),
            (true, false) => client_hello(),
            (true, true) => client_hello_with_token(b"token"),
        }
    }
}

/// Everything a run observed, to compare runs over different splits of the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// Every event, formatted.
    pub events: Vec<String>,
    /// The bytes the server wrote.
    pub output: Vec<u8>,
    /// The connection error that ended the run, if any.
    pub error: Option<Error>,
}

/// The checker's picture of the connection, built only from events and the output bytes.
struct Model {
    local: Settings,
    granted: BTreeMap<u32, u64>,
    delivered: BTreeMap<u32, u64>,
    conn_granted: u64,
    conn_delivered: u64,
    /// Streams the application knows to be open: (peer ended, we ended).
    open: BTreeMap<u32, (bool, bool)>,
    held: BTreeMap<u32, usize>,
    ever_opened: BTreeSet<u32>,
    peer: Option<Settings>,
    parsed: usize,
    frames_out: usize,
}

impl Model {
    fn new(local: Settings) -> Model {
        Model {
            local,
            granted: BTreeMap::new(),
            delivered: BTreeMap::new(),
            conn_granted: u64::from(local.initial_connection_window),
            conn_delivered: 0,
            open: BTreeMap::new(),
            held: BTreeMap::new(),
            ever_opened: BTreeSet::new(),
            peer: None,
            parsed: 0,
            frames_out: 0,
        }
    }

    /// Reads what the server wrote since the last call: complete, well-formed frames within
    /// the peer's limits; window updates raise the model's grants.
    fn read_output(&mut self, out: &[u8]) {
        while self.parsed < out.len() {
            let (frame, n) = match stream::decode(&out[self.parsed..], &permissive()) {
                Ok(Some(f)) => f,
                other => panic!("server wrote a bad frame: {other:?}"),
            };
            if self.frames_out == 0 {
                assert!(matches!(frame, Frame::Hello(_) | Frame::GoAway { .. }));
            }
            let limit = self
                .peer
                .map_or(stream::MIN_FRAME_SIZE, |p| p.max_frame_size);
            assert!(
                n - HEADER_LEN <= limit as usize,
                "frame beyond the peer's limit"
            );
            match frame {
                Frame::WindowUpdate { id: 0, increment } => {
                    self.conn_granted += u64::from(increment)
                }
                Frame::WindowUpdate { id, increment } => {
                    *self
                        .granted
                        .get_mut(&id)
                        .expect("update for a known stream") += u64::from(increment)
                }
                Frame::Data { id, .. } => assert!(self.ever_opened.contains(&id)),
                Frame::Open { .. } => panic!("a server never opens streams"),
                _ => {}
            }
            self.parsed += n;
            self.frames_out += 1;
        }
    }

    /// Checks one event against the model.
    fn observe(&mut self, event: &Event<'_>) {
        match *event {
            Event::Hello(s) => {
                assert!(self.peer.is_none());
                self.peer = Some(s);
            }
            Event::Auth(token) => {
                assert!(
                    self.peer.is_none() && self.frames_out == 0,
                    "AUTH after the handshake"
                );
                assert!(!token.is_empty() && token.len() <= stream::MAX_AUTH_TOKEN);
            }
            Event::StreamOpened { id, service } => {
                assert!(id % 2 == 1 && self.ever_opened.last().is_none_or(|&l| id > l));
                assert!(
                    !service.is_empty() && service.len() <= self.local.max_service_name as usize
                );
                assert!(self.open.len() < self.local.max_concurrent_streams as usize);
                self.ever_opened.insert(id);
                self.open.insert(id, (false, false));
                self.granted
                    .insert(id, u64::from(self.local.initial_stream_window));
            }
            Event::Data { id, data, end } => {
                let state = self.open.get_mut(&id).expect("DATA only on an open stream");
                assert!(!state.0, "DATA after the peer's END_STREAM");
                state.0 = end;
                let d = self.delivered.entry(id).or_default();
                *d += data.len() as u64;
                assert!(*d <= self.granted[&id], "stream {id} beyond its window");
                self.conn_delivered += data.len() as u64;
                assert!(
                    self.conn_delivered <= self.conn_granted,
                    "beyond the connection window"
                );
                *self.held.entry(id).or_default() += data.len();
            }
            Event::Reset { id, .. } | Event::StreamError { id, .. } => {
                assert!(
                    self.open.remove(&id).is_some(),
                    "reset of a stream the app never had"
                );
            }
            Event::Refused { id } => assert!(!self.open.contains_key(&id)),
            Event::WindowOpened { id } => assert!(id == 0 || self.open.contains_key(&id)),
            Event::Ping(_) | Event::Pong(_) | Event::GoAway { .. } => {}
        }
    }
}

/// Runs a server connection over `input`, fed in pieces ending at `cuts`, with the
/// application `app` on top; checks the model after every step.
pub fn run_server(app: App, input: &[u8], cuts: &[usize]) -> Transcript {
    let local = stream_settings()[usize::from(app.tight)];
    let mut conn = Connection::new(Role::Server, local).expect("valid settings");
    let mut model = Model::new(local);
    let mut t = Transcript {
        events: Vec::new(),
        output: Vec::new(),
        error: None,
    };
    let mut pending = Vec::new();
    let mut fed = 0;
    let ends = cuts
        .iter()
        .copied()
        .filter(|&c| c <= input.len())
        .chain([input.len()]);
    for end in ends {
        if end < fed {
            continue;
        }
        pending.extend_from_slice(&input[fed..end]);
        fed = end;
        loop {
            let result = conn.decode(&pending, &mut t.output);
            conn.assert_invariants();
            let (used, event) = match result {
                Ok(step) => step,
                Err(e) => {
                    assert!(e.is_fatal());
                    assert_eq!(conn.decode(b"", &mut t.output), Err(e), "errors must stick");
                    model.read_output(&t.output);
                    t.error = Some(e);
                    return t;
                }
            };
            model.read_output(&t.output);
            let Some(event) = event else {
                pending.drain(..used);
                break;
            };
            if let Event::Data { data, .. } = event {
                let at = pending.as_ptr() as usize + used - data.len();
                assert_eq!(
                    data.as_ptr() as usize,
                    at,
                    "DATA is the end of the consumed bytes"
                );
            }
            model.observe(&event);
            t.events.push(format!("{event:?}"));
            act(
                app,
                &mut conn,
                &mut model,
                &event,
                &mut t.output,
                t.events.len(),
            );
            conn.assert_invariants();
            model.read_output(&t.output);
            pending.drain(..used);
        }
    }
    t
}

/// The application's response to one event. Every call it makes is one a correct
/// application may make, so none may fail unless the connection already has.
fn act(
    app: App,
    conn: &mut Connection,
    m: &mut Model,
    ev: &Event<'_>,
    out: &mut Vec<u8>,
    n: usize,
) {
    let ok = |r: Result<(), Error>| r.expect("a correct application call failed");
    match *ev {
        // Tokens starting with `x` are refused, every other one accepted.
        Event::Auth(token) if token.starts_with(b"x") => {
            conn.goaway(ErrorCode::UNAUTHENTICATED, b"invalid token", out)
                .expect("goaway");
        }
        Event::Auth(_) => {
            ok(conn.accept_hello(out));
            m.peer = conn.peer_settings().copied();
        }
        Event::StreamOpened { id, service } if service.starts_with('x') => {
            ok(conn.reset(id, ErrorCode::UNKNOWN_SERVICE, out));
            m.open.remove(&id);
        }
        Event::Data { id, data, end } => {
            if app.echo && !m.open[&id].1 {
                let room = conn.send_capacity(id);
                let sent = conn.send_data(id, data, end, out).expect("echo");
                assert_eq!(sent, data.len().min(room), "send_data takes what fits");
                if end && sent == data.len() {
                    m.open.get_mut(&id).unwrap().1 = true;
                }
            }
            let held = m.held.entry(id).or_default();
            let take = match app.consume {
                0 => *held,
                2 => *held / 2,
                3 if end => *held,
                _ => 0,
            };
            *held -= take;
            ok(conn.consume(id, take, out));
            if m.open[&id] == (true, true) {
                // Both sides ended: the stream is closed and the codec forgot it.
                m.open.remove(&id);
                assert_eq!(conn.stream_state(id), None);
            }
        }
        Event::Reset { id, .. } | Event::StreamError { id, .. } => {
            assert_eq!(conn.stream_state(id), None);
            // Bytes held by a closed stream went back with it; consuming them is a no-op.
            let held = m.held.remove(&id).unwrap_or(0);
            ok(conn.consume(id, held, out));
        }
        _ => {}
    }
    if app.drain && n == 5 && conn.goaway_sent().is_none() && conn.error().is_none() {
        conn.goaway(ErrorCode::NO_ERROR, b"draining", out)
            .expect("goaway");
    }
}

/// Cut points spread pseudo-randomly over `data`, 1 to 23 bytes apart.
pub fn random_cuts(data: &[u8]) -> Vec<usize> {
    let mut x = seed(data);
    let mut cuts = Vec::new();
    let mut at = 0;
    while at < data.len() {
        x = xorshift(x);
        at += 1 + (x % 23) as usize;
        cuts.push(at);
    }
    cuts
}

/// A client HELLO with default settings, which [`App::hello`] puts in front of the input.
pub fn client_hello() -> Vec<u8> {
    let mut out = Vec::new();
    Frame::Hello(Settings::default()).encode(&mut out);
    out
}

/// A client HELLO with the AUTH flag and default settings, then AUTH carrying `token`.
pub fn client_hello_with_token(token: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Frame::HelloAuth(Settings::default()).encode(&mut out);
    Frame::Auth(token).encode(&mut out);
    out
}

/// Target `stream_conn`: byte 0 picks the application ([`App::from_byte`]), the rest is what
/// a client sent. The server never panics, never delivers DATA beyond a window or on a
/// stream that is not open, writes only well-formed frames within the peer's limits, keeps
/// its accounting invariants, and does the same whether the bytes arrive at once, in
/// pseudo-random pieces, or (for short inputs) one at a time.
pub fn stream_conn(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let app = App::from_byte(control);
    let mut input = app.prefix();
    input.extend_from_slice(rest);
    let whole = run_server(app, &input, &[]);
    assert_eq!(run_server(app, &input, &random_cuts(&input)), whole);
    if input.len() <= 256 {
        let bytewise: Vec<usize> = (0..input.len()).collect();
        assert_eq!(run_server(app, &input, &bytewise), whole);
    }
}
