//! index.html in a real browser: headless Debian chromium loads the page the binary wrote, and
//! the rendered DOM must hold the counts (filled in by the page's script, so it ran) and a diff.
//! Under CI (CI=true) a missing chromium fails the test; locally it is skipped with a reason.

use crate::support::BIN;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

fn chromium() -> Option<String> {
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
fn dump_dom(browser: &str, page: &Path, profile: &Path) -> String {
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

#[test]
fn the_html_report_renders_with_counts_and_a_diff_in_headless_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = scratch("html-report");
    let suite = dir.join("page.yaml");
    let request = r#"
    request:
      path: /oauth/token
      auth: { basic: { user: "{{ client_id }}", password: "{{ client_secret }}" } }
      form: { grant_type: client_credentials }"#;
    std::fs::write(
        &suite,
        format!(
            "api: talkdesk\nvars:\n  client_id: conformance-client\nsecrets: [client_secret]\ncases:\n  - name: expects the wrong status{request}\n    expect:\n      status: 201\n      json:\n        $.token_type: MAC\n  - name: passes{request}\n    expect: {{ status: 200 }}\n  - name: passes too{request}\n    expect: {{ status: 200 }}\n"
        ),
    )
    .unwrap();
    let reports = dir.join("reports");
    let run = Command::new(BIN)
        .arg("run")
        .arg(&suite)
        .arg("--report-dir")
        .arg(&reports)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let page = reports.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http://") && !html.contains("<link"),
        "no external assets"
    );
    let dom = dump_dom(&browser, &page, &dir.join("profile"));
    assert!(
        dom.contains("data-ready=\"yes\""),
        "the script did not run:\n{dom}"
    );
    for (filter, n) in [
        ("all", 3),
        ("passed", 2),
        ("failed", 1),
        ("errored", 0),
        ("skipped", 0),
    ] {
        let at = dom
            .find(&format!("id=\"count-{filter}\""))
            .unwrap_or_else(|| panic!("no count-{filter} in:\n{dom}"));
        let button = &dom[at..at + dom[at..].find("</button>").unwrap_or(0)];
        assert!(
            button.contains(&format!("data-filled=\"js\">{n}</span>")),
            "count-{filter} should be {n}: {button}"
        );
    }
    assert!(
        dom.contains("<span class=\"del\">-HTTP 201    &lt;- status</span>"),
        "no diff in the DOM:\n{dom}"
    );
    assert!(
        dom.contains("<span class=\"add\">+HTTP 200</span>"),
        "{dom}"
    );
    assert!(dom.contains("json $.token_type"), "{dom}");
}
