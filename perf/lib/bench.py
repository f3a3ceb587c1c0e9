"""Helpers shared by the perf scripts: pinning, process control, medians, tables."""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

PERF = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(PERF)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def pinned(cpu, argv):
    """argv prefixed with taskset when a CPU is given and taskset exists."""
    if cpu is None or not shutil.which("taskset"):
        return argv
    return ["taskset", "-c", str(cpu)] + argv


def wait_port(host, port, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def start(argv, cpu, env=None, log_path=None):
    out = open(log_path, "w") if log_path else subprocess.DEVNULL
    return subprocess.Popen(pinned(cpu, argv), stdout=out, stderr=subprocess.STDOUT, env=env)


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid):
    """User + system CPU seconds of a process (USER_HZ = 100)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / 100.0


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    """(max - min) / median, as a percentage: how much the rounds disagree."""
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return 0.0
    m = statistics.median(xs)
    return 100.0 * (max(xs) - min(xs)) / m if m else 0.0


def fmt(x, digits=0):
    if x is None:
        return "-"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), kernel {os.uname().release}"


def write_results(name, text, data):
    out = os.path.join(PERF, "results")
    os.makedirs(out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    md = os.path.join(out, f"{name}-{stamp}.md")
    js = os.path.join(out, f"{name}-{stamp}.json")
    with open(md, "w") as f:
        f.write(text + "\n")
    with open(js, "w") as f:
        json.dump(data, f, indent=2)
    return md, js


def free_port():
    """A port nothing listens on now (the kernel's pick); a race is possible but harmless here."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
