//! The ringwire binary stream protocol (`docs/PROTOCOL.md`): many flow-controlled streams over
//! one connection, framed by a fixed 12-byte header.
//!
//! Sans-I/O and zero-copy. A [`Connection`] takes the bytes read so far and returns one
//! [`Event`] at a time, with DATA payloads as slices of the input; every frame it must send
//! (its own HELLO, PONGs, WINDOW_UPDATEs, RESETs, GOAWAY) goes into a caller's buffer. The
//! common path allocates nothing: the stream table grows to the concurrency limit once.
//!
//! Flow control is driven by the application: delivered bytes stay charged against the
//! windows until [`Connection::consume`] is called, so a server that stops consuming stops
//! the client. Sending never exceeds a window: [`Connection::send_data`] takes what fits and
//! says how much.
//!
//! A server loop, echoing every stream:
//!
//! ```
//! use ringwire_protocol::stream::{Connection, ErrorCode, Event, Role, Settings};
//!
//! # let mut client = Connection::new(Role::Client, Settings::default()).unwrap();
//! # let mut input = Vec::new();
//! # client.hello(&mut input).unwrap();
//! # let mut scratch = Vec::new();
//! # let mut server_view = Connection::new(Role::Server, Settings::default()).unwrap();
//! # server_view.decode(&input, &mut scratch).unwrap();
//! # client.decode(&scratch, &mut Vec::new()).unwrap();
//! # let id = client.open_stream("echo", &mut input).unwrap();
//! # client.send_data(id, b"hi", true, &mut input).unwrap();
//! let mut server = Connection::new(Role::Server, Settings::default()).unwrap();
//! let mut out = Vec::new(); // what to write to the socket
//! let mut pos = 0; // `input` holds the bytes read so far
//! loop {
//!     let (used, event) = match server.decode(&input[pos..], &mut out) {
//!         Ok(step) => step,
//!         Err(e) => {
//!             // A GOAWAY naming `e.code()` is in `out`: write it, then close.
//!             assert!(e.is_fatal());
//!             break;
//!         }
//!     };
//!     pos += used;
//!     match event {
//!         None => break, // the rest is a partial frame: read more, decode again
//!         Some(Event::StreamOpened { id, service }) if service != "echo" => {
//!             server.reset(id, ErrorCode::UNKNOWN_SERVICE, &mut out).unwrap();
//!         }
//!         Some(Event::Data { id, data, end }) => {
//!             // A real server keeps what does not fit and sends it on WindowOpened.
//!             let sent = server.send_data(id, data, end, &mut out).unwrap();
//!             assert_eq!(sent, data.len());
//!             server.consume(id, data.len(), &mut out).unwrap();
//!         }
//!         Some(_) => {}
//!     }
//! }
//! assert_eq!(pos, input.len());
//! ```
//!
//! A client sending a large message under flow control:
//!
//! ```
//! use ringwire_protocol::stream::{Connection, Event, Role, Settings};
//!
//! let mut client = Connection::new(Role::Client, Settings::default()).unwrap();
//! let mut server = Connection::new(Role::Server, Settings::default()).unwrap();
//! let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
//! client.hello(&mut to_server).unwrap();
//! server.decode(&to_server, &mut to_client).unwrap(); // Event::Hello; the server answers
//! to_server.clear();
//! assert!(matches!(client.decode(&to_client, &mut to_server), Ok((_, Some(Event::Hello(_))))));
//! to_client.clear();
//!
//! let id = client.open_stream("upload", &mut to_server).unwrap();
//! let message = vec![7u8; 600 * 1024]; // more than the server's 256 KiB stream window
//! let mut sent = client.send_data(id, &message, true, &mut to_server).unwrap();
//! assert_eq!(sent, 256 * 1024); // blocked: the rest waits for a WINDOW_UPDATE
//!
//! // ... the server receives and consumes what arrived, which returns window ...
//! # let mut pos = 0;
//! # while let (n, Some(ev)) = server.decode(&to_server[pos..], &mut to_client).unwrap() {
//! #     pos += n;
//! #     if let Event::Data { id, data, .. } = ev { server.consume(id, data.len(), &mut to_client).unwrap(); }
//! # }
//! # to_server.clear();
//! let mut pos = 0;
//! while let (n, Some(event)) = client.decode(&to_client[pos..], &mut to_server).unwrap() {
//!     pos += n;
//!     if let Event::WindowOpened { id: opened } = event {
//!         if opened == id || opened == 0 {
//!             sent += client.send_data(id, &message[sent..], true, &mut to_server).unwrap();
//!         }
//!     }
//! }
//! assert!(sent > 256 * 1024);
//! ```

mod caps;
mod conn;
mod error;
mod event;
mod flow;
mod frame;
mod header;
mod send;
mod settings;
mod streams;

pub use caps::{CapExceeded, PeerWork, RateCaps, RateMeter};
pub use conn::Connection;
pub use error::{Error, ErrorCode};
pub use event::{Event, Role};
pub use frame::{Frame, check_header, decode, encode_header};
pub use header::{
    END_STREAM, FrameHeader, FrameType, HEADER_LEN, HELLO_AUTH, MAX_STREAM_ID, VERSION,
};
pub use send::DataFrame;
pub use settings::{
    MAX_AUTH_TOKEN, MAX_FRAME_SIZE, MAX_HELLO_PAYLOAD, MAX_SERVICE_NAME, MAX_WINDOW,
    MIN_FRAME_SIZE, SETTING_LEN, SettingId, Settings,
};
pub use streams::StreamState;
