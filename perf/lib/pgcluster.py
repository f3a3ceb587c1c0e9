"""A throwaway PostgreSQL cluster for perf/pg-compare, made the way the test harness makes
its own (tests/util/pg.rs): `initdb` in a fresh directory, the postmaster a child of this
process on a free 127.0.0.1 port with its Unix socket inside that directory, role and database
`ringwire` (password `ringwire`, scram-sha-256 over TCP unless `auth_host` says otherwise),
superuser `postgres` over the socket without a password. PostgreSQL refuses to run as root, so
as root the server tools run as the `postgres` system user (or `nobody`) with the directory
given to it.

Here the postmaster is started under `taskset -c CPU`: every process of the cluster (backends,
WAL writer, checkpointer, ...) is forked from it and inherits the pinning. `cpu()` sums the
CPU time of the whole cluster from /proc.
"""

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

import bench

USER = "ringwire"
SUPERUSER = "postgres"


def bin_dir():
    """The directory of the highest installed PostgreSQL's server tools, or None."""
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        v = os.path.basename(os.path.dirname(d))
        if re.fullmatch(r"[\d.]+", v) and os.access(os.path.join(d, "initdb"), os.X_OK):
            found.append(([int(x) for x in v.split(".")], d))
    if found:
        return max(found)[1]
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else None


def _owner():
    """(uid, gid) to run the server tools as when root, else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    raise SystemExit("running as root, and no `postgres` or `nobody` user to run PostgreSQL as")


def _stat(pid):
    """(ppid, utime + stime, cutime + cstime) in seconds, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / 100.0, (int(rest[13]) + int(rest[14])) / 100.0


class Cluster:
    def __init__(self, cpu, conf=(), auth_host="scram-sha-256"):
        self.bin = bin_dir()
        if not self.bin:
            raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
        self.owner = _owner()
        base = "/tmp" if self.owner else tempfile.gettempdir()
        self.dir = tempfile.mkdtemp(prefix="ringwire-pg-compare-", dir=base)
        os.makedirs(os.path.join(self.dir, "sock"))
        if self.owner:
            for p in (self.dir, os.path.join(self.dir, "sock")):
                os.chown(p, *self.owner)
        self.port = bench.free_port()
        self.proc = None
        self._run([self._tool("initdb"), "-D", self.data, "-U", SUPERUSER, "-E", "UTF8", "--locale=C",
                   "--no-sync", "--auth-local=trust", f"--auth-host={auth_host}"])
        settings = [("listen_addresses", "127.0.0.1"), ("port", str(self.port)),
                    ("unix_socket_directories", os.path.join(self.dir, "sock")),
                    ("password_encryption", "scram-sha-256"), ("max_connections", "200"),
                    ("huge_pages", "off"), ("logging_collector", "off")] + list(conf)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n" + "".join(f"{k} = '{v}'\n" for k, v in settings))
        self.proc = subprocess.Popen(bench.pinned(cpu, [self._tool("postgres"), "-D", self.data]),
                                     stdout=open(os.path.join(self.dir, "log"), "w"), stderr=subprocess.STDOUT,
                                     **self._as_owner())
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"postgres exited ({self.proc.returncode}):\n{self.log_tail()}")
            if self._psql("postgres", "SELECT 1", check=False).returncode == 0:
                break
            if time.time() > deadline:
                raise SystemExit(f"PostgreSQL does not answer within 60 s:\n{self.log_tail()}")
            time.sleep(0.05)
        self.psql(f"CREATE ROLE {USER} LOGIN PASSWORD '{USER}'", db="postgres")
        self.psql(f"CREATE DATABASE {USER} OWNER {USER}", db="postgres")

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    def url(self):
        return f"postgres://{USER}:{USER}@127.0.0.1:{self.port}/{USER}"

    def version(self):
        return subprocess.run([self._tool("postgres"), "--version"], capture_output=True,
                              text=True).stdout.strip()

    def tool(self, name):
        return self._tool(name)

    def _tool(self, name):
        return os.path.join(self.bin, name)

    def _as_owner(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(HOME=self.dir, PGCLIENTENCODING="UTF8")
        kw = {"cwd": self.dir, "env": env, "stdin": subprocess.DEVNULL}
        if self.owner:
            kw.update(user=self.owner[0], group=self.owner[1], extra_groups=[])
        return kw

    def _run(self, argv):
        out = subprocess.run(argv, capture_output=True, text=True, **self._as_owner())
        if out.returncode != 0:
            raise SystemExit(f"{argv[0]} failed ({out.returncode}): {out.stdout}{out.stderr}")
        return out

    def _psql(self, db, sql, check=True):
        argv = [self._tool("psql"), "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1", "-h", os.path.join(self.dir, "sock"),
                "-p", str(self.port), "-U", SUPERUSER, "-d", db, "-c", sql]
        out = subprocess.run(argv, capture_output=True, text=True, **self._as_owner())
        if check and out.returncode != 0:
            raise SystemExit(f"psql failed on {sql!r}: {out.stderr}")
        return out

    def psql(self, sql, db=USER):
        """Runs `sql` as the superuser over the Unix socket; psql's -At output."""
        return self._psql(db, sql).stdout.strip()

    def pids(self):
        """The postmaster and every live process it forked."""
        pm = self.proc.pid
        kids = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                st = _stat(int(d))
                if st and st[0] == pm:
                    kids.append(int(d))
        return [pm] + kids

    def tcp_backends(self):
        """How many backends serve a TCP client of role and database `ringwire` (their process
        title is `postgres: ringwire ringwire 127.0.0.1(port) ...`)."""
        n = 0
        for pid in self.pids()[1:]:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    title = f.read()
            except OSError:
                continue
            n += f"{USER} {USER} 127.0.0.1(".encode() in title
        return n

    def cpu(self):
        """A sample of the cluster's CPU time: {pid: seconds} for the live processes, and the
        postmaster's reaped children's total (where the time of backends that exit goes)."""
        per, reaped = {}, 0.0
        for pid in self.pids():
            st = _stat(pid)
            if st:
                per[pid] = st[1]
                if pid == self.proc.pid:
                    reaped = st[2]
        return per, reaped

    @staticmethod
    def cpu_between(a, b):
        """CPU seconds the cluster used between samples a and b: each live process's growth,
        all of a process born in between, and for one that exited in between, what the
        postmaster reaped (its whole life) less what it had used at sample a."""
        (pa, ra), (pb, rb) = a, b
        gone = sum(t for pid, t in pa.items() if pid not in pb)
        return sum(t - pa.get(pid, 0.0) for pid, t in pb.items()) + (rb - ra) - gone

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.dir, "log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def close(self):
        if self.proc and self.proc.poll() is None:
            subprocess.run([self._tool("pg_ctl"), "-D", self.data, "stop", "-m", "fast", "-w", "-t", "60"],
                           capture_output=True, **self._as_owner())
            if self.proc.poll() is None:
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
