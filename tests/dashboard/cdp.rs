//! Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
//! NUL-terminated JSON messages, read from fd 3, written to fd 4). The pipes are two FIFOs
//! that a shell hands to Chromium as fds 3 and 4, so the test needs no `unsafe` fd juggling.

use serde_json::{Value, json};
use std::{
    fs::{self, File, OpenOptions},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc::{Receiver, channel},
    thread,
    time::{Duration, Instant},
};

/// Every DevTools call is bounded by this (a loaded machine can be slow).
pub const BOUND: Duration = Duration::from_secs(60);

/// How long a starting Chromium may take to create the page before it is started again.
const START: Duration = Duration::from_secs(45);

/// The Chromium to run, or why there is none (`RINGWIRE_CHROMIUM` overrides the program).
pub fn chromium() -> Result<String, String> {
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

/// One page in a headless Chromium (its own process group, killed when this is dropped).
pub struct Page {
    child: Child,
    to: File,
    replies: Receiver<Value>,
    next: u64,
    session: String,
    log: PathBuf,
}

impl Page {
    /// Starts Chromium with a window of `width`×`height` and opens `url` in a page. A start
    /// that does not answer within [`START`] is killed and tried once more (a cold start on a
    /// machine busy with builds has been seen to stall).
    pub fn open(program: &str, dir: &Path, url: &str, (width, height): (u32, u32)) -> Page {
        let t = Instant::now();
        let (mut page, target) = match Page::launch(program, &dir.join("1"), url, width, height) {
            (page, Ok(target)) => (page, target),
            (page, Err(why)) => {
                eprintln!("chromium: {why}; starting it again\n{}", page.log());
                drop(page);
                match Page::launch(program, &dir.join("2"), url, width, height) {
                    (page, Ok(target)) => (page, target),
                    (page, Err(why)) => panic!("chromium: {why}\n{}", page.log()),
                }
            }
        };
        eprintln!("chromium answered after {:?}", t.elapsed());
        let attached = page.call(
            "Target.attachToTarget",
            json!({ "targetId": target, "flatten": true }),
        );
        page.session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_string();
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
        page
    }

    /// Starts Chromium in `dir` and creates the page: the page and its target id (or why not).
    fn launch(
        program: &str,
        dir: &Path,
        url: &str,
        width: u32,
        height: u32,
    ) -> (Page, Result<String, String>) {
        use std::os::unix::process::CommandExt;
        fs::create_dir_all(dir).unwrap();
        let (input, output, log) = (
            dir.join("cdp-in"),
            dir.join("cdp-out"),
            dir.join("chromium.log"),
        );
        for fifo in [&input, &output] {
            let ok = Command::new("mkfifo").arg(fifo).status().expect("mkfifo");
            assert!(ok.success(), "mkfifo {}", fifo.display());
        }
        let err = File::create(&log).unwrap();
        // `<>` opens a FIFO without waiting for the other end.
        let child = Command::new("bash")
            .args([
                "-c",
                r#"exec "$0" "$@" 3<>"$CDP_IN" 4<>"$CDP_OUT""#,
                program,
            ])
            .args([
                "--headless",
                // Root (CI containers) cannot use Chromium's sandbox.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
                "--hide-scrollbars",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg("about:blank")
            .env("CDP_IN", &input)
            .env("CDP_OUT", &output)
            .stdin(Stdio::null())
            .stdout(err.try_clone().unwrap())
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("start chromium");
        let rw = |p: &Path| OpenOptions::new().read(true).write(true).open(p).unwrap();
        let (to, from) = (rw(&input), rw(&output));
        let (tx, replies) = channel();
        thread::spawn(move || {
            let mut from = BufReader::new(from);
            let mut message = Vec::new();
            while from.read_until(0, &mut message).is_ok_and(|n| n > 0) {
                message.pop();
                if let Ok(v) = serde_json::from_slice::<Value>(&message) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
                message.clear();
            }
        });
        let mut page = Page {
            child,
            to,
            replies,
            next: 0,
            session: String::new(),
            log,
        };
        let target = page
            .try_call("Target.createTarget", json!({ "url": url }), START)
            .map(|t| t["targetId"].as_str().expect("a target id").to_string());
        (page, target)
    }

    /// Chromium's own output, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Calls `method` (on the page once attached) and returns its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params, BOUND)
            .unwrap_or_else(|why| panic!("{why}\nchromium:\n{}", self.log()))
    }

    fn try_call(&mut self, method: &str, params: Value, bound: Duration) -> Result<Value, String> {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = self.session.clone().into();
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        let end = Instant::now() + bound;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let Ok(reply) = self.replies.recv_timeout(left) else {
                return Err(format!("no answer to {method} within {bound:?}"));
            };
            if reply["id"] != id {
                continue; // an event
            }
            if let Some(error) = reply.get("error") {
                return Err(format!("{method}: {error}"));
            }
            return Ok(reply["result"].clone());
        }
    }

    /// The value of the JavaScript expression `js` in the page.
    pub fn eval(&mut self, js: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": js, "returnByValue": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{js}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// A PNG of the page as it is shown.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        base64(r["data"].as_str().expect("screenshot data"))
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // The group's id is the leader's pid (process_group(0)); only our own processes.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// Standard base64 (with padding), as DevTools sends binary data.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for chunk in text.trim_end_matches('=').as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= u32::from(value(*c)) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn base64_decodes() {
    assert_eq!(base64("aGVsbG8="), b"hello");
    assert_eq!(base64("aGk="), b"hi");
    assert_eq!(base64("YWJj"), b"abc");
}
