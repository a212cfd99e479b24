//! Running in CI: shards of one target share its rate.

use tokenconf::session::{Options, Session, TargetChoice};

use crate::support::{root, scratch};

const MODULE: &str = module_path!();

/// The per-host rate of the session `options` open (no request is sent).
fn rate_of(options: Options) -> Option<f64> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut session = Session::open(options).await.expect("the session opens");
        let rate = session.runner().target().http.rate_per_second;
        if let Some(mock) = session.take_mock() {
            mock.stop().await;
        }
        rate
    })
}

fn options() -> Options {
    let mut o = Options::new(vec![root().join("suites/talkdesk/token.yaml")]);
    o.report_dir = None;
    o.allow_empty = true;
    o
}

#[test]
fn a_shard_of_n_sends_at_an_nth_of_the_rate() {
    // --rate, against the mock.
    let mut o = options();
    o.rate = Some(8.0);
    o.shard = Some((1, 4));
    assert_eq!(rate_of(o), Some(2.0));

    // The target's own http.rate.
    let dir = scratch(MODULE, "shard-rate");
    let file = dir.join("targets.yaml");
    std::fs::write(
        &file,
        "targets:\n  t:\n    http: { rate: 6/s }\n    talkdesk: { base_url: \"http://127.0.0.1:9\" }\n",
    )
    .unwrap();
    let target = || TargetChoice::File {
        file: file.clone(),
        name: "t".into(),
    };
    let mut o = options();
    o.target = target();
    o.shard = Some((2, 3));
    assert_eq!(rate_of(o), Some(2.0));

    // Unsharded: the rate as given; no rate: none.
    let mut o = options();
    o.target = target();
    assert_eq!(rate_of(o), Some(6.0));
    let mut o = options();
    o.shard = Some((1, 2));
    assert_eq!(rate_of(o), None);
}

/// The `run:` script of the action.yml step named `name`.
fn action_step(name: &str) -> String {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    doc["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str().is_some_and(|n| n.starts_with(name)))
        .and_then(|s| s["run"].as_str())
        .unwrap_or_else(|| panic!("no step {name:?} in action.yml"))
        .to_string()
}

/// Runs `script` under bash in `dir` with `env`, as the runner would; stdout and stderr.
fn bash(script: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> (bool, String) {
    let out = std::process::Command::new("bash")
        .args(["-c", script])
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .expect("bash runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_actions_job_summary_has_the_counts_and_each_failing_test_without_markdown_breakouts() {
    let has_jq = std::process::Command::new("jq")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_jq {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "jq is not installed under CI; .ci/run installs it"
        );
        eprintln!("skipped: jq is not installed");
        return;
    }
    let dir = scratch(MODULE, "job-summary");
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let summary = serde_json::json!({
        "target": "acme|sandbox",
        "suites": { "from": "built-in", "version": "0.1.0", "digest": "0123456789abcdef" },
        "counts": { "passed": 3, "failed": 1, "errored": 1, "skipped": 2, "warnings": 4, "expected": 0 },
        "cases": [
            { "test": "talkdesk/token::passes", "status": "passed", "findings": [] },
            { "test": "talkdesk/token::wrong-status", "status": "failed",
              "findings": [{ "message": "status 404, expected 200 `| <b>x</b>\n| injected |" }] },
            { "test": "oauth2/token::no-answer", "status": "errored", "reason": "connection refused", "findings": [] }
        ]
    });
    std::fs::write(reports.join("summary.json"), summary.to_string()).unwrap();
    let out = dir.join("step-summary.md");
    let (ok, log) = bash(
        &action_step("Job summary"),
        &dir,
        &[
            ("SUMMARY", "reports/summary.json"),
            ("ARTIFACT", "conformance-acme"),
            ("GITHUB_STEP_SUMMARY", out.to_str().unwrap()),
        ],
    );
    assert!(ok, "{log}");
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.contains("| 3 | 1 | 1 | 2 | 4 | 0 |"), "{md}");
    assert!(
        md.contains("built-in 0.1.0 (digest 0123456789abcdef)"),
        "{md}"
    );
    assert!(
        md.contains("| `talkdesk/token::wrong-status` | failed | status 404, expected 200"),
        "{md}"
    );
    assert!(
        md.contains("| `oauth2/token::no-answer` | errored | connection refused |"),
        "{md}"
    );
    assert!(!md.contains("talkdesk/token::passes"), "{md}");
    // Server text cannot open a row or a code span of its own.
    assert!(!md.contains("\n| injected"), "{md}");
    assert_eq!(md.matches('`').count() % 2, 0, "{md}");

    // No summary.json (exit 2 before any report): one line that says so, not a jq error.
    let none = dir.join("none.md");
    let (ok, log) = bash(
        &action_step("Job summary"),
        &dir,
        &[
            ("SUMMARY", "missing/summary.json"),
            ("ARTIFACT", "x"),
            ("GITHUB_STEP_SUMMARY", none.to_str().unwrap()),
        ],
    );
    assert!(ok, "{log}");
    assert!(std::fs::read_to_string(&none)
        .unwrap()
        .contains("wrote no summary.json"));
}

#[test]
fn the_action_installs_a_given_binary_on_the_path() {
    let dir = scratch(MODULE, "install-given");
    let (path, output) = (dir.join("path.txt"), dir.join("output.txt"));
    let (ok, log) = bash(
        &action_step("Install tokenconf"),
        &dir,
        &[
            ("HOME", dir.to_str().unwrap()),
            ("VERSION", "9.9.9"),
            ("REPOSITORY", "tokenconf/tokenconf"),
            ("BINARY", crate::support::BIN),
            ("CACHED", ""),
            ("ACTION_PATH", root().to_str().unwrap()),
            ("RUNNER_OS", "Linux"),
            ("RUNNER_ARCH", "X64"),
            ("GITHUB_PATH", path.to_str().unwrap()),
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ],
    );
    assert!(ok, "{log}");
    assert!(log.contains("tokenconf "), "--version is printed: {log}");
    let bin = dir.join(".tokenconf/9.9.9/bin");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().trim(),
        bin.to_str().unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(&output).unwrap().trim(),
        format!("path={}", bin.join("tokenconf").display())
    );
}
