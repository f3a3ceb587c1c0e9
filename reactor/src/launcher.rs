//! Thread-per-core: N worker threads, each pinned to a CPU and running its own runtime.
//!
//! Every core builds its runtime and reports back before any of them runs user code, so a
//! launch either starts all cores or none, with each failure named by core and CPU.

use crate::{Builder, Error, Handle, Selection};
use std::{future::Future, sync::mpsc, thread};

/// What a core's factory gets to know about the core it runs on.
#[derive(Debug, Clone)]
pub struct CoreInfo {
    /// Worker index, 0-based.
    pub index: usize,
    /// CPU it is pinned to, if pinning was asked for and took effect.
    pub cpu: Option<usize>,
    /// Why it runs unpinned although pinning was asked for (best-effort pinning only, see
    /// [`Launcher::pin_best_effort`]).
    pub unpinned: Option<String>,
    /// The backend its runtime got, and why.
    pub backend: Selection,
}

/// Configures a thread-per-core launch.
#[derive(Debug, Clone)]
pub struct Launcher {
    workers: usize,
    cpus: Option<Vec<usize>>,
    best_effort: bool,
    name: String,
    runtime: Builder,
}

impl Launcher {
    /// `workers` threads (at least one), unpinned, with default runtimes.
    pub fn new(workers: usize) -> Self {
        Launcher {
            workers: workers.max(1),
            cpus: None,
            best_effort: false,
            // `ringwire-w-0`, `ringwire-w-1`...: the core number fits Linux's 15 bytes, so
            // a profiler or `top -H` tells the cores apart.
            name: "ringwire-w".into(),
            runtime: Builder::default(),
        }
    }

    /// Pins worker `i` to `cpus[i % cpus.len()]`.
    pub fn cpus(mut self, cpus: Vec<usize>) -> Self {
        self.cpus = if cpus.is_empty() { None } else { Some(cpus) };
        self
    }

    /// When the environment forbids pinning (`EPERM`: a seccomp filter, a container's policy),
    /// run that core unpinned instead of failing the launch, with the reason in
    /// [`CoreInfo::unpinned`] and a warning in the log. Any other pinning error (a CPU that does
    /// not exist, say) still fails the launch. Off by default: pinning that was asked for
    /// explicitly is a startup error when it cannot be had.
    pub fn pin_best_effort(mut self, yes: bool) -> Self {
        self.best_effort = yes;
        self
    }

    /// Thread name prefix (`-<index>` is appended; a prefix too long for Linux's 15-byte
    /// thread names is shortened so that the index is kept).
    pub fn name(mut self, prefix: impl Into<String>) -> Self {
        self.name = prefix.into();
        self
    }

    /// The runtime every core builds.
    pub fn runtime(mut self, builder: Builder) -> Self {
        self.runtime = builder;
        self
    }

    /// Starts every core; each runs `factory(info)` to completion on its runtime.
    pub fn launch<F, Fut>(self, factory: F) -> Result<Cores<Fut::Output>, Error>
    where
        F: Fn(CoreInfo) -> Fut + Send + Clone + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        type Report = (usize, Handle, Selection, Option<usize>);
        let (report_tx, report_rx) = mpsc::channel::<Result<Report, Error>>();
        let mut threads = Vec::with_capacity(self.workers);
        let mut gos = Vec::with_capacity(self.workers);
        for index in 0..self.workers {
            let mut cpu = self.cpus.as_ref().map(|c| c[index % c.len()]);
            let best_effort = self.best_effort;
            let (go_tx, go_rx) = mpsc::channel::<bool>();
            gos.push(go_tx);
            let report = report_tx.clone();
            let builder = self.runtime.clone();
            let factory = factory.clone();
            let spawned = thread::Builder::new()
                .name(thread_name(&self.name, index))
                .spawn(move || {
                    let asked = cpu;
                    let fail = move |reason: String| Error::CoreStart {
                        core: index,
                        cpu: asked,
                        reason,
                    };
                    let mut unpinned = None;
                    if let Some(c) = cpu {
                        match pin(c) {
                            Ok(()) => {}
                            Err(e)
                                if best_effort
                                    && e.kind() == std::io::ErrorKind::PermissionDenied =>
                            {
                                let why = format!("cannot pin to cpu {c}: {e}");
                                tracing::warn!(
                                    core = index,
                                    "{why}: running unpinned (slower: the kernel may move this \
                                     worker between CPUs). Allow sched_setaffinity (systemd: \
                                     SystemCallFilter=sched_setaffinity) or set --cpus to \
                                     make pinning a startup requirement"
                                );
                                unpinned = Some(why);
                                cpu = None;
                            }
                            Err(e) => {
                                let _ =
                                    report.send(Err(fail(format!("cannot pin to cpu {c}: {e}"))));
                                return None;
                            }
                        }
                    }
                    let rt = match builder.build() {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = report.send(Err(fail(e.to_string())));
                            return None;
                        }
                    };
                    let backend = rt.backend().clone();
                    let _ = report.send(Ok((index, rt.handle(), backend.clone(), cpu)));
                    drop(report);
                    if !go_rx.recv().unwrap_or(false) {
                        return None;
                    }
                    Some(rt.block_on(factory(CoreInfo {
                        index,
                        cpu,
                        unpinned,
                        backend,
                    })))
                });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    return Err(Error::CoreStart {
                        core: index,
                        cpu,
                        reason: format!("cannot spawn thread: {e}"),
                    });
                }
            }
        }
        drop(report_tx);
        let mut handles: Vec<Option<(Handle, Selection, Option<usize>)>> = vec![None; self.workers];
        let mut failures = Vec::new();
        for report in report_rx.iter().take(self.workers) {
            match report {
                Ok((i, h, s, c)) => handles[i] = Some((h, s, c)),
                Err(e) => failures.push(e),
            }
        }
        let ok = failures.is_empty() && handles.iter().all(Option::is_some);
        for go in &gos {
            let _ = go.send(ok);
        }
        if !ok {
            for t in threads {
                let _ = t.join();
            }
            return Err(failures
                .into_iter()
                .next()
                .unwrap_or_else(|| Error::CoreStart {
                    core: 0,
                    cpu: None,
                    reason: "a worker exited before reporting".into(),
                }));
        }
        let mut cores = Cores {
            threads,
            handles: Vec::with_capacity(self.workers),
            selections: Vec::with_capacity(self.workers),
            pinned: Vec::with_capacity(self.workers),
        };
        for (h, s, c) in handles.into_iter().flatten() {
            cores.handles.push(h);
            cores.selections.push(s);
            cores.pinned.push(c);
        }
        Ok(cores)
    }
}

/// Pins the calling thread to `cpu` (Linux; elsewhere a warning and no effect).
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    pin(cpu)
}

#[cfg(target_os = "linux")]
fn pin(cpu: usize) -> std::io::Result<()> {
    crate::sys::unix::pin_current_thread(cpu)
}

#[cfg(not(target_os = "linux"))]
fn pin(_cpu: usize) -> std::io::Result<()> {
    tracing::warn!("CPU pinning is only implemented on Linux; thread left unpinned");
    Ok(())
}

/// Running cores.
pub struct Cores<T> {
    threads: Vec<thread::JoinHandle<Option<T>>>,
    handles: Vec<Handle>,
    selections: Vec<Selection>,
    pinned: Vec<Option<usize>>,
}

impl<T> Cores<T> {
    /// The CPU each core is pinned to, by index (`None`: unpinned).
    pub fn pinned(&self) -> &[Option<usize>] {
        &self.pinned
    }

    /// One handle per core, by index: send closures to a core or wake it.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// The backend of each core, by index.
    pub fn backends(&self) -> &[Selection] {
        &self.selections
    }

    /// Waits for every core's factory future to finish; a panicked core yields `Err`.
    pub fn join(self) -> Vec<Result<T, String>> {
        self.threads
            .into_iter()
            .enumerate()
            .map(|(i, t)| match t.join() {
                Ok(Some(v)) => Ok(v),
                Ok(None) => Err(format!("worker {i} did not start")),
                Err(_) => Err(format!("worker {i} panicked")),
            })
            .collect()
    }
}

/// Parses a CPU list such as `0-3,8,10-11` (the `taskset`/cgroup syntax).
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, Error> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || Error::CpuList(format!("{part:?} in {s:?} is not a CPU number or range"));
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if a > b {
                    return Err(Error::CpuList(format!("range {part:?} runs backwards")));
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    if out.is_empty() {
        return Err(Error::CpuList(format!("{s:?} names no CPU")));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = out.iter().find(|c| !seen.insert(**c)) {
        return Err(Error::CpuList(format!(
            "cpu {dup} is listed twice in {s:?}"
        )));
    }
    Ok(out)
}

/// The CPUs this process may run on (its affinity mask), in order.
pub fn available_cpus() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    if let Ok(cpus) = crate::sys::unix::allowed_cpus() {
        if !cpus.is_empty() {
            return cpus;
        }
    }
    (0..thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1))
        .collect()
}

/// Linux keeps 15 bytes of a thread's name (`TASK_COMM_LEN` less the NUL).
const THREAD_NAME_MAX: usize = 15;

/// `prefix-index`, the prefix shortened where the whole would not fit [`THREAD_NAME_MAX`]
/// (the kernel would cut the index off, and every core would show under one name).
fn thread_name(prefix: &str, index: usize) -> String {
    let suffix = format!("-{index}");
    let mut keep = THREAD_NAME_MAX
        .saturating_sub(suffix.len())
        .min(prefix.len());
    while !prefix.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &prefix[..keep])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_names_keep_the_core_index_within_15_bytes() {
        assert_eq!(thread_name("ringwire-w", 0), "ringwire-w-0");
        assert_eq!(thread_name("ringwire-w", 1023), "ringwire-w-1023");
        assert_eq!(thread_name("ringwire-worker", 3), "ringwire-work-3");
        assert_eq!(thread_name("ringwire-worker", 12), "ringwire-wor-12");
        assert_eq!(thread_name("bench-core", 1), "bench-core-1");
        // Never cut inside a character.
        assert_eq!(thread_name("ringwire-wörker", 1), "ringwire-wör-1");
        for i in [0, 9, 10, 999, 123_456] {
            assert!(thread_name(Launcher::new(1).name.as_str(), i).len() <= THREAD_NAME_MAX);
        }
    }

    #[test]
    fn parses_cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8").unwrap(), vec![0, 1, 2, 3, 8]);
        assert_eq!(parse_cpu_list(" 1 ").unwrap(), vec![1]);
        assert!(
            parse_cpu_list("3-1")
                .unwrap_err()
                .to_string()
                .contains("backwards")
        );
        assert!(
            parse_cpu_list("1,1")
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        assert!(parse_cpu_list("a").is_err());
        assert!(parse_cpu_list("").is_err());
    }
}
