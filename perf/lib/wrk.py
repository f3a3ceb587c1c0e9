"""Running wrk and reading its report."""

import os
import re
import subprocess

import bench

LUA = os.path.join(bench.PERF, "wrk")


def _dur(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return None
    v, unit = float(m.group(1)), m.group(2)
    return v * {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}[unit]


def run(url, connections, seconds, cpu, script=None, script_args=(), headers=()):
    """headers: extra request headers, "Name: value" each (wrk -H; a script's wrk.format sees them too)."""
    # wrk takes whole seconds only.
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
    for h in headers:
        argv += ["-H", h]
    if script:
        argv += ["-s", os.path.join(LUA, script)]
    argv.append(url)
    if script_args:
        argv += ["--"] + [str(a) for a in script_args]
    out = subprocess.run(bench.pinned(cpu, argv), capture_output=True, text=True, timeout=seconds + 60)
    text = out.stdout + out.stderr
    res = {"raw": text}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    res["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    res["requests"] = int(m.group(1)) if m else 0
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.M)
        # Pipelined, wrk samples one latency per batch but ranks percentiles against every
        # request, so the upper ones come out as 0.00us: unknown, not zero.
        v = _dur(m.group(1)) if m else None
        res[f"p{pct}_us"] = v if v else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return res
