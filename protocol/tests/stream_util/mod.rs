//! Helpers shared by the stream protocol tests: building input, draining events, reading
//! output, and a client and a server wired back to back.
#![allow(dead_code)] // each test binary uses its own subset

pub mod frame;

use ringwire_protocol::stream::{
    self, Connection, Error, ErrorCode, Event, Frame, MAX_FRAME_SIZE, MAX_SERVICE_NAME, Role,
    Settings,
};

/// The wire bytes of `frames`, one after another.
pub fn wire(frames: &[Frame<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        f.encode(&mut out);
    }
    out
}

/// A client HELLO with these settings.
pub fn hello(settings: Settings) -> Frame<'static> {
    Frame::Hello(settings)
}

/// An OPEN frame.
pub fn open(id: u32, service: &str) -> Frame<'_> {
    Frame::Open { id, service }
}

/// A DATA frame.
pub fn data(id: u32, data: &[u8], end: bool) -> Frame<'_> {
    Frame::Data { id, data, end }
}

/// Every frame in `out`, which must hold only complete, valid frames.
pub fn frames(out: &[u8]) -> Vec<Frame<'_>> {
    let any = Settings {
        max_frame_size: MAX_FRAME_SIZE,
        max_service_name: MAX_SERVICE_NAME,
        ..Settings::default()
    };
    let mut pos = 0;
    let mut list = Vec::new();
    while pos < out.len() {
        let (f, n) = stream::decode(&out[pos..], &any)
            .expect("valid output")
            .expect("complete output");
        list.push(f);
        pos += n;
    }
    list
}

/// Decodes all of `input`: the events, and the error that stopped it (if any).
pub fn feed<'a>(
    conn: &mut Connection,
    input: &'a [u8],
    out: &mut Vec<u8>,
) -> (Vec<Event<'a>>, Result<(), Error>) {
    let mut pos = 0;
    let mut events = Vec::new();
    loop {
        match conn.decode(&input[pos..], out) {
            Ok((n, Some(ev))) => {
                pos += n;
                events.push(ev);
            }
            Ok((n, None)) => {
                assert_eq!(pos + n, input.len(), "trailing partial frame");
                return (events, Ok(()));
            }
            Err(e) => return (events, Err(e)),
        }
    }
}

/// A server with `settings` that has completed the handshake with a default client.
pub fn server(settings: Settings) -> Connection {
    server_with(settings, Settings::default())
}

/// A server with `settings` after a handshake with a client announcing `client`.
pub fn server_with(settings: Settings, client: Settings) -> Connection {
    let mut s = Connection::new(Role::Server, settings).unwrap();
    let mut out = Vec::new();
    let input = wire(&[hello(client)]);
    let (ev, r) = feed(&mut s, &input, &mut out);
    r.unwrap();
    assert_eq!(ev, [Event::Hello(client)]);
    assert_eq!(frames(&out), [Frame::Hello(settings)]);
    s
}

/// A client with `settings` that has completed the handshake with a server announcing
/// `server`.
pub fn client_with(settings: Settings, server: Settings) -> Connection {
    let mut c = Connection::new(Role::Client, settings).unwrap();
    let mut out = Vec::new();
    c.hello(&mut out).unwrap();
    assert_eq!(frames(&out), [Frame::Hello(settings)]);
    let input = wire(&[Frame::Hello(server)]);
    let (ev, r) = feed(&mut c, &input, &mut out);
    r.unwrap();
    assert_eq!(ev, [Event::Hello(server)]);
    c
}

/// The GOAWAY at the end of `out`: (last id, code).
pub fn last_goaway(out: &[u8]) -> (u32, ErrorCode) {
    match frames(out).last() {
        Some(Frame::GoAway { last_id, code, .. }) => (*last_id, *code),
        other => panic!("no GOAWAY at the end: {other:?}"),
    }
}

/// One side of a connection on a byte pipe: what arrived and is not decoded yet.
pub struct Side {
    pub conn: Connection,
    pub inbox: Vec<u8>,
}

impl Side {
    pub fn new(role: Role, settings: Settings) -> Side {
        Side {
            conn: Connection::new(role, settings).unwrap(),
            inbox: Vec::new(),
        }
    }

    /// Appends `bytes` to the inbox and decodes every complete frame, handing each event to
    /// `on_event` (which may send into `out`). Returns the first error.
    pub fn receive(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        mut on_event: impl FnMut(&mut Connection, Event<'_>, &mut Vec<u8>),
    ) -> Result<(), Error> {
        self.inbox.extend_from_slice(bytes);
        let mut pos = 0;
        let inbox = std::mem::take(&mut self.inbox);
        let result = loop {
            match self.conn.decode(&inbox[pos..], out) {
                Ok((n, Some(ev))) => {
                    pos += n;
                    on_event(&mut self.conn, ev, out);
                    self.conn.assert_invariants();
                }
                Ok((n, None)) => {
                    pos += n;
                    break Ok(());
                }
                Err(e) => break Err(e),
            }
        };
        self.inbox = inbox;
        self.inbox.drain(..pos);
        result
    }
}
