//! Where the samples went: shares by object (kernel, the profiled binary, libc, ...) from the
//! `perf script` text, and the top symbols by self time from inferno's folded stacks.

use std::{collections::HashMap, fmt::Write, path::Path};

/// One folded stack (`root;...;leaf count`) and how many samples ended in it.
#[derive(Debug, PartialEq)]
pub struct Stack<'a> {
    pub frames: &'a str,
    pub count: u64,
}

impl<'a> Stack<'a> {
    /// The innermost frame: where the CPU was when the sample was taken (self time).
    pub fn leaf(&self) -> &'a str {
        self.frames.rsplit(';').next().unwrap_or(self.frames)
    }
}

/// Inferno's suffix for a frame in a kernel object.
const KERNEL: &str = "_[k]";

pub fn parse_folded(folded: &str) -> Vec<Stack<'_>> {
    folded
        .lines()
        .filter_map(|line| {
            let (frames, count) = line.trim_end().rsplit_once(' ')?;
            Some(Stack {
                frames,
                count: count.parse().ok()?,
            })
        })
        .collect()
}

/// Samples per object of the leaf frame, largest first. perf prints a frame inlined into its
/// caller with the object `(inlined)`; the object is that of the first real frame below it.
pub fn shares_by_object(perf_script: &str, binary: &str) -> Vec<(String, u64)> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut placed = true;
    for line in perf_script.lines() {
        if line.trim().is_empty() {
            placed = true;
        } else if !line.starts_with(char::is_whitespace) {
            // A sample's header line (comm, pid, time, event); its frames follow.
            placed = false;
        } else if !placed {
            let Some(module) = module_of(line) else {
                continue;
            };
            if module == "inlined" {
                continue;
            }
            *counts.entry(object_name(module, binary)).or_default() += 1;
            placed = true;
        }
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// The object of a frame line, `    addr symbol+0x12 (object)`: the last word, in parentheses.
fn module_of(line: &str) -> Option<&str> {
    let (_, last) = line.trim_end().rsplit_once(' ')?;
    last.strip_prefix('(')?.strip_suffix(')')
}

fn object_name(module: &str, binary: &str) -> String {
    // The vDSO is kernel-provided code that runs in user mode (clock_gettime).
    if module == "[vdso]" || module == "[unknown]" {
        return module.to_string();
    }
    if module.starts_with('[') || module.ends_with(".ko") {
        return "kernel".to_string();
    }
    let name = Path::new(module)
        .file_name()
        .map_or(module.into(), |n| n.to_string_lossy());
    if name == binary {
        format!("{binary} (incl. its statically linked Rust std and crates)")
    } else {
        name.into_owned()
    }
}

/// Self time per symbol, split into (user space, kernel), each largest first.
pub type SelfTime<'a> = Vec<(&'a str, u64)>;

/// With inlined frames shown, the leaf is often a one-line helper of core or std (`ptr::read`,
/// an atomic); charging it to the first frame outside the standard library names the code
/// that asked for the work.
fn is_std(frame: &str) -> bool {
    let f = frame.trim_start_matches('<');
    ["core::", "std::", "alloc::"]
        .iter()
        .any(|p| f.starts_with(p))
}

/// Self time by leaf frame, and (for user space) by the first frame outside core/std/alloc.
pub fn self_time<'a>(
    stacks: &[Stack<'a>],
    charge_std_to_caller: bool,
) -> (SelfTime<'a>, SelfTime<'a>) {
    let mut user: HashMap<&str, u64> = HashMap::new();
    let mut kernel: HashMap<&str, u64> = HashMap::new();
    for s in stacks {
        let leaf = s.leaf();
        if let Some(name) = leaf.strip_suffix(KERNEL) {
            *kernel.entry(name).or_default() += s.count;
            continue;
        }
        let name = if charge_std_to_caller {
            // The root frame is the thread's name (or the cut-off frame), never a caller.
            let callers = s.frames.split_once(';').map_or("", |(_, rest)| rest);
            callers
                .rsplit(';')
                .find(|f| !f.is_empty() && !is_std(f))
                .unwrap_or(leaf)
        } else {
            leaf
        };
        *user.entry(name).or_default() += s.count;
    }
    (sorted(user), sorted(kernel))
}

fn sorted<'a>(m: HashMap<&'a str, u64>) -> SelfTime<'a> {
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    v
}

/// The printed summary. Folded counts are perf's sample periods (nanoseconds for
/// `cpu-clock`), so every figure is a share of the total rather than a count.
pub fn report(
    stacks: &[Stack<'_>],
    shares: &[(String, u64)],
    top_user: usize,
    top_kernel: usize,
) -> String {
    let total: u64 = stacks.iter().map(|s| s.count).sum();
    let pct = |n: u64, of: u64| 100.0 * n as f64 / of.max(1) as f64;
    let (user, kernel) = self_time(stacks, false);
    let (user_by_caller, _) = self_time(stacks, true);
    let user_total: u64 = user.iter().map(|(_, n)| n).sum();
    let samples: u64 = shares.iter().map(|(_, n)| n).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{samples} samples: user space {:.1} %, kernel {:.1} % (by the leaf frame)",
        pct(user_total, total),
        pct(total - user_total, total)
    );
    let _ = writeln!(out, "\nshare by object of the leaf frame:");
    for (name, n) in shares {
        let _ = writeln!(out, "  {:5.1} %  {name}", pct(*n, samples));
    }
    for (title, list, n) in [
        ("user-space symbols by self time", &user, top_user),
        (
            "user-space functions by self time, inlined core/std/alloc helpers charged to their caller",
            &user_by_caller,
            top_user,
        ),
        ("kernel symbols by self time", &kernel, top_kernel),
    ] {
        let _ = writeln!(out, "\ntop {n} {title}:");
        for (name, count) in list.iter().take(n) {
            let _ = writeln!(out, "  {:5.1} %  {name}", pct(*count, total));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "\
ringwire-w-0 15106 [001]  7099.096255:    1001001 cpu-clock: 
\t           a6926 ringwire_net::conn::burst::{{closure}}+0x5786 (inlined)
\t           a6926 ringwire_net::conn::run::{{closure}}+0x5786 (/t/profiling/ringwire)

ringwire-w-0 15106 [001]  7099.097255:    1001001 cpu-clock: 
\tffffffff81b6c5ec _copy_from_iter+0x8c ([kernel.kallsyms])
\t          101829 syscall+0x19 (/usr/lib/x86_64-linux-gnu/libc.so.6)

ringwire-w-0 15106 [001]  7099.098255:    1001001 cpu-clock: 
\t          101829 syscall+0x19 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t           a6926 ringwire_net::conn::run::{{closure}}+0x5786 (/t/profiling/ringwire)
";

    #[test]
    fn shares_follow_the_leaf_past_inlined_frames() {
        let shares = shares_by_object(SCRIPT, "ringwire");
        let names: Vec<_> = shares.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        assert_eq!(
            names,
            [
                ("kernel", 1),
                ("libc.so.6", 1),
                (
                    "ringwire (incl. its statically linked Rust std and crates)",
                    1
                ),
            ]
        );
    }

    #[test]
    fn self_time_splits_kernel_frames_by_inferno_suffix() {
        let folded = "w;a;b 3\nw;a;tcp_sendmsg_[k] 5\nw;b 2\nnot a stack line\n";
        let stacks = parse_folded(folded);
        assert_eq!(stacks.len(), 3);
        let (user, kernel) = self_time(&stacks, false);
        assert_eq!(user, [("b", 5)]);
        assert_eq!(kernel, [("tcp_sendmsg", 5)]);
        let text = report(&stacks, &[("kernel".into(), 2)], 15, 10);
        assert!(text.starts_with("2 samples: user space 50.0 %, kernel 50.0 %"));
    }

    #[test]
    fn std_helpers_are_charged_to_the_first_caller_outside_std() {
        let folded = "w;app::run;app::parse;core::ptr::read 4\nw;app::run;<core::slice::Iter<T>>::next 1\nw;core::x 1\n";
        let (user, _) = self_time(&parse_folded(folded), true);
        assert_eq!(user, [("app::parse", 4), ("app::run", 1), ("core::x", 1)]);
    }
}
