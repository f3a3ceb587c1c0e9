//! Zero-downtime upgrade, the process side (the control core's is `ringwire_ops::upgrade`).
//!
//! The running server keeps a copy of every listening socket. `POST /admin/upgrade` (what
//! `ringwire upgrade` sends) starts the binary at the path this process was started from,
//! with the same arguments, handing it copies of those sockets and the write end of a pipe
//! ([`FDS_ENV`] names the descriptors). The successor serves on the inherited sockets, so
//! the same accept queues: no connection attempt can be refused between the two processes.
//! Once every worker of the successor listens, it writes `ready` to the pipe; the old process
//! then tells systemd the successor is the main process and drains (each connection finishes
//! its request; see `Core::begin_drain_as`). A successor that exits or is not ready within
//! [`READY_TIMEOUT`] is killed, and the old process goes on serving.

use ringwire_reactor::activation;
use std::{
    ffi::OsString,
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    os::fd::{AsFd, AsRawFd, OwnedFd, RawFd},
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Arc, mpsc},
    time::Duration,
};

/// The environment variable that names the descriptors a successor inherits, and the I/O
/// backend it must use: `http=5,6;stream=7,8;admin=9;ready=10;io=uring` (a missing group:
/// none of that kind). The backend is kept because io_uring wants blocking sockets and epoll
/// non-blocking ones, and the two processes share each socket's flags.
pub const FDS_ENV: &str = "RINGWIRE_UPGRADE_FDS";

/// How long a successor may take to start listening.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Listening sockets a predecessor handed to this process, and its readiness pipe.
pub struct Inherited {
    /// The HTTP listeners, one per worker.
    pub http: Vec<TcpListener>,
    /// The stream protocol's listeners, one per worker (empty: none).
    pub stream: Vec<TcpListener>,
    /// The admin listener.
    pub admin: Option<TcpListener>,
    /// The backend the predecessor ran on (the successor must use the same).
    pub io: Option<ringwire_reactor::Backend>,
    ready: Option<std::fs::File>,
}

/// What [`FDS_ENV`] says, if this process was started by an upgrade.
pub fn inherited() -> Result<Option<Inherited>, String> {
    let Some(spec) = std::env::var_os(FDS_ENV) else {
        return Ok(None);
    };
    let spec = spec
        .into_string()
        .map_err(|_| format!("{FDS_ENV} is not text"))?;
    let (spec, io) = match spec.rsplit_once(";io=") {
        Some((fds, "uring")) => (fds, Some(ringwire_reactor::Backend::Uring)),
        Some((fds, "epoll")) => (fds, Some(ringwire_reactor::Backend::Poll)),
        Some((_, other)) => return Err(format!("{FDS_ENV}: unknown backend `{other}`")),
        None => (spec.as_str(), None),
    };
    let groups = parse(spec)?;
    let all: Vec<RawFd> = groups.iter().flat_map(|(_, fds)| fds.clone()).collect();
    let mut owned = activation::take_fds(&all)
        .map_err(|e| format!("{FDS_ENV}: cannot take the inherited descriptors: {e}"))?
        .into_iter();
    let mut take = |n: usize| -> Vec<OwnedFd> { owned.by_ref().take(n).collect() };
    let mut out = Inherited {
        http: Vec::new(),
        stream: Vec::new(),
        admin: None,
        io,
        ready: None,
    };
    for (name, fds) in &groups {
        let fds = take(fds.len());
        match *name {
            "ready" => {
                let fd = fds
                    .into_iter()
                    .next()
                    .ok_or(format!("{FDS_ENV}: ready needs one descriptor"))?;
                out.ready = Some(std::fs::File::from(fd));
            }
            kind => {
                let listeners = fds
                    .into_iter()
                    .map(|fd| listener(fd, kind))
                    .collect::<Result<Vec<_>, _>>()?;
                match kind {
                    "http" => out.http = listeners,
                    "stream" => out.stream = listeners,
                    _ => out.admin = listeners.into_iter().next(),
                }
            }
        }
    }
    let Some(ready) = out.ready.as_mut() else {
        return Err(format!("{FDS_ENV}: no readiness pipe was handed over"));
    };
    // Detached, this process is not its predecessor's child: it says who it is.
    let _ = writeln!(ready, "started {}", std::process::id());
    if out.http.is_empty() {
        return Err(format!("{FDS_ENV}: no HTTP listener was handed over"));
    }
    Ok(Some(out))
}

/// `name=fd,fd;...` with the names this module writes.
fn parse(spec: &str) -> Result<Vec<(&'static str, Vec<RawFd>)>, String> {
    let mut out = Vec::new();
    for part in spec.split(';').filter(|p| !p.is_empty()) {
        let (name, list) = part
            .split_once('=')
            .ok_or_else(|| format!("{FDS_ENV}: `{part}` is not name=fds"))?;
        let name = ["http", "stream", "admin", "ready"]
            .into_iter()
            .find(|n| *n == name)
            .ok_or_else(|| format!("{FDS_ENV}: unknown group `{name}`"))?;
        let fds = list
            .split(',')
            .filter(|f| !f.is_empty())
            .map(|f| {
                f.parse::<RawFd>()
                    .map_err(|_| format!("{FDS_ENV}: `{f}` is not a descriptor"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push((name, fds));
    }
    Ok(out)
}

fn listener(fd: OwnedFd, kind: &str) -> Result<TcpListener, String> {
    activation::listener(fd).map_err(|e| format!("{FDS_ENV}: the {kind} descriptor: {e}"))
}

impl Inherited {
    /// What to do once every worker listens: tell the old process (over its pipe).
    pub fn take_ready(&mut self) -> Option<Box<dyn FnOnce() + Send>> {
        let mut ready = self.ready.take()?;
        Some(Box::new(move || {
            if let Err(e) = ready.write_all(b"ready\n") {
                tracing::error!("upgrade: cannot tell the old process we are ready: {e}");
            }
            tracing::info!("upgrade: serving on the inherited listeners; the old process drains");
        }))
    }
}

/// What a running server keeps to start its successor.
pub struct Handover {
    exe: PathBuf,
    args: Vec<OsString>,
    http: Vec<TcpListener>,
    stream: Vec<TcpListener>,
    admin: Option<TcpListener>,
    /// The backend this process's workers run on (set by the first worker to start).
    io: Arc<std::sync::OnceLock<ringwire_reactor::BackendKind>>,
}

impl Handover {
    /// Copies of the listeners (the same sockets) and this process's binary path and
    /// arguments, taken at start: the path then names the new binary once it is installed.
    pub fn new(
        http: &[TcpListener],
        stream: &[TcpListener],
        admin: Option<&TcpListener>,
        io: Arc<std::sync::OnceLock<ringwire_reactor::BackendKind>>,
    ) -> Result<Handover, String> {
        let copy = |l: &TcpListener| l.try_clone().map_err(|e| format!("upgrade: {e}"));
        Ok(Handover {
            exe: std::env::current_exe().map_err(|e| format!("upgrade: the binary's path: {e}"))?,
            args: std::env::args_os().skip(1).collect(),
            http: http.iter().map(copy).collect::<Result<_, _>>()?,
            stream: stream.iter().map(copy).collect::<Result<_, _>>()?,
            admin: admin.map(copy).transpose()?,
            io,
        })
    }

    /// The control core's hook.
    pub fn upgrader(self) -> ringwire_ops::upgrade::Upgrader {
        let this = Arc::new(self);
        Arc::new(move || this.spawn_successor())
    }

    fn spawn_successor(&self) -> Result<u32, String> {
        if std::process::id() == 1 {
            // The successor would be re-parented to this process and die with it.
            return Err("ringwire runs as PID 1 (no init in this container): its successor would end with it; restart instead, or run it under an init (docker run --init)".into());
        }
        let mut keep = Vec::new();
        let mut spec = String::new();
        let admin: Vec<&TcpListener> = self.admin.iter().collect();
        let groups: [(&str, Vec<&TcpListener>); 3] = [
            ("http", self.http.iter().collect()),
            ("stream", self.stream.iter().collect()),
            ("admin", admin),
        ];
        let io = |e: std::io::Error| format!("cannot pass a listener on: {e}");
        for (name, list) in groups {
            let mut fds = Vec::new();
            for l in list {
                let copy = activation::inheritable(l.as_fd()).map_err(io)?;
                fds.push(copy.as_raw_fd().to_string());
                keep.push(copy);
            }
            spec.push_str(&format!("{name}={};", fds.join(",")));
        }
        let (reader, pipe_writer) = activation::pipe().map_err(|e| format!("a pipe: {e}"))?;
        let reader = std::fs::File::from(reader);
        let writer = activation::inheritable(pipe_writer.as_fd()).map_err(io)?;
        drop(pipe_writer);
        spec.push_str(&format!("ready={}", writer.as_raw_fd()));
        match self.io.get() {
            Some(ringwire_reactor::BackendKind::Uring) => spec.push_str(";io=uring"),
            Some(ringwire_reactor::BackendKind::Poll) => spec.push_str(";io=epoll"),
            None => return Err("no worker has started yet".into()),
        }
        let mut cmd = Command::new(&self.exe);
        cmd.args(&self.args)
            .env(FDS_ENV, &spec)
            // systemd's watchdog names this process; the successor pings once it is the main
            // process (it keeps WATCHDOG_USEC).
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null());
        // Detached: re-parented to the service manager, whose own child it then is.
        let mut intermediate = activation::spawn_detached(&mut cmd)
            .map_err(|e| format!("cannot start {}: {e}", self.exe.display()))?;
        let _ = intermediate.wait();
        // Only the successor holds the pipe's write end now: its exit ends our read.
        drop(writer);
        drop(keep);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(reader).lines();
            while let Some(Ok(line)) = lines.next() {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        let mut pid = None;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => match line.split_once(' ') {
                    Some(("started", n)) => {
                        pid = n.parse::<u32>().ok();
                        tracing::info!("upgrade: started {} as process {}", self.exe.display(), n);
                    }
                    _ if line == "ready" => {
                        return pid.ok_or_else(|| "the new process never said its id".into());
                    }
                    _ => {}
                },
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let who = pid.map(|p| format!(" ({p})")).unwrap_or_default();
                    return Err(format!(
                        "the new process{who} ended before it was ready: see its log above"
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(p) = pid {
                        let _ =
                            ringwire_reactor::signal::send(p, ringwire_reactor::signal::SIGKILL);
                    }
                    return Err(format!(
                        "the new process was not ready within {READY_TIMEOUT:?}: stopped"
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_descriptor_list_parses_and_refuses_what_it_did_not_write() {
        let groups = parse("http=5,6;stream=;admin=9;ready=10").unwrap();
        assert_eq!(
            groups,
            vec![
                ("http", vec![5, 6]),
                ("stream", vec![]),
                ("admin", vec![9]),
                ("ready", vec![10])
            ]
        );
        assert!(
            parse("http=5;bogus=6")
                .unwrap_err()
                .contains("unknown group")
        );
        assert!(parse("http=x").unwrap_err().contains("not a descriptor"));
        assert!(parse("http").unwrap_err().contains("name=fds"));
    }
}
