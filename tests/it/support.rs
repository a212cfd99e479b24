//! What the test modules share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tokenconf");

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch root per test module under cargo's temporary folder, so modules that pick the same
/// folder names never share one.
pub fn tmp(module: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(module.replace("::", "-"));
    std::fs::create_dir_all(&dir).expect("cargo's temporary folder is writable");
    dir
}

/// A fresh folder `name` under the module's scratch root, removed and recreated per test.
pub fn scratch(module: &str, name: &str) -> PathBuf {
    let dir = tmp(module).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch folder can be made");
    dir
}

/// chromium or chromium-browser; under CI (CI=true) a missing one fails, locally it is skipped.
pub fn chromium() -> Option<String> {
    for name in ["chromium", "chromium-browser"] {
        let ok = Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(name.to_string());
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "chromium is not installed under CI; .ci/run installs it (apt-get install -y chromium)"
    );
    eprintln!("skipped: chromium is not installed (apt-get install -y chromium)");
    None
}

/// `chromium --dump-dom` of `page`, killed after a minute so a hung browser fails the test.
pub fn dump_dom(browser: &str, page: &Path, profile: &Path) -> String {
    let out_file = profile.with_extension("dom.html");
    let out = std::fs::File::create(&out_file).unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within 60 s");
            }
        }
    }
    std::fs::read_to_string(&out_file).unwrap_or_default()
}

/// The binary run from the project root with `args` and `envs`, colour off.
pub fn tokenconf(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(root()).env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

/// Standard output and standard error, apart.
pub fn streams(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Standard output then standard error, as one text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Writes `body` to `dir/name` and gives the path.
pub fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// `run --mock-profile PROFILE --report-dir DIR` of the built-in suites from the project root:
/// its output and report folder.
pub fn profile_run(profile: &str) -> (Output, PathBuf) {
    let reports = scratch("profile-run", profile);
    let dir = reports.to_string_lossy().into_owned();
    let o = tokenconf(
        &["run", "--mock-profile", profile, "--report-dir", &dir],
        &[],
    );
    (o, reports)
}

/// [`profile_run`] of the sandbox profile, made once per process and shared:
/// tests/it/sandbox.rs and tests/it/rehearsal.rs hold the same run to different things (a
/// sandbox run drives Chromium through its login pages, so running it twice cost a second
/// browser run).
pub fn sandbox_run() -> &'static (Output, PathBuf) {
    static RUN: std::sync::OnceLock<(Output, PathBuf)> = std::sync::OnceLock::new();
    RUN.get_or_init(|| profile_run("sandbox"))
}

/// `f` of each item, `workers` at a time, in the items' order: a worker takes the next item as
/// soon as it is free, so a long item (a run that waits) does not hold up the others, as a
/// fixed group that waits for its slowest item would.
pub fn queue<T: Sync, R: Send>(workers: usize, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                // A failed item stops the other workers too, rather than them running every item
                // left.
                let _stop = StopOnPanic(&stop);
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    results
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

struct StopOnPanic<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
