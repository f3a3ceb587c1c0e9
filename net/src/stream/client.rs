//! A client for the binary stream protocol (`docs/PROTOCOL.md`), async on the ringwire
//! reactor.
//!
//! A [`Client`] is one connection: TCP (or an HTTP/1.1 `Upgrade` on the HTTP port) and the
//! HELLO handshake. [`Client::open`] opens a [`Stream`] to a named service; streams send and
//! receive independently and any number of tasks may use them at once. Two background tasks
//! (spawned with `ringwire_reactor::spawn_local`, so everything here must run
//! inside a ringwire runtime and stays on its core) own the socket: the reader decodes frames
//! and wakes whoever waits on them, the writer flushes everything queued since its last write
//! with one `write_all`, so frames from many streams share system calls.
//!
//! **Flow control is honoured, never broken.** [`Stream::send`] waits while the server's
//! windows are closed and resumes on its WINDOW_UPDATE. A message of up to
//! [`Client::message_limit`] bytes (16 KiB against a default server) always travels in one
//! DATA frame, which services such as pub/sub rely on: a frame boundary is a message
//! boundary. Larger messages go out in several frames as the windows allow. For pub/sub,
//! [`Stream::send_message`] refuses a message over that limit instead, and
//! [`Stream::recv_message`] reassembles a message the server split for this client's limits.
//!
//! **Backpressure is the reader's pace.** Received bytes stay charged against this client's
//! windows until [`Stream::recv`] hands them out; a task that stops calling `recv` stops the
//! server after one window.
//!
//! **Errors** are `io::Error`s whose text says what happened and names the protocol error code
//! when there is one (`UNKNOWN_SERVICE`, `REFUSED_STREAM`, ...); [`error_code`] returns that
//! code. A server GOAWAY makes [`Client::open`] fail while open streams run to their end; a
//! GOAWAY with an error, a protocol violation or a broken socket fails every call.
//!
//! ```no_run
//! use ringwire_net::stream::client::Client;
//! use ringwire_reactor::Runtime;
//!
//! Runtime::new().unwrap().block_on(async {
//!     let client = Client::connect("127.0.0.1:7070".parse().unwrap()).await?;
//!     println!("rtt {:?}", client.ping().await?);
//!     let stream = client.open("echo").await?;
//!     stream.send(b"hello").await?;
//!     stream.finish()?;
//!     while let Some(bytes) = stream.recv().await? {
//!         println!("{}", String::from_utf8_lossy(&bytes));
//!     }
//!     client.close().await
//! })
//! .unwrap();
//! ```

#[cfg(test)]
mod alert_tests;
mod error;
mod io;
mod link;
mod ops;
mod state;

pub use error::{ClientError, error_code};
pub use link::TlsOptions;
pub use ringwire_protocol::stream::{ErrorCode, Settings};

use bytes::{Bytes, BytesMut};
use link::Link;
use ringwire_reactor::{JoinHandle, net::TcpStream, spawn_local, time};
use rustls::ClientConfig;
use state::State;
use std::{
    cell::{Cell, RefCell},
    future::poll_fn,
    io as stdio,
    net::SocketAddr,
    rc::Rc,
    sync::Arc,
    time::Duration,
};

/// How to connect.
#[derive(Clone)]
pub struct Options {
    /// The limits this client announces in its HELLO (what the server may send it).
    pub settings: Settings,
    /// Reach the protocol through an HTTP/1.1 `Upgrade: ringwire-stream/1` on an HTTP port.
    pub upgrade: bool,
    /// Limit on the whole connect: TCP, the upgrade if any, and the server's HELLO.
    pub timeout: Duration,
    /// A token (as `ringwire token issue` prints it) to present in the handshake: the HELLO
    /// carries the AUTH flag and an AUTH frame follows. `None`: no token (a server with
    /// auth keys then refuses data services with UNAUTHENTICATED). 1 to 4096 bytes.
    pub token: Option<String>,
    /// Speak TLS to the server (a TLS stream port, or a TLS HTTP port through ALPN
    /// `ringwire-stream/1`); `None`: plain TCP.
    pub tls: Option<TlsOptions>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            settings: Settings::default(),
            upgrade: false,
            timeout: Duration::from_secs(10),
            token: None,
            tls: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never in logs.
        f.debug_struct("Options")
            .field("settings", &self.settings)
            .field("upgrade", &self.upgrade)
            .field("timeout", &self.timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish()
    }
}

/// What the handles share; dropping the last handle lets the connection go.
struct Shared {
    state: Rc<RefCell<State>>,
    reader: Cell<Option<JoinHandle<()>>>,
    writer: Cell<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The writer flushes what is queued (an END, a RESET) and exits, closing the socket
        // with the reader's copy; the reader would otherwise wait on the socket forever.
        self.state.borrow_mut().close_quietly();
        if let Some(reader) = self.reader.take() {
            reader.abort();
        }
    }
}

/// One connection to a stream-protocol server. See the [module docs](self).
///
/// Dropping the client and every [`Stream`] flushes what was queued and closes the
/// connection; [`Client::close`] does it deliberately and waits for the flush.
pub struct Client {
    shared: Rc<Shared>,
    addr: SocketAddr,
    timeout: Duration,
}

impl Client {
    /// Connects to the stream port at `addr` and completes the handshake, with the default
    /// [`Options`].
    pub async fn connect(addr: SocketAddr) -> stdio::Result<Client> {
        Self::connect_with(addr, &Options::default()).await
    }

    /// Connects to the HTTP port at `addr`, upgrades to the stream protocol
    /// (`GET /` with `Connection: upgrade`, `Upgrade: ringwire-stream/1`, expecting `101`),
    /// and completes the handshake.
    pub async fn connect_upgrade(addr: SocketAddr) -> stdio::Result<Client> {
        let options = Options {
            upgrade: true,
            ..Options::default()
        };
        Self::connect_with(addr, &options).await
    }

    /// Connects to `addr` over TLS with `config` (see [`TlsOptions`]; offer ALPN
    /// `ringwire-stream/1`), expecting a certificate for `server_name` (a DNS name or an IP
    /// address), and completes the handshake. Works on a TLS stream port and, through ALPN,
    /// on a TLS HTTP port.
    pub async fn connect_tls(
        addr: SocketAddr,
        server_name: &str,
        config: Arc<ClientConfig>,
    ) -> stdio::Result<Client> {
        let options = Options {
            tls: Some(TlsOptions {
                config,
                server_name: server_name.to_string(),
            }),
            ..Options::default()
        };
        Self::connect_with(addr, &options).await
    }

    /// Connects as `options` say. Fails with `TimedOut` after `options.timeout`, and with the
    /// server's code when it refuses the handshake with a GOAWAY: `PermissionDenied` for
    /// UNAUTHENTICATED (no valid token) and FORBIDDEN (the token lacks the scope, or the
    /// server is in protected mode), with the server's debug text in the message.
    pub async fn connect_with(addr: SocketAddr, options: &Options) -> stdio::Result<Client> {
        match time::timeout(options.timeout, Self::establish(addr, options)).await {
            Ok(result) => {
                result.map_err(|e| error::context(e, &format!("cannot connect to {addr}: ")))
            }
            Err(_) => Err(stdio::Error::new(
                stdio::ErrorKind::TimedOut,
                ClientError::new(
                    None,
                    format!(
                        "{addr}: no stream-protocol handshake within {:?} (is a ringwire stream \
                         port listening there? an HTTP port needs the upgrade)",
                        options.timeout
                    ),
                ),
            )),
        }
    }

    async fn establish(addr: SocketAddr, options: &Options) -> stdio::Result<Client> {
        let sock = TcpStream::connect(addr).await?;
        sock.set_nodelay(true)?;
        let sock = match &options.tls {
            None => Link::Plain(sock),
            Some(tls) => Link::tls(sock, addr, tls, options.upgrade).await?,
        };
        let rx = if options.upgrade {
            io::upgrade(&sock, addr).await?
        } else {
            BytesMut::new()
        };
        let token = options.token.as_deref().map(str::as_bytes);
        let mut state = State::new(options.settings, token)?;
        let State { conn, out, .. } = &mut state;
        conn.hello(out)
            .map_err(|e| error::usage(e, "cannot start the handshake"))?;
        let state = Rc::new(RefCell::new(state));
        let sock = Rc::new(sock);
        let reader = spawn_local(io::read_loop(state.clone(), sock.clone(), rx));
        let writer = spawn_local(io::write_loop(state.clone(), sock));
        let shared = Rc::new(Shared {
            state,
            reader: Cell::new(Some(reader)),
            writer: Cell::new(Some(writer)),
        });
        shared.state.borrow_mut().wake_writer();
        poll_fn(|cx| shared.state.borrow_mut().poll_handshake(cx)).await?;
        Ok(Client {
            shared,
            addr,
            timeout: options.timeout,
        })
    }

    fn state(&self) -> &RefCell<State> {
        &self.shared.state
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Opens a stream to `service` (sent at once; the server answers an unknown name with
    /// RESET `UNKNOWN_SERVICE`, which the stream's next call reports). Waits while the
    /// server's MAX_CONCURRENT_STREAMS are open. Fails after a GOAWAY from the server, after
    /// [`close`](Self::close), and for a name the server would refuse.
    pub async fn open(&self, service: &str) -> stdio::Result<Stream> {
        let id = poll_fn(|cx| self.state().borrow_mut().poll_open(service, cx)).await?;
        let service = self.state().borrow().streams[&id].service.clone();
        Ok(Stream {
            shared: self.shared.clone(),
            id,
            service,
        })
    }

    /// Sends a PING and returns the round-trip time to its PONG.
    pub async fn ping(&self) -> stdio::Result<Duration> {
        let id = self.state().borrow_mut().start_ping()?;
        /// An abandoned ping must not leave its entry behind.
        struct Forget<'a>(&'a RefCell<State>, u64);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                self.0.borrow_mut().forget_ping(self.1);
            }
        }
        let _forget = Forget(self.state(), id);
        poll_fn(|cx| self.state().borrow_mut().poll_ping(id, cx)).await
    }

    /// The settings the server announced in its HELLO.
    pub fn peer_settings(&self) -> Settings {
        let st = self.state().borrow();
        st.conn.peer_settings().copied().unwrap_or_default()
    }

    /// The largest message [`Stream::send`] keeps in one DATA frame: the server's
    /// MAX_FRAME_SIZE, or half its initial window if that is smaller.
    pub fn message_limit(&self) -> usize {
        self.state().borrow().atomic_limit
    }

    /// The server's GOAWAY, if it sent one: its error code and debug text.
    pub fn goaway(&self) -> Option<(ErrorCode, String)> {
        self.state().borrow().goaway.clone()
    }

    /// Why the connection is over, if it is (as the error every call now returns).
    pub fn error(&self) -> Option<stdio::Error> {
        self.state().borrow().dead.as_ref().map(|f| f.to_io())
    }

    /// Streams open on the connection (opened and not yet closed on both sides or reset).
    pub fn open_streams(&self) -> usize {
        self.state().borrow().conn.open_streams()
    }

    /// Closes the connection: sends GOAWAY(NO_ERROR), flushes everything queued (waiting at
    /// most the connect timeout for a server that does not read), and closes the socket.
    /// Streams still open fail with "closed by this client".
    pub async fn close(self) -> stdio::Result<()> {
        self.state().borrow_mut().close_by_client();
        let mut flushed = Ok(());
        if let Some(mut writer) = self.shared.writer.take() {
            if time::timeout(self.timeout, &mut writer).await.is_err() {
                writer.abort();
                flushed = Err(stdio::Error::new(
                    stdio::ErrorKind::TimedOut,
                    ClientError::new(
                        None,
                        format!(
                            "closing: the server did not take the last bytes within {:?}",
                            self.timeout
                        ),
                    ),
                ));
            }
        }
        if let Some(reader) = self.shared.reader.take() {
            reader.abort();
        }
        flushed
    }
}

/// One stream opened with [`Client::open`]. Dropping it while it is still open on the wire
/// resets it with `CANCEL`.
///
/// Calls take `&self`: one task may send while another receives. Two concurrent `send`s on
/// one stream each keep a message of up to [`Client::message_limit`] bytes in one frame, but
/// larger messages may interleave.
pub struct Stream {
    shared: Rc<Shared>,
    id: u32,
    service: Rc<str>,
}

impl Stream {
    /// The stream id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The service it was opened to.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Sends `data`, waiting under flow control as long as needed. A message of up to
    /// [`Client::message_limit`] bytes goes in exactly one DATA frame; a larger one in
    /// several. An empty `data` sends nothing. Cancelling the future may leave part of a
    /// large message sent.
    pub async fn send(&self, data: &[u8]) -> stdio::Result<()> {
        let mut sent = 0;
        poll_fn(|cx| {
            self.shared
                .state
                .borrow_mut()
                .poll_send(self.id, data, &mut sent, cx)
        })
        .await
    }

    /// Sends `message` as one pub/sub message: exactly one DATA frame. Fails at once, sending
    /// nothing, if it is longer than [`Client::message_limit`] (a longer one would go in
    /// several frames, which a `pubsub` stream would publish as several messages). An empty
    /// `message` sends nothing (the server publishes nothing for it either).
    pub async fn send_message(&self, message: &[u8]) -> stdio::Result<()> {
        let limit = self.shared.state.borrow().atomic_limit;
        if message.len() > limit {
            return Err(stdio::Error::new(
                stdio::ErrorKind::InvalidInput,
                ClientError::new(
                    None,
                    format!(
                        "cannot publish a message of {} bytes on stream {}: the server takes \
                         at most {limit} bytes per message (its MAX_FRAME_SIZE, or half its \
                         initial window if smaller); split it into several messages",
                        message.len(),
                        self.id
                    ),
                ),
            ));
        }
        self.send(message).await
    }

    /// Ends this side of the stream (a bare END_STREAM); the server's side may go on.
    pub fn finish(&self) -> stdio::Result<()> {
        self.shared.state.borrow_mut().finish(self.id)
    }

    /// The next payload the server sent, as it arrived (one DATA frame, or part of one the
    /// server split), or `None` once the server ended its side. Handing it out returns its
    /// bytes to the server's windows. After a RESET, payloads that had arrived are still
    /// returned first, then the error.
    pub async fn recv(&self) -> stdio::Result<Option<Bytes>> {
        poll_fn(|cx| self.shared.state.borrow_mut().poll_recv(self.id, cx)).await
    }

    /// The next whole pub/sub message on a subscribed stream, or `None` once the server
    /// ended its side. A message comes in one DATA frame, or, when it is larger than this
    /// client's own message limit (its MAX_FRAME_SIZE, or half an initial window if
    /// smaller), split over several frames between two empty ones; this puts it back
    /// together (see `docs/PROTOCOL.md`, pub/sub). A split message cut by the end of the
    /// stream is dropped. Use either this or [`recv`](Self::recv) on a stream, not both.
    pub async fn recv_message(&self) -> stdio::Result<Option<Bytes>> {
        poll_fn(|cx| {
            self.shared
                .state
                .borrow_mut()
                .poll_recv_message(self.id, cx)
        })
        .await
    }

    /// Resets the stream with `code` (`CANCEL` to say "no longer needed"); queued payloads
    /// are dropped and later calls fail.
    pub fn reset(&self, code: ErrorCode) -> stdio::Result<()> {
        self.shared.state.borrow_mut().reset(self.id, code)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.shared.state.borrow_mut().drop_stream(self.id);
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("id", &self.id)
            .field("service", &self.service)
            .finish()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.addr)
            .field("open_streams", &self.open_streams())
            .finish()
    }
}
