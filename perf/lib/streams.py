"""The runs perf/stream-compare makes: the servers (ringwire, Redis, nats-server) and their load
generators, each cell starting its own server processes on the server CPU and its load on the
other, and returning {rate, share, p50_us, p99_us} (share: the servers' CPU seconds per second
of the measured window, summed over every server process of the cell), or None when the run
is invalid (after logging why).

The durable, replay and cluster runs are described in perf/stream-compare's docstring.

With --tls (`Env.tls`: the certificate and key from tls.make_cert) every server this module
starts speaks TLS on the ports under test and every load generator speaks it back: ringwire
with `--tls-listeners http,stream` (its HTTP and stream ports), Redis on its `--tls-port` (a
plain port beside it at port + 5 only for INFO), nats-server with `--tls` for JetStream; the
clients trust only the run's certificate and check the name `localhost` where they can
(bench-stream, nats-load's ringwire side, redis-fanout) or its IP (nats-load's NATS side, Python); wrk and
redis-benchmark are told the CA but do not check names (wrk checks nothing).
"""

import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

import bench
import kv
import wrk

TLS_NAME = "localhost"  # the name the clients check (tls.make_cert's certificate carries it)
REDIS_PLAIN_OFFSET = 5  # with --tls: Redis's plain port (INFO only) is the cell's port + 5
DURABLE = "durable.>"  # the --durable pattern every durable run uses
PUB_CHANNEL = "durable.pub"
REPLAY_CHANNEL = "durable.replay"
# Durable publishing: 4 connections x 16 in flight = 64 messages in flight, for every server.
PUB_CONNS, PUB_DEPTH = 4, 16
# Replay: 8 connections x 4 streams, each reading the whole pre-filled channel from seq 1 (with
# 1,000,000 messages, 32 million to read: more than a run at 2-3 million a second takes).
REPLAY_CONNS, REPLAY_PER_CONN = 8, 4
REPLAY_STREAMS = REPLAY_CONNS * REPLAY_PER_CONN


class Env:
    """What every run needs: the parsed arguments, binaries and a work directory."""

    def __init__(self, a, warmup, ringwire, nats_load, work, tls=None):
        self.a, self.warmup, self.ringwire, self.nats_load, self.work = a, warmup, ringwire, nats_load, work
        self.tls = tls  # (cert, key) with --tls
        self.replay_dir = None
        self.replay_count = 0

    def scheme(self):
        return "https" if self.tls else "http"

    def stream_client_tls(self):
        """The TLS flags of bench-stream, nats-load fanout (ringwire://) and redis-fanout (none
        without --tls)."""
        return ["--tls", "--tls-ca", self.tls[0], "--tls-server-name", TLS_NAME] if self.tls else []

    def redis_client_tls(self):
        return ["--tls", "--cacert", self.tls[0]] if self.tls else []

    def urlopen(self, path, port, timeout=30):
        """GET http(s)://127.0.0.1:port/path, trusting only the run's certificate."""
        ctx = ssl.create_default_context(cafile=self.tls[0]) if self.tls else None
        return urllib.request.urlopen(f"{self.scheme()}://127.0.0.1:{port}{path}", timeout=timeout, context=ctx)

    def data_dir(self, what):
        return tempfile.mkdtemp(prefix=f"{what}-", dir=self.work)


def cpu_window(pids, start, span, done=None):
    """Samples the summed CPU share of `pids` from `start` to `start + span` seconds from now,
    ending early when `done()` says the load generator has finished. Returns (thread, box)."""
    box = {}

    def total():
        return sum(bench.cpu_seconds(p) for p in pids)

    def sample():
        time.sleep(start)
        t0, c0 = time.monotonic(), total()
        end = t0 + span
        while time.monotonic() < end and not (done and done()):
            time.sleep(0.02)
        box["share"] = (total() - c0) / (time.monotonic() - t0)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    return t, box


def started(proc, port, what, timeout=15.0):
    if not bench.wait_port("127.0.0.1", port, timeout) or proc.poll() is not None:
        raise SystemExit(f"{what} did not start listening on {port}")


class Procs:
    """Server processes of one cell, stopped (last started first) on exit."""

    def __init__(self):
        self.procs = []

    def start(self, env, argv, port, what, environ=None):
        proc = bench.start(argv, env.a.server_cpu, env=environ)
        self.procs.append(proc)
        started(proc, port, what)
        return proc

    def pids(self):
        return [p.pid for p in self.procs]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            bench.stop(p)


def ringwire_argv(env, io, port, data_dir, sync="always", durable="", cluster=""):
    """ringwire on the server CPU, one worker; HTTP on `port`, the stream protocol on port + 1."""
    argv = [env.ringwire, "serve", "--io", io, "--workers", "1", "--cpus", str(env.a.server_cpu),
            "--listen", f"127.0.0.1:{port}", "--stream-listen", f"127.0.0.1:{port + 1}", "--admin", "",
            "--log-level", "warn", "--access-log-sample", "0", "--data-dir", data_dir, "--db-sync", sync]
    if durable:
        argv += ["--durable", durable]
    if cluster:
        argv += ["--cluster-nats", cluster]
    if env.tls:
        argv += ["--tls-cert", env.tls[0], "--tls-key", env.tls[1], "--tls-listeners", "http,stream"]
    return argv


def redis_argv(port, data_dir=None, fsync=None, tls=None):
    """redis-server on `port`; with `tls` ((cert, key)) TLS on `port` (no client certificates)
    and a plain port at port + REDIS_PLAIN_OFFSET for the harness's INFO."""
    plain = ["--port", str(port)]
    if tls:
        plain = ["--port", str(port + REDIS_PLAIN_OFFSET), "--tls-port", str(port), "--tls-cert-file", tls[0],
                 "--tls-key-file", tls[1], "--tls-ca-cert-file", tls[0], "--tls-auth-clients", "no"]
    argv = ["redis-server"] + plain + ["--bind", "127.0.0.1", "--save", "", "--protected-mode", "no",
                                       "--daemonize", "no", "--io-threads", "1", "--loglevel", "warning"]
    if fsync:
        return argv + ["--dir", data_dir, "--appendonly", "yes", "--appendfsync", fsync]
    return argv + ["--appendonly", "no"]


def nats_argv(port, store_dir=None, tls=None):
    argv = [shutil.which("nats-server") or "/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", str(port)]
    if store_dir:
        argv += ["-js", "-sd", store_dir]
    if tls:
        argv += ["--tls", "--tlscert", tls[0], "--tlskey", tls[1]]
    return argv


def bench_stream(env, port, pids, args, start=0.5):
    """`ringwire bench-stream --json ARGS` against the stream port, epoll client (the client's
    half of each loopback send is charged to the server's CPU, and an io_uring client changes
    it: docs/BENCHMARKS.md, "Stream protocol"); the CPU window skips `start` seconds of
    connection set-up, then the warm-up, and ends 0.3 s before the load does."""
    a = env.a
    argv = [env.ringwire, "bench-stream", "--addr", f"127.0.0.1:{port}", "--duration", f"{a.duration}s",
            "--warmup", f"{env.warmup}s", "--cpus", str(a.load_cpu), "--json", "--io", "epoll"] + args
    argv += env.stream_client_tls()
    t, box = cpu_window(pids, start + env.warmup, a.duration - 0.8 if a.duration > 1.5 else a.duration / 2)
    out = subprocess.run(bench.pinned(a.load_cpu, argv), capture_output=True, text=True, timeout=a.duration + 90)
    t.join()
    if out.returncode != 0:
        bench.log(f"    INVALID: bench-stream failed: {out.stderr[-1500:]}")
        return None
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res.get("tls", bool(env.tls)) != bool(env.tls):
        bench.log(f"    INVALID: bench-stream reports tls={res.get('tls')}, the run wants {bool(env.tls)}")
        return None
    if res.get("errors") or res.get("slow_consumer_resets"):
        bench.log(f"    INVALID: {res.get('errors')} errors, {res.get('slow_consumer_resets')} slow-consumer resets"
                  f"\n{out.stderr[-1500:]}")
        return None
    lat = res["latency_us"]
    return {"rate": res["messages_per_sec"], "share": box.get("share"), "p50_us": lat["p50"] or None,
            "p99_us": lat["p99"] or None, "messages": res["messages"]}


def nats_load(env, args, what):
    """perf/nats-load ARGS --json; it samples the servers' CPU itself (--server-pids)."""
    a = env.a
    argv = [env.nats_load] + args + ["--duration", str(a.duration), "--warmup", str(env.warmup), "--json"]
    out = subprocess.run(bench.pinned(a.load_cpu, argv), capture_output=True, text=True, timeout=a.duration + 90)
    if out.returncode != 0:
        bench.log(f"    INVALID: nats-load {what} failed: {out.stderr[-1500:]}")
        return None
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["errors"] or res["lost"]:
        bench.log(f"    INVALID: {len(res['errors'])} errors {res['errors'][:3]}, {res['lost']} messages lost")
        return None
    lat = res["latency_us"]
    cpu = res.get("server_cpu_s")
    return {"rate": res["messages_per_sec"], "share": cpu / res["duration_s"] if cpu is not None else None,
            "p50_us": lat["p50"], "p99_us": lat["p99"], "messages": res["messages"]}


# ---- durable publishing ----------------------------------------------------------------------

def durable_ringwire(env, io, port, sync):
    """PUBs to a durable channel, PUB_CONNS streams x PUB_DEPTH in flight, each counted when
    answered (once durable under db.sync)."""
    with Procs() as ps:
        ps.start(env, ringwire_argv(env, io, port, env.data_dir("ringwire"), sync, DURABLE), port, "ringwire")
        return bench_stream(env, port + 1, ps.pids(), [
            "--service", "channels", "--durable-channel", PUB_CHANNEL, "--connections", str(PUB_CONNS),
            "--streams", "1", "--depth", str(PUB_DEPTH), "--size", "64"])


def durable_redis(env, port, fsync):
    """XADD of a 64-byte field to one stream, redis-benchmark -c PUB_CONNS -P PUB_DEPTH, against
    Redis with appendonly yes and `fsync` (always or everysec)."""
    a = env.a
    with Procs() as ps:
        proc = ps.start(env, redis_argv(port, env.data_dir("redis"), fsync, env.tls), port, "redis")
        opts = ["redis-benchmark", "-p", str(port), "-c", str(PUB_CONNS), "-P", str(PUB_DEPTH), "--csv"]
        opts += env.redis_client_tls()
        info = port + REDIS_PLAIN_OFFSET if env.tls else port
        cmd = ["XADD", "s", "*", "f", "v" * 64]
        # redis-benchmark counts requests, not time: a short probe (Redis's own XADD count over a
        # fixed time) sizes the measured run.
        probe_s = 0.5 if a.smoke else 1.0
        c0 = kv.redis_calls(info, "xadd")
        probe = subprocess.Popen(bench.pinned(a.load_cpu, opts + ["-n", "2000000000"] + cmd),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(probe_s)
        rate = (kv.redis_calls(info, "xadd") - c0) / probe_s
        probe.kill()
        probe.wait()
        n = max(PUB_CONNS * PUB_DEPTH * 4, int(rate * a.duration))
        load = subprocess.Popen(bench.pinned(a.load_cpu, opts + ["-n", str(n)] + cmd),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t, box = cpu_window([proc.pid], 0.3, max(0.2, a.duration - 0.8), done=lambda: load.poll() is not None)
        stdout, stderr = load.communicate(timeout=a.duration * 10 + 60)
        t.join()
    lines = stdout.strip().splitlines()
    if load.returncode != 0 or len(lines) < 2:
        bench.log(f"    INVALID: redis-benchmark failed ({load.returncode}): {stderr[-1500:]} {stdout[-1500:]}")
        return None
    cols = dict(zip(re.findall(r'"([^"]+)"', lines[-2]), re.findall(r'"([^"]+)"', lines[-1])))
    return {"rate": float(cols["rps"]), "share": box.get("share"), "p50_us": float(cols["p50_latency_ms"]) * 1000,
            "p99_us": float(cols["p99_latency_ms"]) * 1000}


def durable_nats(env, port):
    """JetStream publishes to a file-storage stream on one nats-server, PUB_CONNS connections x
    PUB_DEPTH in flight, each counted when its PublishAck arrives."""
    with Procs() as ps:
        ps.start(env, nats_argv(port, env.data_dir("nats"), env.tls), port, "nats-server")
        tls = ["--tls", "--tls-ca", env.tls[0]] if env.tls else []
        return nats_load(env, ["js-publish", "--url", f"nats://127.0.0.1:{port}", "--connections", str(PUB_CONNS),
                               "--in-flight", str(PUB_DEPTH), "--size", "64",
                               "--server-pids", ",".join(map(str, ps.pids()))] + tls, "js-publish")


# ---- replay ----------------------------------------------------------------------------------

def channel_next(env, port, channel):
    """The channel's next seq, from GET /channels/{name}/messages?limit=1."""
    with env.urlopen(f"/channels/{channel}/messages?limit=1", port) as r:
        return json.loads(r.read())["next"]


def replay_fill(env, count, port):
    """Pre-fills REPLAY_CHANNEL with at least `count` 64-byte messages (db.sync=none), once."""
    if env.replay_dir:
        return
    d = env.data_dir("ringwire-replay")
    with Procs() as ps:
        ps.start(env, ringwire_argv(env, "epoll", port, d, "none", DURABLE), port, "ringwire (fill)")
        t0 = time.monotonic()
        while channel_next(env, port, REPLAY_CHANNEL) - 1 < count:
            out = subprocess.run(bench.pinned(env.a.load_cpu, [
                env.ringwire, "bench-stream", "--addr", f"127.0.0.1:{port + 1}", "--service", "channels",
                "--durable-channel", REPLAY_CHANNEL, "--connections", "4", "--streams", "1", "--depth", "64",
                "--size", "64", "--duration", "3s" if count > 100000 else "1s", "--warmup", "0s", "--io", "epoll"]
                + env.stream_client_tls()),
                capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise SystemExit(f"filling {REPLAY_CHANNEL} failed: {out.stderr[-2000:]}")
        env.replay_count = channel_next(env, port, REPLAY_CHANNEL) - 1
    env.replay_dir = d
    bench.log(f"filled {REPLAY_CHANNEL} with {env.replay_count:,} messages of 64 B in {time.monotonic() - t0:.1f} s")


def replay_ringwire(env, io, port):
    """REPLAY_STREAMS streams each SUB from seq 1 of the pre-filled channel, counting MESSAGEs."""
    with Procs() as ps:
        ps.start(env, ringwire_argv(env, io, port, env.replay_dir, "none", DURABLE), port, "ringwire")
        res = bench_stream(env, port + 1, ps.pids(), [
            "--service", "channels", "--durable-channel", REPLAY_CHANNEL, "--replay",
            "--connections", str(REPLAY_CONNS), "--streams", str(REPLAY_PER_CONN), "--size", "64"])
    if res and (res["rate"] * (env.a.duration + env.warmup) > 0.9 * REPLAY_STREAMS * env.replay_count
                or (res["share"] or 0) < 0.2):
        bench.log(f"    WARNING: the replay may have reached the channel's end ({env.replay_count:,} messages "
                  "per stream) before the measured window ended: its numbers then mean nothing; use a larger "
                  "--replay-messages")
    return res


def replay_http(env, io, port):
    """wrk GET /channels/{name}/messages?from=1&limit=1000 (always the same page), 16
    connections; a message is one of the 1000 records of a 200 answer."""
    with Procs() as ps:
        ps.start(env, ringwire_argv(env, io, port, env.replay_dir, "none", DURABLE), port, "ringwire")
        t, box = cpu_window(ps.pids(), 0.5, max(0.5, round(env.a.duration) - 0.8))
        res = wrk.run(f"{env.scheme()}://127.0.0.1:{port}/channels/{REPLAY_CHANNEL}/messages?from=1&limit=1000", 16,
                      env.a.duration, env.a.load_cpu)
        t.join()
    if res["non2xx"] or res["socket_errors"] or not res["rps"]:
        bench.log(f"    INVALID wrk run: {res['non2xx']} non-2xx, {res['socket_errors']} socket errors")
        return None
    return {"rate": res["rps"] * 1000, "share": box.get("share"), "p50_us": res["p50_us"], "p99_us": res["p99_us"]}


# ---- ephemeral fan-out across two nodes through NATS ---------------------------------------------

def cluster_fanout_ringwire(env, io, port):
    """nats-server on `port`; node A (HTTP port + 1, stream port + 2) and node B (port + 3,
    port + 4), both `--cluster-nats`; perf/nats-load publishes on A, 100 subscribers on B. The
    CPU counted is all three processes'."""
    url = f"nats://127.0.0.1:{port}"
    with Procs() as ps:
        ps.start(env, nats_argv(port), port, "nats-server")
        ps.start(env, ringwire_argv(env, io, port + 3, env.data_dir("node-b"), cluster=url), port + 3, "node B")
        ps.start(env, ringwire_argv(env, io, port + 1, env.data_dir("node-a"), cluster=url), port + 1, "node A")
        return nats_load(env, ["fanout", "--pub", f"ringwire://127.0.0.1:{port + 2}",
                               "--sub", f"ringwire://127.0.0.1:{port + 4}", "--subscribers", "100", "--size", "64",
                               "--server-pids", ",".join(map(str, ps.pids()))] + env.stream_client_tls(),
                         "fanout (ringwire x2 + NATS)")


def cluster_fanout_nats(env, port):
    """NATS alone: nats-load publishes and its 100 subscribers subscribe on one nats-server."""
    with Procs() as ps:
        ps.start(env, nats_argv(port), port, "nats-server")
        return nats_load(env, ["fanout", "--pub", f"nats://127.0.0.1:{port}", "--subscribers", "100", "--size", "64",
                               "--server-pids", ",".join(map(str, ps.pids()))], "fanout (NATS)")


def missing_features(ringwire):
    """Why the channels and cluster scenarios cannot run with this build: {kind: reason}."""
    why = {}
    bs = subprocess.run([ringwire, "bench-stream", "--help"], capture_output=True, text=True).stdout
    if "channels" not in bs or "--replay" not in bs:
        why["channels"] = "`ringwire bench-stream --service channels --replay` does not exist in this build"
    serve = subprocess.run([ringwire, "serve", "--help"], capture_output=True, text=True).stdout
    if "--durable" not in serve:
        why["channels"] = "`ringwire serve --durable` does not exist in this build"
    if "--cluster-nats" not in serve:
        why["cluster"] = "`ringwire serve --cluster-nats` does not exist in this build"
    if "--tls-listeners" not in serve or "--tls-ca" not in bs:
        why["tls"] = "`ringwire serve --tls-listeners` or `ringwire bench-stream --tls-ca` does not exist in this build"
    return why


def ensure_nats():
    if not shutil.which("nats-server") and not os.path.exists("/usr/sbin/nats-server"):
        bench.log("installing nats-server ...")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nats-server"],
                       check=True, env=env)
