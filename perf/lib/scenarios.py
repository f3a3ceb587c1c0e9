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


def static_files(root):
    """The files the static scenarios fetch, random so no layer can compress them."""
    for name, size in (("1k.bin", 1024), ("1m.bin", 1 << 20)):
        with open(os.path.join(root, name), "wb") as f:
            f.write(os.urandom(size))
