"""perf/compare --tls (issue 18): the certificate, the TLS scenarios' load and the checks that
each scenario measures what its name says.

Load per kind (scenarios.tls_table):
- `tls-plaintext`, `tls-static`: wrk over https, keep-alive (wrk speaks TLS through OpenSSL).
- `tls-full`: `openssl s_time -new -www PATH`, one process per "connection", each connection a
  new `SSL` with no session and one request (`GET PATH HTTP/1.0`): a full handshake every time.
- `tls-resumed`: the same with `-reuse`: after one full handshake each process resumes every
  connection with the session (ticket) it holds. s_time prints `*` per full and `r` per resumed
  connection: one of the wrong kind makes the run INVALID.
- `tls-resumed-wrk`: wrk over https with `Connection: close`, so every request is a new
  connection. wrk resumes each of them: on reconnecting it shuts the old TLS session down
  cleanly (`SSL_shutdown`) and reuses its `SSL` object (`SSL_clear` keeps the session), so the
  next ClientHello offers the ticket of the previous connection. perf/compare's check_tls
  proves it from the server's side before the timed rounds.
"""

import http.client
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.request

import bench
import wrk


def make_cert(work):
    """One ECDSA P-256 certificate for 127.0.0.1 and localhost, self-signed, valid two days,
    made with `openssl` in the run's temp dir: (cert path, key path). It says it is no CA
    (`CA:FALSE`): rustls clients (bench-stream, nats-load, perf/stream-compare --tls) refuse a
    CA certificate as the server's own (CaUsedAsEndEntity), and trust this one as its own root."""
    cert, key = os.path.join(work, "tls-cert.pem"), os.path.join(work, "tls-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-addext", "basicConstraints=critical,CA:FALSE"],
                   check=True, capture_output=True, text=True)
    return cert, key


def run(port, sc, seconds, cpu, headers=(), expected_bytes=None):
    """One load of a TLS scenario; the same result keys as wrk.run, plus, for s_time's kinds,
    `full`, `resumed` and `wrong_handshakes` (connections of the kind the scenario does not
    measure; must be 0)."""
    _, kind, path, conns, script, args = sc
    if kind in ("tls-full", "tls-resumed"):
        res = s_time(port, path, conns, seconds, cpu, expected_bytes, reuse=kind == "tls-resumed")
        res["wrong_handshakes"] = res["full"] if kind == "tls-resumed" else res["resumed"]
        return res
    extra = ["Connection: close"] if kind == "tls-resumed-wrk" else []
    return wrk.run(f"https://127.0.0.1:{port}{path}", conns, seconds, cpu, script, args, list(headers) + extra)


def s_time(port, path, procs, seconds, cpu, expected_bytes=None, reuse=False):
    """`procs` concurrent `openssl s_time -new` (or `-reuse`) clients for `seconds` (whole
    seconds: s_time's own unit), all pinned to the load CPU. With -reuse s_time counts and
    prints only the connections after its first, full one. s_time does not look at the
    answer, so each connection's bytes are checked against `expected_bytes` (one checked
    response's size: HTTP/1.0 answers of these servers have a fixed length); a mismatch counts
    as non-2xx."""
    argv = bench.pinned(cpu, ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-reuse" if reuse else "-new",
                              "-time", str(max(1, round(seconds))), "-www", path])
    t0 = time.monotonic()
    clients = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(procs)]
    outs = []
    for c in clients:
        try:
            outs.append((c.communicate(timeout=seconds + 60)[0], c.returncode))
        except subprocess.TimeoutExpired:
            c.kill()
            outs.append((c.communicate()[0], "hung"))
    wall = time.monotonic() - t0
    res = {"raw": "\n".join(o for o, _ in outs), "requests": 0, "p50_us": None, "p99_us": None,
           "non2xx": 0, "socket_errors": 0, "full": 0, "resumed": 0}
    read = 0
    for out, rc in outs:
        m = re.search(r"(\d+) connections in [\d.]+s;.*?bytes read (\d+)", out)
        if rc != 0 or not m:
            res["socket_errors"] += 1
            continue
        res["requests"] += int(m.group(1))
        read += int(m.group(2))
        # Its progress line: one character per connection, `r` for a resumed session.
        marks = "".join(line for line in out.splitlines() if re.fullmatch(r"[*r3t]+", line))
        res["resumed"] += marks.count("r")
        res["full"] += len(marks) - marks.count("r")
    if expected_bytes and read != res["requests"] * expected_bytes:
        res["non2xx"] = max(1, round(abs(res["requests"] * expected_bytes - read) / expected_bytes))
    res["rps"] = res["requests"] / wall if res["requests"] and wall > 0 else None
    return res


def context(cert):
    """A client context that trusts only the run's certificate and checks the name."""
    return ssl.create_default_context(cafile=cert)


def http10(port, path, cert):
    """What s_time sends (`GET PATH HTTP/1.0`, no headers), read to the end:
    (status, body, whole answer's size, TLS version, cipher)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context(cert).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            version, cipher = s.version(), s.cipher()[0]
            s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)  # a close without close_notify reads as the end (ragged EOF)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return (int(m.group(1)) if m else None), body, len(data), version, cipher


def fetch(port, path, cert):
    """GET over HTTPS/1.1 keep-alive: (status, body)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context(cert))
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def tls_counters(admin_port):
    """(completed handshakes, resumed handshakes) from ringwire's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5).read().decode()
    done = sum(float(x) for x in re.findall(r'^ringwire_tls_handshakes_completed_total\{[^}]*\} (\S+)$', text, re.M))
    m = re.search(r"^ringwire_tls_resumed_total (\S+)$", text, re.M)
    return done, float(m.group(1)) if m else 0.0


def reuse_log(path):
    """(requests, resumed) from nginx's `$ssl_session_reused` log (one `r` or `.` per line)."""
    try:
        with open(path) as f:
            marks = [line.strip() for line in f if line.strip()]
    except OSError:
        return 0, 0
    return len(marks), sum(1 for x in marks if x == "r")
