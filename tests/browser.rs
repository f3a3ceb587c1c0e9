//! A real browser's `EventSource` against `GET /channels/{name}/events`: headless Chromium
//! (Debian's `chromium` package, installed by `scripts/test`) loads a page from the server, the
//! page subscribes, a message is published with curl, and the page reports what it saw.
//!
//! Where Chromium is missing the test prints `SKIPPED: <why>` and passes, unless
//! `RINGWIRE_REQUIRE_CHROMIUM=1` (set by `.ci/run`) makes that a failure.

mod util;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use util::{Server, curl, sse::Sse};

/// Everything the browser does is bounded by this (a cold Chromium start on a loaded machine
/// can take many seconds).
const BOUND: Duration = Duration::from_secs(60);

/// The page: subscribes to `t.x` and reports `open` and each message's
/// `lastEventId + ':' + data` (and errors, for diagnosis) to the ephemeral channel `seen.x`.
const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>ringwire EventSource test</title>
<pre id="log"></pre>
<script>
const log = document.getElementById('log');
function report(text) {
  log.textContent += text + '\n';
  fetch('/channels/seen.x', { method: 'POST', body: text });
}
const events = new EventSource('/channels/t.x/events');
events.addEventListener('open', () => report('open'));
events.addEventListener('message', (e) => report(e.lastEventId + ':' + e.data));
events.addEventListener('error', () => report('error (readyState ' + events.readyState + ')'));
</script>
"#;

/// The Chromium to run, or why there is none.
fn chromium() -> Result<String, String> {
    let program = std::env::var("RINGWIRE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    match Command::new(&program).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(program),
        Ok(out) => Err(format!(
            "`{program} --version` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!(
            "no `{program}` to run ({e}); scripts/test installs it"
        )),
    }
}

/// A browser in a process group of its own: the whole group (renderers, GPU and network
/// processes) is killed when this is dropped, whatever the test's outcome.
struct Browser {
    child: Child,
    log: PathBuf,
}

impl Browser {
    fn start(program: &str, profile: &Path, url: &str, log: PathBuf) -> Browser {
        use std::os::unix::process::CommandExt;
        let out = fs::File::create(&log).unwrap();
        let child = Command::new(program)
            .args([
                "--headless=new",
                // Root (CI containers) cannot use Chromium's sandbox.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("start chromium");
        Browser { child, log }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The group's id is the leader's pid (process_group(0)); only our own processes.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

both_backends! {
    fn eventsource_in_headless_chromium(io) {
        let program = match chromium() {
            Ok(program) => program,
            Err(why) if std::env::var_os("RINGWIRE_REQUIRE_CHROMIUM").is_some_and(|v| v == "1") => {
                panic!("RINGWIRE_REQUIRE_CHROMIUM=1 but {why}")
            }
            Err(why) => {
                eprintln!("SKIPPED: {why}");
                return;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let (root, profile) = (dir.path().join("root"), dir.path().join("profile"));
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("page.html"), PAGE).unwrap();
        let root_arg = root.to_str().unwrap();
        let s = Server::start(io, &["--workers", "2", "--root", root_arg, "--durable", "t.*"]);

        // What the page reports, over SSE as well.
        let mut seen = Sse::subscribe(&s, "/channels/seen.x/events", &[]);
        seen.set_wait(BOUND);
        let browser = Browser::start(&program, &profile, &s.url("/static/page.html"), dir.path().join("chromium.log"));
        let end = Instant::now() + BOUND;
        let mut reports = Vec::new();
        let mut wait_for = |want: &str, reports: &mut Vec<String>| loop {
            assert!(
                Instant::now() < end,
                "no {want:?} from the page within {BOUND:?}; it reported {reports:?}\nchromium:\n{}\nserver:\n{}",
                browser.log(),
                s.log()
            );
            let Some(block) = seen.block() else {
                panic!("the seen.x stream ended; page reported {reports:?}\n{}", s.log())
            };
            if let Some(data) = block.data {
                reports.push(data.clone());
                // Anything else (an error, a reconnect, a message without its id) is a failure.
                assert_eq!(data, want, "the page reported {reports:?}\n{}", s.log());
                return;
            }
        };
        // The page is subscribed once its EventSource opened.
        wait_for("open", &mut reports);
        let (body, code) = curl(&["-X", "POST", "--data-binary", "hello", &s.url("/channels/t.x")]);
        assert_eq!(code, 0, "curl failed\n{}", s.log());
        let answer: serde_json::Value = serde_json::from_slice(&body).expect("JSON from the publish");
        assert_eq!(answer, serde_json::json!({"channel": "t.x", "seq": 1}));
        // The browser got it with its sequence as the event id.
        wait_for("1:hello", &mut reports);
    }
}
