"""Key-value helpers for perf/kv-compare and perf/kv-cold-read: loading keys into ringwire (HTTP
PUT, pipelined over keep-alive connections) and into Redis (RESP SET, pipelined), a sequential
HTTP GET client that times each request, and reading Redis's own counters.

Keys are `key:%012d` in both, the names redis-benchmark's `-r N` draws (`key:__rand_int__`), so
the preloaded set is the one both load generators read.
"""

import socket
import threading
import time


def key(i):
    return f"key:{i:012d}"


def value(i, size):
    """`size` bytes that differ per key (the key's number, then filler)."""
    head = f"{i:012d}|".encode()
    return (head + b"v" * size)[:size]


class HttpConn:
    """One keep-alive HTTP/1.1 connection with a minimal response reader (status and
    Content-Length; no chunked bodies: ringwire's KV never sends them)."""

    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def response(self):
        """(status, body) of the next response."""
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill()
        head = self.buf[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        length = 0
        for line in head[1:]:
            name, _, v = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(v.strip())
        start = end + 4
        while len(self.buf) < start + length:
            self._fill()
        body = self.buf[start:start + length]
        self.buf = self.buf[start + length:]
        return status, body

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk


def put_request(i, size):
    v = value(i, size)
    return (f"PUT /kv/{key(i)} HTTP/1.1\r\nHost: l\r\nContent-Length: {len(v)}\r\n\r\n").encode() + v


def get_request(i):
    return f"GET /kv/{key(i)} HTTP/1.1\r\nHost: l\r\n\r\n".encode()


def load_http(port, n, size, connections=4, depth=64):
    """PUTs keys 0..n-1 (`size`-byte values), `depth` requests per write on each of
    `connections` connections; raises if any answer is not 201/204. Returns seconds taken."""
    errors = []

    def worker(part):
        try:
            c = HttpConn(port)
            ids = range(part, n, connections)
            for b in range(0, len(ids), depth):
                batch = ids[b:b + depth]
                c.send(b"".join(put_request(i, size) for i in batch))
                for i in batch:
                    status, body = c.response()
                    if status not in (201, 204):
                        raise RuntimeError(f"PUT {key(i)}: {status} {body[:200]!r}")
            c.close()
        except Exception as e:  # noqa: BLE001 - reported below, whatever it is
            errors.append(e)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(p,)) for p in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"loading ringwire failed: {errors[0]}")
    return time.monotonic() - t0


def timed_gets(port, ids):
    """GETs each key in `ids` in turn on one connection; the latency of each in microseconds
    (request written to response read, Python's own overhead included)."""
    c = HttpConn(port)
    out = []
    for i in ids:
        req = get_request(i)
        t0 = time.perf_counter_ns()
        c.send(req)
        status, body = c.response()
        out.append((time.perf_counter_ns() - t0) / 1000.0)
        if status != 200:
            raise SystemExit(f"GET {key(i)}: {status} {body[:200]!r}")
    c.close()
    return out


def _resp(*args):
    parts = [f"*{len(args)}\r\n".encode()]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(f"${len(a)}\r\n".encode() + a + b"\r\n")
    return b"".join(parts)


class RedisConn:
    """A RESP connection that understands the replies we send for: +OK, :n, $bulk, -ERR."""

    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            raise RuntimeError(f"redis: {rest.decode()}")
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("redis closed the connection")
                self.buf += chunk
            body, self.buf = self.buf[:n], self.buf[n + 2:]
            return body
        return rest

    def call(self, *args):
        self.sock.sendall(_resp(*args))
        return self.reply()


def load_redis(port, n, size, depth=256):
    """SETs keys 0..n-1 with `size`-byte values, pipelined."""
    c = RedisConn(port)
    for b in range(0, n, depth):
        batch = range(b, min(n, b + depth))
        c.sock.sendall(b"".join(_resp("SET", key(i), value(i, size)) for i in batch))
        for _ in batch:
            c.reply()
    c.close()


def redis_calls(port, command):
    """How many times Redis has run `command` (INFO commandstats), 0 before the first."""
    c = RedisConn(port)
    text = c.call("INFO", "commandstats").decode()
    c.close()
    for line in text.splitlines():
        if line.startswith(f"cmdstat_{command.lower()}:"):
            for field in line.split(":", 1)[1].split(","):
                name, _, v = field.partition("=")
                if name == "calls":
                    return int(v)
    return 0
