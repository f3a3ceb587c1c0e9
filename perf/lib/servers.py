"""The servers perf/compare runs, and how to start each on one pinned CPU."""

import os
import shutil
import subprocess

import bench
import scenarios

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
{tls}    server {{
        listen 127.0.0.1:{port}{ssl} reuseport backlog=4096;
{server_extra}        location = /plaintext {{ default_type text/plain; return 200 "Hello, World!"; }}
        location /static/ {{ alias {root}/; }}
    }}
}}
"""


# perf/compare --tls: the same certificate, key and curves as ringwire, TLS 1.3 and 1.2, the
# modern suites rustls (ring) offers and nothing else, tickets and a shared session cache.
# `Options KTLS` lets OpenSSL hand the records to the kernel where it has the `tls` ULP
# (nginx then keeps sendfile zero-copy); where it has not, nginx encrypts in user space.
NGINX_TLS = """    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ecdh_curve X25519:prime256v1;
    ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_session_tickets on;
    ssl_session_cache shared:SSL:10m;
    ssl_conf_command Options KTLS;
    ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256;
"""


def nginx_conf(d, port, root, tls=None, reuse_log=None):
    """nginx.conf for one run in directory d; with `tls` ((cert, key)) the port speaks TLS, and
    with `reuse_log` too each request's `$ssl_session_reused` (r or .) goes to that file (only
    for perf/compare's check that wrk resumes; the timed runs log nothing)."""
    block, extra = "", ""
    if tls:
        block = NGINX_TLS.format(cert=tls[0], key=tls[1])
        if reuse_log:
            block += '    log_format reuse "$ssl_session_reused";\n'
            extra = f"        access_log {reuse_log} reuse;\n"
    return NGINX_CONF.format(dir=d, port=port, root=root, tls=block, ssl=" ssl" if tls else "", server_extra=extra)


def nginx_argv(work, root, port, tls=None, reuse_log=None):
    d = os.path.join(work, f"nginx-{port}")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(d, port, root, tls, reuse_log))
    return [nginx_bin(), "-c", conf, "-e", os.path.join(d, "nginx-error.log")]


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


# The admin port of each -profiled server, by the port under test.
PROFILED_ADMIN = {}


def definitions(work, root, cpu, auth_keys=None, tls=None):
    """name -> (argv factory taking a port, set of scenario kinds it supports). With
    `auth_keys` (from auth_setup) also `ringwire-uring-auth` and `ringwire-epoll-auth`. Always
    `ringwire-uring-profiled` and `ringwire-epoll-profiled` (admin listener on). With
    `tls` ((cert, key) paths) the ringwire servers and nginx speak TLS on the port under test
    and serve the TLS kinds only; the others (hyper, monoio, the -auth twins) serve none."""
    release = RELEASE
    perf_bin = os.path.join(bench.PERF, "target", "release")

    def ringwire(io, binary=release, data=True, extra=(), admin=False):
        def argv(port):
            # Only the port under test (and, for a -profiled server, an admin port the kernel
            # picked, in PROFILED_ADMIN): fixed admin/stream ports could collide with a
            # previous run's listener that the kernel has not torn down yet.
            admin_addr = ""
            if admin:
                PROFILED_ADMIN[port] = bench.free_port()
                admin_addr = f"127.0.0.1:{PROFILED_ADMIN[port]}"
            cmd = [binary, "serve", "--io", io, "--listen", f"127.0.0.1:{port}", "--workers", "1",
                   "--cpus", str(cpu), "--root", root, "--log-level", "warn", "--max-body", "64m",
                   "--admin", admin_addr, "--stream-listen", ""]
            if data:
                # The store of each run in the run's own directory, not the working directory.
                cmd += ["--data-dir", os.path.join(work, f"ringwire-data-{port}")]
            if tls:
                cmd += ["--tls-cert", tls[0], "--tls-key", tls[1], "--tls-listeners", "http"]
            return cmd + list(extra)
        return argv

    def nginx(port):
        return nginx_argv(work, root, port, tls)

    all_kinds = {"plaintext", "pipelined", "static", "echo"}
    defs = {
        "ringwire-uring": (ringwire("uring"), all_kinds),
        "ringwire-epoll": (ringwire("epoll"), all_kinds),
        "nginx": (nginx, {"plaintext", "pipelined", "static"}),
        "hyper": (lambda port: [os.path.join(perf_bin, "hyper-server"), f"127.0.0.1:{port}"], {"plaintext", "pipelined", "echo"}),
        "monoio-canned": (lambda port: [os.path.join(perf_bin, "monoio-canned"), f"127.0.0.1:{port}"], {"plaintext", "pipelined"}),
    }
    # Issue 17: the same servers kept profiling (GET /debug/flamegraph) through each measured
    # run by perf/compare (perf/lib/profiling.py).
    defs["ringwire-uring-profiled"] = (ringwire("uring", admin=True), all_kinds)
    defs["ringwire-epoll-profiled"] = (ringwire("epoll", admin=True), all_kinds)
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
    if tls:
        defs = {name: (argv, scenarios.TLS_KINDS if name.startswith("ringwire-") and not name.endswith("-auth")
                       or name == "nginx" else set())
                for name, (argv, _) in defs.items()}
    return defs
