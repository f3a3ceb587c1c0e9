//! Reading `GET /channels/{name}/events` incrementally off a raw socket (chunked body, then
//! the event stream inside it), and the small HTTP helpers the channel tests share.

use super::{Response, Server, raw};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    time::Duration,
};

/// How long one read may wait for the server before a test fails (generous: a loaded 2-core
/// machine, a heartbeat test waiting for a few beats).
pub const READ_WAIT: Duration = Duration::from_secs(30);

/// One field group of the stream, up to its blank line (the HTML standard's "event" before
/// dispatch): every field as the browser would see it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Block {
    /// The `id:` field, if the block has one.
    pub id: Option<String>,
    /// The `event:` field, if the block has one (`None` = `message`).
    pub event: Option<String>,
    /// The `data:` lines joined with LF, if the block has any.
    pub data: Option<String>,
    /// The `retry:` field, if the block has one.
    pub retry: Option<String>,
    /// Comment lines (without the colon), e.g. `" hb"`.
    pub comments: Vec<String>,
}

impl Block {
    /// Whether `EventSource` fires an event for it (a message, `binary`, `gap`, `slow`).
    pub fn fires(&self) -> bool {
        self.data.is_some()
    }

    /// Whether it is just the heartbeat comment.
    pub fn is_heartbeat(&self) -> bool {
        self.comments == [" hb"] && !self.fires() && self.id.is_none() && self.retry.is_none()
    }
}

/// An open event stream.
pub struct Sse {
    /// The response head.
    pub head: Response,
    reader: BufReader<TcpStream>,
    /// Body bytes received; those from `taken` on are not yet consumed.
    pending: Vec<u8>,
    taken: usize,
    /// The last chunk (`0\r\n` and the empty trailer line) was read.
    ended: bool,
}

impl Sse {
    /// `GET <path>` with `headers`; reads the head only (whatever its status).
    pub fn open(server: &Server, path: &str, headers: &[(&str, &str)]) -> Sse {
        let stream = server.connect();
        stream.set_read_timeout(Some(READ_WAIT)).unwrap();
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        (&stream).write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let head = read_head(&mut reader)
            .unwrap_or_else(|| panic!("GET {path}: no response head\n{}", server.log()));
        Sse {
            head,
            reader,
            pending: Vec::new(),
            taken: 0,
            ended: false,
        }
    }

    /// [`Sse::open`], checked: a 200 `text/event-stream` that is chunked and not cached, whose
    /// first block is `retry: 2000`.
    pub fn subscribe(server: &Server, path: &str, headers: &[(&str, &str)]) -> Sse {
        let mut sse = Sse::open(server, path, headers);
        let h = &sse.head;
        assert_eq!(h.status, 200, "GET {path}: {h:?}\n{}", server.log());
        assert_eq!(h.header("content-type"), Some("text/event-stream"), "{h:?}");
        assert_eq!(h.header("cache-control"), Some("no-store"), "{h:?}");
        assert_eq!(h.header("x-accel-buffering"), Some("no"), "{h:?}");
        assert_eq!(h.header("transfer-encoding"), Some("chunked"), "{h:?}");
        let first = sse.block().expect("a first block");
        assert_eq!(first.retry.as_deref(), Some("2000"), "{first:?}");
        sse
    }

    /// How long one read may wait from now on (default [`READ_WAIT`]).
    pub fn set_wait(&mut self, wait: Duration) {
        self.reader.get_ref().set_read_timeout(Some(wait)).unwrap();
    }

    /// The next block, or `None` once the body ended (cleanly or not: see [`Sse::ended`]).
    /// Panics if nothing arrives within the wait ([`READ_WAIT`] unless set).
    pub fn block(&mut self) -> Option<Block> {
        self.try_block()
            .unwrap_or_else(|e| panic!("reading the event stream: {e} (after {:?})", self.pending))
    }

    /// [`Sse::block`], with a read error (a timeout) returned.
    pub fn try_block(&mut self) -> std::io::Result<Option<Block>> {
        loop {
            if let Some(end) = block_end(&self.pending[self.taken..]) {
                let block = parse_block(&self.pending[self.taken..self.taken + end]);
                self.taken += end;
                return Ok(Some(block));
            }
            // Only what is left is kept (a batch of big events can arrive as one chunk).
            self.pending.drain(..self.taken);
            self.taken = 0;
            if self.ended || !self.read_chunk()? {
                return Ok(None);
            }
        }
    }

    /// The next block that fires an event within `wait`, if one does (`None` also when the
    /// stream ends).
    pub fn event_within(&mut self, wait: Duration) -> Option<Block> {
        self.set_wait(wait);
        let found = loop {
            match self.try_block() {
                Ok(Some(block)) if block.fires() => break Some(block),
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break None,
            }
        };
        self.set_wait(READ_WAIT);
        found
    }

    /// The next block that fires an event (skipping heartbeats and `retry`), checked to arrive.
    pub fn event(&mut self) -> Block {
        loop {
            let block = self
                .block()
                .expect("the stream ended before the next event");
            if block.fires() {
                return block;
            }
        }
    }

    /// The next `n` events as (id, data).
    pub fn messages(&mut self, n: usize) -> Vec<(Option<String>, String)> {
        (0..n)
            .map(|_| {
                let b = self.event();
                assert_eq!(b.event, None, "a message event: {b:?}");
                (b.id, b.data.unwrap())
            })
            .collect()
    }

    /// Reads to the end of the body: true if it ended with the last chunk (`0\r\n\r\n`), false
    /// if the connection closed first. Blocks it passes over are dropped.
    pub fn ended(&mut self) -> bool {
        while !self.ended {
            match self.read_chunk() {
                Ok(true) => {}
                Ok(false) => return false,
                Err(e) if is_timeout(&e) => panic!("the event stream did not end: {e}"),
                // Reset: not a clean end.
                Err(_) => return false,
            }
        }
        self.pending.clear();
        self.taken = 0;
        true
    }

    /// Whether the server closed the connection after the body (reads hit EOF).
    pub fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0))
    }

    /// Reads one chunk into `pending`; false at EOF or on a malformed chunk, an error on a
    /// read timeout.
    fn read_chunk(&mut self) -> std::io::Result<bool> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(false);
        }
        let Some(size) = line
            .trim_end()
            .split(';')
            .next()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
        else {
            return Ok(false);
        };
        if size == 0 {
            // Trailer section: lines up to the empty one.
            loop {
                line.clear();
                if self.reader.read_line(&mut line)? == 0 {
                    return Ok(false);
                }
                if line == "\r\n" {
                    self.ended = true;
                    return Ok(true);
                }
            }
        }
        let mut chunk = vec![0; size + 2];
        match self.reader.read_exact(&mut chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
            result => result?,
        }
        if !chunk.ends_with(b"\r\n") {
            return Ok(false);
        }
        self.pending.extend_from_slice(&chunk[..size]);
        Ok(true)
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Where the first block in `bytes` ends (after its blank line), if it is complete. The server
/// only writes LF line ends.
fn block_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2)
}

/// Splits one block (ending in a blank line) into its fields.
fn parse_block(raw: &[u8]) -> Block {
    let text = std::str::from_utf8(raw).expect("the server writes UTF-8 events");
    let mut block = Block::default();
    for line in text.trim_end_matches('\n').split('\n') {
        if let Some(comment) = line.strip_prefix(':') {
            block.comments.push(comment.to_string());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_string();
        match field {
            "id" => block.id = Some(value),
            "event" => block.event = Some(value),
            "retry" => block.retry = Some(value),
            "data" => match &mut block.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(&value);
                }
                None => block.data = Some(value),
            },
            other => panic!("unexpected field {other:?} in {text:?}"),
        }
    }
    block
}

/// Reads a response head (status line and fields) only.
fn read_head(r: &mut impl BufRead) -> Option<Response> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    Some(Response {
        status,
        headers,
        body: Vec::new(),
    })
}

/// One request on its own connection (`Connection: close`), body with Content-Length.
pub fn req(
    s: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    if method == "POST" || method == "PUT" || !body.is_empty() {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    raw(s, &bytes).unwrap_or_else(|| panic!("{method} {path}: no response\n{}", s.log()))
}

/// `POST /channels/<channel>` with `body`.
pub fn publish(s: &Server, channel: &str, body: &[u8]) -> Response {
    req(s, "POST", &format!("/channels/{channel}"), &[], body)
}

/// One client publishing over one keep-alive connection, so its messages stay in its order
/// (separate connections may land on different cores).
pub struct Publisher {
    conn: BufReader<TcpStream>,
}

impl Publisher {
    pub fn new(s: &Server) -> Publisher {
        Publisher {
            conn: BufReader::new(s.connect()),
        }
    }

    /// `POST /channels/<channel>` with `body` on this connection.
    pub fn publish(&mut self, channel: &str, body: &[u8]) -> Response {
        let head = format!(
            "POST /channels/{channel} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut w = self.conn.get_ref();
        w.write_all(head.as_bytes()).unwrap();
        w.write_all(body).unwrap();
        super::read_response(&mut self.conn, false).expect("a response")
    }
}

/// Publishes to a durable channel and returns the sequence number it got.
pub fn publish_durable(s: &Server, channel: &str, body: &[u8]) -> u64 {
    let r = publish(s, channel, body);
    assert_eq!(r.status, 200, "{r:?}\n{}", s.log());
    let v = json(&r);
    assert_eq!(v["channel"], channel, "{v}");
    v["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {v}"))
}

/// The body as JSON.
pub fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&r.body)))
}

/// Checks a structured error (docs/ERRORS.md) with `status`, in its text form (these requests
/// send no `Accept`); returns `{"code", "message"}`.
pub fn problem(r: &Response, status: u16) -> serde_json::Value {
    assert_eq!(
        r.status,
        status,
        "{r:?} body {:?}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "{r:?}"
    );
    let text = String::from_utf8(r.body.clone()).expect("a text error body");
    let id = r.header("x-request-id").expect("an X-Request-Id");
    let rest = text
        .strip_suffix(&format!(" (request {id})\n"))
        .unwrap_or_else(|| panic!("no request id at the end of {text:?}"));
    let (code, message) = rest.split_once(": ").expect("code: message");
    assert!(code.contains('.') && !message.is_empty(), "{text:?}");
    serde_json::json!({ "code": code, "message": message })
}

/// The admin `/metrics` series `name` over all cores: its `core="all"` series where it has
/// one, else the sum over its label sets (0 if absent).
pub fn metric_sum(s: &Server, name: &str) -> f64 {
    let (status, body) = s.admin_get("/metrics");
    assert_eq!(status, 200);
    let series: Vec<(&str, f64)> = body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = rest.rsplit_once(' ')?;
            (labels.is_empty() || labels.starts_with('{')).then_some(())?;
            Some((labels, value.parse().ok()?))
        })
        .collect();
    match series
        .iter()
        .find(|(labels, _)| labels.contains("core=\"all\""))
    {
        Some((_, all)) => *all,
        None => series.iter().map(|(_, v)| v).sum(),
    }
}
