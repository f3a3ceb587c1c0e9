"""The wrk scenarios, by name, that perf/compare and perf/flamegraph share."""

import os


def table(conns=(64, 512)):
    """(name, kind, path, connections, Lua script, script args) per scenario; the plaintext
    scenario once per connection count, the others at the first count."""
    first = conns[0]
    return [(f"plaintext-{c}", "plaintext", "/plaintext", c, None, ()) for c in conns] + [
        ("pipelined-16", "pipelined", "/plaintext", first, "pipeline.lua", (16, "/plaintext")),
        ("static-1k", "static", "/static/1k.bin", first, None, ()),
        # More than 16 clients each pulling 1 MiB only measures the loopback's buffers.
        ("static-1m", "static", "/static/1m.bin", min(first, 16), None, ()),
        ("echo-4k", "echo", "/echo", first, "echo.lua", (4096,)),
    ]


# perf/compare --tls (issue 18): the kinds its TLS scenarios have, which only TLS servers serve.
TLS_KINDS = {"tls-plaintext", "tls-full", "tls-resumed", "tls-resumed-wrk", "tls-static"}


def tls_table(first=64):
    """The TLS scenarios (same tuple shape as table()); perf/lib/tls.py says how each kind is
    loaded: wrk over https, except the handshake pair `tls-full-hs` / `tls-resumed-hs`, whose
    client is `openssl s_time -new` / `-reuse` (one process per "connection", one HTTP/1.0
    request per connection), and `tls-resumed-wrk`, wrk with `Connection: close` (it resumes
    each new connection with the session ticket of its previous one)."""
    return [
        (f"tls-plaintext-{first}", "tls-plaintext", "/plaintext", first, None, ()),
        ("tls-full-hs", "tls-full", "/plaintext", 16, None, ()),
        ("tls-resumed-hs", "tls-resumed", "/plaintext", 16, None, ()),
        ("tls-resumed-wrk", "tls-resumed-wrk", "/plaintext", 16, None, ()),
        ("tls-static-1m", "tls-static", "/static/1m.bin", min(first, 16), None, ()),
    ]


def static_files(root):
    """The files the static scenarios fetch, random so no layer can compress them."""
    for name, size in (("1k.bin", 1024), ("1m.bin", 1 << 20)):
        with open(os.path.join(root, name), "wb") as f:
            f.write(os.urandom(size))
