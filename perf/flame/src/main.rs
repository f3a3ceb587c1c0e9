//! `ringwire-flame`: turns `perf script` text into a flamegraph SVG and prints where the CPU
//! time went. Folding and drawing are inferno's (`collapse::perf`, `flamegraph`); this tool
//! only chooses their options and summarises the folded stacks.
//!
//! ```text
//! perf script -i perf.data | ringwire-flame --svg out.svg --title "plaintext-64, io_uring"
//! ```

mod summary;

use std::{
    fs,
    io::{self, Read},
    path::PathBuf,
    process::ExitCode,
};

use clap::Parser;
use inferno::collapse::{
    Collapse,
    perf::{Folder, Options as CollapseOptions},
};
use inferno::flamegraph::{
    self,
    color::{MultiPalette, Palette},
};

/// Flamegraph SVG and self-time summary from `perf script` output.
#[derive(Parser)]
struct Args {
    /// `perf script` output; `-` reads standard input.
    #[arg(long, default_value = "-")]
    input: PathBuf,
    /// Where to write the SVG.
    #[arg(long)]
    svg: PathBuf,
    /// Also keep the folded stacks (for `inferno-diff-folded` between two runs).
    #[arg(long)]
    folded: Option<PathBuf>,
    /// Title drawn at the top of the SVG.
    #[arg(long, default_value = "ringwire")]
    title: String,
    /// Second line under the title (the command, the machine).
    #[arg(long)]
    subtitle: Option<String>,
    /// File name of the profiled executable: its samples count as "ours" in the shares.
    #[arg(long, default_value = "ringwire")]
    binary: String,
    /// Cut every stack above this frame, so all worker threads share one root even where
    /// unwinding through libc's thread start failed. Empty keeps whole stacks.
    #[arg(
        long,
        default_value = "std::sys::backtrace::__rust_begin_short_backtrace"
    )]
    root_at: String,
    /// How many user-space symbols to list by self time.
    #[arg(long, default_value_t = 15)]
    top_user: usize,
    /// How many kernel symbols to list by self time.
    #[arg(long, default_value_t = 10)]
    top_kernel: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringwire-flame: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> io::Result<()> {
    let mut text = String::new();
    if args.input.as_os_str() == "-" {
        io::stdin().read_to_string(&mut text)?;
    } else {
        // perf may print symbol names that are not valid UTF-8; a lossy read keeps the rest.
        text = String::from_utf8_lossy(&fs::read(&args.input)?).into_owned();
    }

    let folded = collapse(&text, &args.root_at)?;
    let stacks = summary::parse_folded(&folded);
    let total: u64 = stacks.iter().map(|s| s.count).sum();
    if total == 0 {
        // An empty SVG looks like a profile of nothing; refuse instead.
        return Err(io::Error::other(
            "no samples with stacks in the input: was perf allowed to record, and did the \
             process run on the recorded CPU?",
        ));
    }
    if let Some(path) = &args.folded {
        fs::write(path, &folded)?;
    }

    let mut opt = flamegraph::Options::default();
    opt.title.clone_from(&args.title);
    opt.subtitle.clone_from(&args.subtitle);
    opt.colors = Palette::Multi(MultiPalette::Rust);
    if timer_event(&text) {
        // A software clock event's period is nanoseconds of CPU time: show milliseconds.
        opt.factor = 1e-6;
        opt.count_name = "ms of CPU".into();
    } else {
        opt.count_name = "events".into();
    }
    // Same name, same colour, so two flamegraphs can be compared by eye.
    opt.hash = true;
    let svg = fs::File::create(&args.svg)?;
    flamegraph::from_lines(&mut opt, folded.lines(), io::BufWriter::new(svg))?;

    let shares = summary::shares_by_object(&text, &args.binary);
    print!(
        "{}",
        summary::report(&stacks, &shares, args.top_user, args.top_kernel)
    );
    Ok(())
}

/// Folds `perf script` text with inferno; kernel frames get inferno's `_[k]` suffix, which
/// is how the summary tells kernel time from user time.
fn collapse(text: &str, root_at: &str) -> io::Result<String> {
    let mut opt = CollapseOptions::default();
    opt.annotate_kernel = true;
    if !root_at.is_empty() {
        opt.skip_after = vec![root_at.to_string()];
    }
    let mut out = Vec::new();
    Folder::from(opt).collapse(text.as_bytes(), &mut out)?;
    String::from_utf8(out).map_err(io::Error::other)
}

/// Whether the samples come from `cpu-clock` or `task-clock`, read from the first sample's
/// header line (`comm pid [cpu] time: period event:`).
fn timer_event(perf_script: &str) -> bool {
    perf_script
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with(char::is_whitespace) && !l.starts_with('#'))
        .is_some_and(|l| l.contains(" cpu-clock:") || l.contains(" task-clock:"))
}
