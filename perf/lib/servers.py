"""The servers perf/compare runs, and how to start each on one pinned CPU."""

import os
import shutil
import subprocess

import bench

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/nginx-error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; multi_accept on; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location = /plaintext {{ default_type text/plain; return 200 "Hello, World!"; }}
        location /static/ {{ alias {root}/; }}
    }}
}}
"""


def ensure_packages():
    """wrk and nginx from Debian's packages, installed if missing."""
    need = [p for p, exe in (("wrk", "wrk"), ("nginx-light", "nginx")) if not shutil.which(exe) and not os.path.exists(f"/usr/sbin/{exe}")]
    if need:
        bench.log(f"installing {' '.join(need)} ...")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + need, check=True, env=env)


def ensure_apt(pairs):
    """Installs each Debian package whose executable is missing: pairs of (package, executable)."""
    need = [p for p, exe in pairs if not shutil.which(exe) and not os.path.exists(f"/usr/sbin/{exe}")]
    if need:
        bench.log(f"installing {' '.join(need)} ...")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + need, check=True, env=env)


def nginx_bin():
    return shutil.which("nginx") or "/usr/sbin/nginx"


RELEASE = os.path.join(bench.ROOT, "target", "release", "ringwire")

# What the `-auth` variants add (issue 16's edge on the request path): /plaintext needs a
# valid token (checked on every request; after the first one a core finds the token in its
# cache of verified tokens) and passes one rate-limit decision keyed by the token's subject,
# at a rate it never reaches at any load wrk can offer.
AUTH_PATH = "/plaintext"
AUTH_RATE = "/plaintext;key=sub;rate=100000000/s;burst=100000000"


def auth_setup(work, binary=RELEASE):
    """A key pair under work/auth-keys and a day-long token signed with it (subject `bench`):
    (keys directory, token)."""
    keys = os.path.join(work, "auth-keys")
    subprocess.run([binary, "token", "keygen", "--out", keys], check=True, capture_output=True, text=True)
    private = [f for f in os.listdir(keys) if f.endswith(".key")]
    if len(private) != 1:
        raise SystemExit(f"`ringwire token keygen --out {keys}` left {len(private)} .key files, expected one")
    out = subprocess.run([binary, "token", "issue", "--key", os.path.join(keys, private[0]), "--sub", "bench",
                          "--scope", "kv:read:", "--ttl", "24h"], check=True, capture_output=True, text=True)
    token = out.stdout.strip().splitlines()[-1].strip()
    return keys, token


def auth_flags(keys):
    return ["--auth-keys", keys, "--auth-protect", AUTH_PATH, "--rate-limit", AUTH_RATE]


def definitions(work, root, cpu, auth_keys=None):
    """name -> (argv factory taking a port, set of scenario kinds it supports). With
    `auth_keys` (from auth_setup) also `ringwire-uring-auth` and `ringwire-epoll-auth`."""
    release = RELEASE
    perf_bin = os.path.join(bench.PERF, "target", "release")

    def ringwire(io, binary=release, data=True, extra=()):
        def argv(port):
            cmd = [binary, "serve", "--io", io, "--listen", f"127.0.0.1:{port}", "--workers", "1",
                   "--cpus", str(cpu), "--root", root, "--log-level", "warn", "--max-body", "64m",
                   # Only the port under test: fixed admin/stream ports could collide
                   # with a previous run's listener that the kernel has not torn down yet.
                   "--admin", "", "--stream-listen", ""]
            if data:
                # The store of each run in the run's own directory, not the working directory.
                cmd += ["--data-dir", os.path.join(work, f"ringwire-data-{port}")]
            return cmd + list(extra)
        return argv

    def nginx(port):
        d = os.path.join(work, f"nginx-{port}")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=d, port=port, root=root))
        return [nginx_bin(), "-c", conf, "-e", os.path.join(d, "nginx-error.log")]

    all_kinds = {"plaintext", "pipelined", "static", "echo"}
    defs = {
        "ringwire-uring": (ringwire("uring"), all_kinds),
        "ringwire-epoll": (ringwire("epoll"), all_kinds),
        "nginx": (nginx, {"plaintext", "pipelined", "static"}),
        "hyper": (lambda port: [os.path.join(perf_bin, "hyper-server"), f"127.0.0.1:{port}"], {"plaintext", "pipelined", "echo"}),
        "monoio-canned": (lambda port: [os.path.join(perf_bin, "monoio-canned"), f"127.0.0.1:{port}"], {"plaintext", "pipelined"}),
    }
    if auth_keys:
        # Only the scenarios whose path is the protected one: elsewhere they equal their twin.
        defs["ringwire-uring-auth"] = (ringwire("uring", extra=auth_flags(auth_keys)), {"plaintext", "pipelined"})
        defs["ringwire-epoll-auth"] = (ringwire("epoll", extra=auth_flags(auth_keys)), {"plaintext", "pipelined"})
    # An earlier build of ringwire, to show a change's effect in the same run:
    # RINGWIRE_BASE_BIN=/path/to/old/ringwire perf/compare --servers ringwire-uring,ringwire-base-uring,...
    base = os.environ.get("RINGWIRE_BASE_BIN")
    if base:
        defs["ringwire-base-uring"] = (ringwire("uring", base, data=False), all_kinds)
        defs["ringwire-base-epoll"] = (ringwire("epoll", base, data=False), all_kinds)
    return defs
