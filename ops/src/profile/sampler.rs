//! The sampling itself, on a helper thread (never on a reactor): arms pprof's SIGPROF timer
//! for the whole process, sleeps, symbolizes the samples into folded stacks, disarms, and
//! renders the SVG with inferno.
//!
//! `setitimer(ITIMER_PROF)` counts the CPU time of every thread of the process and the
//! kernel sends SIGPROF to a thread that is running, so every worker core and the control core
//! are sampled in proportion to the CPU they use. Between profiles there is no timer and
//! SIGPROF is ignored: sampling costs nothing then. The handler is installed with
//! `SA_RESTART`; the calls a signal still interrupts (`epoll_wait`, `io_uring_enter`) are
//! retried by the reactors (`EINTR` is a wake-up there).

use super::params::Params;
use pprof::{ProfilerGuardBuilder, flamegraph};
use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

/// Samples whose interrupted instruction lies in these libraries are dropped rather than
/// unwound: inside the unwinder itself (a panic unwinding) a second unwind from the signal
/// handler could deadlock on its locks. libc stays, so time in system calls is seen. (Naming
/// the vDSO or the dynamic loader here was seen to drop every sample, executable included:
/// `samples_every_thread_and_symbolizes` fails with them.)
const BLOCKLIST: &[&str] = &["libgcc_s"];

/// A finished profile, ready to send.
pub(crate) struct Profile {
    /// `image/svg+xml` or `text/plain; charset=utf-8`.
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
}

/// Profiles the process for `p.seconds` and renders it. Blocks the calling thread for that
/// long: call it on a thread of its own. `Err` is for the log, not for the client.
pub(crate) fn run(p: Params) -> Result<Profile, String> {
    let guard = ProfilerGuardBuilder::default()
        .frequency(p.hz as i32)
        .blocklist(BLOCKLIST)
        .build()
        .map_err(|e| format!("cannot start the profiler: {e}"))?;
    std::thread::sleep(Duration::from_secs(p.seconds));
    // Built while sampling still runs (the samples live in the guard); the build holds the
    // profiler's lock, so the handler skips the samples that fall into it.
    let report = guard.report().build();
    // Disarms the timer and sets SIGPROF back to ignored.
    drop(guard);
    let report = report.map_err(|e| format!("cannot read the samples: {e}"))?;
    let mut stacks: BTreeMap<String, u64> = BTreeMap::new();
    for (frames, count) in &report.data {
        if let (Some(line), Ok(n @ 1..)) = (fold(frames), u64::try_from(*count)) {
            *stacks.entry(line).or_default() += n;
        }
    }
    let lines: Vec<String> = stacks.iter().map(|(s, n)| format!("{s} {n}")).collect();
    if p.folded {
        let mut body = lines.join("\n");
        if !body.is_empty() {
            body.push('\n');
        }
        return Ok(Profile {
            content_type: "text/plain; charset=utf-8",
            body: body.into_bytes(),
        });
    }
    let samples: u64 = stacks.values().sum();
    let threads = stacks
        .keys()
        .filter_map(|s| s.split(';').next())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let title = format!(
        "ringwire CPU profile: all cores (workers and control), {} s at {} Hz",
        p.seconds, p.hz
    );
    let body = if lines.is_empty() {
        empty_svg(&title, p.seconds)
    } else {
        let mut opts = flamegraph::Options::default();
        opts.title = title;
        opts.subtitle = Some(format!(
            "{samples} samples from {threads} threads, sampled in-process on CPU time (SIGPROF)"
        ));
        let mut out = Vec::new();
        flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), &mut out)
            .map_err(|e| format!("cannot render the flamegraph: {e}"))?;
        out
    };
    Ok(Profile {
        content_type: "image/svg+xml",
        body,
    })
}

/// One sample as a folded stack, root first: `thread;outermost;...;innermost`. The unwinder's
/// own frames (the signal handler's side of the stack) are left out; `None` when nothing is
/// left.
fn fold(frames: &pprof::Frames) -> Option<String> {
    // frames.frames[0] is the innermost frame: skip the unwinder's frames there.
    let start = frames
        .frames
        .iter()
        .position(|f| !f.iter().all(|s| is_sampler_frame(&s.name())))?;
    let mut line = clean(&frames.thread_name_or_id());
    for frame in frames.frames[start..].iter().rev() {
        // Inlined functions come innermost first within a frame.
        for symbol in frame.iter().rev() {
            line.push(';');
            let _ = write!(line, "{}", clean(&symbol.name()));
        }
    }
    Some(line)
}

/// Frames of the sampler itself, at the top of every stack the handler walks.
fn is_sampler_frame(name: &str) -> bool {
    [
        "backtrace::",
        "pprof::",
        "<pprof::",
        "_Unwind_",
        "perf_signal_handler",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// A frame name that cannot break a folded line: `;` separates frames (`[u8; 4]` has one)
/// and the count follows the last space of a line, so line breaks go too.
fn clean(name: &str) -> String {
    name.replace(';', ",").replace(['\n', '\r'], " ")
}

/// The answer when no CPU time was sampled (an idle server): inferno refuses empty input.
fn empty_svg(title: &str, seconds: u64) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" standalone=\"no\"?>\n\
         <svg version=\"1.1\" width=\"1200\" height=\"80\" xmlns=\"http://www.w3.org/2000/svg\">\
         <text x=\"600\" y=\"24\" text-anchor=\"middle\" font-size=\"17\">{title}</text>\
         <text x=\"600\" y=\"56\" text-anchor=\"middle\" font-size=\"12\">0 samples: the process \
         used no CPU time in {seconds} s</text></svg>\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_break_a_line() {
        assert_eq!(clean("<[u8; 4] as Debug>::fmt"), "<[u8, 4] as Debug>::fmt");
        assert_eq!(clean("a\nb"), "a b");
    }

    #[test]
    fn the_sampler_frames_are_recognized() {
        assert!(is_sampler_frame(
            "backtrace::backtrace::trace_unsynchronized"
        ));
        assert!(is_sampler_frame(
            "<pprof::backtrace::backtrace_rs::Trace>::trace"
        ));
        assert!(!is_sampler_frame("ringwire_net::server::serve_http"));
    }

    #[test]
    fn an_idle_profile_is_still_an_svg() {
        let svg = String::from_utf8(empty_svg("t", 2)).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg") && svg.ends_with("</svg>\n"));
    }

    #[inline(never)]
    fn spin_for_the_profiler(stop: &std::sync::atomic::AtomicBool) -> u64 {
        // Bounded, should the test never say stop.
        let end = std::time::Instant::now() + Duration::from_secs(60);
        let mut x = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) && std::time::Instant::now() < end {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        x
    }

    /// A real profile of this test process: a busy thread's function is in the folded stacks,
    /// under the thread's name, with no unwinder frames on top.
    #[test]
    fn samples_every_thread_and_symbolizes() {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        // Busy from before sampling starts (after the symbol tables load) until it ends.
        let busy = std::thread::Builder::new()
            .name("busy-test".into())
            .spawn(move || spin_for_the_profiler(&flag))
            .unwrap();
        let p = Params {
            seconds: 1,
            hz: 250,
            folded: true,
        };
        let profile = run(p);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        busy.join().unwrap();
        let profile = profile.unwrap();
        assert_eq!(profile.content_type, "text/plain; charset=utf-8");
        let text = String::from_utf8(profile.body).unwrap();
        let mut busy_samples = 0;
        for line in text.lines() {
            let (stack, n) = line.rsplit_once(' ').expect(line);
            let n: u64 = n.parse().expect(line);
            let innermost = stack.rsplit(';').next().unwrap();
            assert!(n > 0 && !is_sampler_frame(innermost), "{line}");
            assert!(!stack.contains("perf_signal_handler"), "{line}");
            if stack.starts_with("busy-test;") && stack.contains("spin_for_the_profiler") {
                busy_samples += n;
            }
        }
        assert!(busy_samples > 0, "no sample of the busy thread:\n{text}");
    }
}
