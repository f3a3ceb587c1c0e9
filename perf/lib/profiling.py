"""The cost of a running profile (issue 17): perf/compare's `ringwire-uring-profiled` and
`ringwire-epoll-profiled` are their twins with the admin listener on, and while each of their
runs is measured a thread keeps `GET /debug/flamegraph` running against it.

One profile spans the warm-up and the measured run (seconds = warm-up + duration + 1, at most
60; longer runs chain profiles back to back), so the figure is the cost of sampling every core
at the server's default rate (99 Hz); the one-off symbolization and rendering of each profile
happen after it ends. The first profile of a process also loads the binary's symbol tables (once:
they stay cached), so each server is warmed with a one-second profile before the run. A run is
invalid unless a profile was running when its measurement
ended and every profile answered 200.
"""

import http.client
import math
import threading
import time

import bench

SUFFIX = "-profiled"
# The bound on what a running profile may cost.
TARGET_PCT = 5.0


def profile_seconds(warmup, duration):
    return max(1, min(60, math.ceil(warmup + duration) + 1))


class Keep:
    """Keeps `GET /debug/flamegraph?seconds=N&format=folded` running on `admin_port` from
    construction until `stop()`."""

    def __init__(self, admin_port, seconds):
        if not bench.wait_port("127.0.0.1", admin_port):
            raise SystemExit(f"no admin listener on port {admin_port} for the profiled server")
        self.port, self.seconds = admin_port, seconds
        # The symbol tables, loaded by the process's first profile, out of the measurement.
        status, _ = fetch(admin_port, "seconds=1&format=folded", 120)
        if status != 200:
            raise SystemExit(f"the warm-up profile on admin port {admin_port} answered {status}")
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = False
        self.answers = []  # (status, samples)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        # The first request is on its way before the load starts.
        deadline = time.time() + 5
        while not self.in_flight and time.time() < deadline:
            time.sleep(0.01)

    def _run(self):
        while not self.done.is_set():
            with self.lock:
                self.in_flight = True
            try:
                status, samples = fetch(self.port, f"seconds={self.seconds}&format=folded", self.seconds + 60)
            except OSError as e:
                status, samples = f"error: {e}", 0
            with self.lock:
                self.in_flight = False
                if not self.done.is_set():
                    self.answers.append((status, samples))

    def stop(self):
        """Stops keeping profiles: {"running_at_end": bool, "profiles": n, "bad": [...]}.
        The profile in flight is left to the server (stopped next)."""
        with self.lock:
            self.done.set()
            running = self.in_flight
            answers = list(self.answers)
        bad = [s for s, _ in answers if s != 200]
        return {"running_at_end": running, "profiles": len(answers) + running, "bad": bad}


def fetch(port, query, timeout):
    """(status, sample count) of one folded profile."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", f"/debug/flamegraph?{query}")
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
    finally:
        conn.close()
    samples = sum(int(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.strip())
    return r.status, samples


def check(name, admin_port):
    """Before the rounds: the profiled server answers a one-second profile."""
    status, samples = fetch(admin_port, "seconds=1&format=folded", 60)
    if status != 200:
        raise SystemExit(f"{name}: GET /debug/flamegraph?seconds=1 answered {status}, expected 200")
    bench.log(f"{name}: /debug/flamegraph answers 200 ({samples} samples in 1 s idle)")


def cost_rows(scenarios, names, results, data):
    """Rows of the summary: each -profiled server against its twin, paired round by round."""
    rows = []
    for sc in scenarios:
        for name in names:
            twin = name[:-len(SUFFIX)]
            if not name.endswith(SUFFIX) or twin not in names:
                continue
            on, off = results.get((sc[0], name), []), results.get((sc[0], twin), [])
            paired = [x["per_cpu_s"] / y["per_cpu_s"] for x, y in zip(on, off)
                      if x["valid"] and y["valid"] and x["per_cpu_s"] and y["per_cpu_s"]]
            row = next((r for r in data if r["scenario"] == sc[0] and r["server"] == name), None)
            med = bench.median(paired)
            if row is not None:
                row["per_cpu_vs_unprofiled"] = med
                row["per_cpu_vs_unprofiled_rounds"] = paired
            cost = None if med is None else 100.0 * (1.0 - med)
            verdict = "-" if cost is None else ("PASS" if cost < TARGET_PCT else "FAIL")
            rows.append([sc[0], f"{name} / {twin}", bench.fmt(med, 3),
                         "-" if not paired else f"{min(paired):.3f}–{max(paired):.3f}",
                         "-" if cost is None else f"{cost:.1f} %", verdict, f"{len(paired)}/{len(on)}"])
    return rows


HEADER = ["scenario", "profiled / not", "per-CPU (median of rounds)", "rounds min–max", "cost",
          f"under {TARGET_PCT:g} %", "paired rounds"]
