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


def definitions(work, root, cpu):
    """name -> (argv factory taking a port, set of scenario kinds it supports)."""
    release = os.path.join(bench.ROOT, "target", "release", "ringwire")
    perf_bin = os.path.join(bench.PERF, "target", "release")

    def ringwire(io, binary=release, data=True):
        def argv(port):
            cmd = [binary, "serve", "--io", io, "--listen", f"127.0.0.1:{port}", "--workers", "1",
                   "--cpus", str(cpu), "--root", root, "--log-level", "warn", "--max-body", "64m",
                   # Only the port under test: fixed admin/stream ports could collide
                   # with a previous run's listener that the kernel has not torn down yet.
                   "--admin", "", "--stream-listen", ""]
            if data:
                # The store of each run in the run's own directory, not the working directory.
                cmd += ["--data-dir", os.path.join(work, f"ringwire-data-{port}")]
            return cmd
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
    # An earlier build of ringwire, to show a change's effect in the same run:
    # RINGWIRE_BASE_BIN=/path/to/old/ringwire perf/compare --servers ringwire-uring,ringwire-base-uring,...
    base = os.environ.get("RINGWIRE_BASE_BIN")
    if base:
        defs["ringwire-base-uring"] = (ringwire("uring", base, data=False), all_kinds)
        defs["ringwire-base-epoll"] = (ringwire("epoll", base, data=False), all_kinds)
    return defs
