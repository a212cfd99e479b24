//! Drift watch through the real binary: `run --record` on the clean mock and under every drift
//! mode, `tokenconf diff` (exit 1 naming what broke for a breaking mode, exit 0 listing the change
//! as conformant for a benign one), `diff DIR DIR`, every suite against `run --mock-replay`, a
//! scan of recordings, diffs and the history page for the run's secrets and tokens, and the
//! history page in headless chromium.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use base64::Engine;

use crate::support::text;
use crate::support::{chromium, dump_dom, queue, root, BIN};
use tokenconf::mock::drift::{self, DriftKind, DriftMode};

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
}

fn tokenconf(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

/// `run` of the shipped suites (those whose names contain `filter`) against the mock with
/// `drifts`, recorded to `dir/name`; extra flags after.
fn record(dir: &Path, name: &str, filter: Option<&str>, extra: &[&str]) -> Output {
    let suites = root().join("suites");
    let specs = root().join("specs");
    let reports = dir.join(format!("{name}-reports"));
    let mut args: Vec<String> = vec![
        "run".into(),
        suites.display().to_string(),
        "--specs".into(),
        specs.display().to_string(),
        "--report-dir".into(),
        reports.display().to_string(),
        "--record".into(),
        dir.join(name).display().to_string(),
    ];
    if let Some(f) = filter {
        args.extend(["--filter".into(), f.into()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    tokenconf(&refs, dir)
}

/// The clean recording of every suite, made once for the module.
fn clean() -> &'static Path {
    static CLEAN: OnceLock<PathBuf> = OnceLock::new();
    CLEAN.get_or_init(|| {
        let dir = scratch("clean");
        let out = record(&dir, "rec", None, &[]);
        assert!(
            out.status.success(),
            "the clean run passes:\n{}",
            text(&out)
        );
        dir.join("rec")
    })
}

/// Test names hold the suite (`talkdesk/token::…`): the suites a mode's API touches. A mode of
/// every API is recorded on the token suites, which each API's responses pass through.
fn filter_of(api: &str) -> String {
    if api == "all" {
        "/token::".into()
    } else {
        format!("{api}/")
    }
}

#[test]
fn every_drift_mode_is_classed_breaking_or_conformant_by_diff() {
    let clean = clean();
    let dir = scratch("modes");
    // Each mode's record and diff, several modes at once: a case that waits (the PAR expiry
    // case) overlaps with the other modes' runs.
    let check = |mode: &DriftMode| -> Vec<String> {
        let mut problems = Vec::new();
        let name = format!("rec-{}", mode.name);
        let run = record(
            &dir,
            &name,
            Some(&filter_of(mode.api)),
            &["--mock-drift", mode.name],
        );
        if run.status.code() == Some(2) {
            problems.push(format!(
                "{}: run --record failed: {}",
                mode.name,
                text(&run)
            ));
            return problems;
        }
        let recorded = dir.join(&name);
        let diff = tokenconf(
            &[
                "diff",
                &clean.display().to_string(),
                &recorded.display().to_string(),
            ],
            &dir,
        );
        let out = String::from_utf8_lossy(&diff.stdout).into_owned();
        let lines = |class: &str| -> Vec<String> {
            out.lines()
                .filter(|l| l.contains(&format!("[{class}]")))
                .map(str::to_string)
                .collect()
        };
        match mode.kind {
            DriftKind::Breaking => {
                let breaking = lines("breaking");
                // What broke is named: a status, a header, a JSON path, a JWT, or a rule the
                // mode declares.
                let named = breaking.iter().any(|l| {
                    l.contains("status ")
                        || l.contains("header ")
                        || l.contains(" $")
                        || l.contains("jwt ")
                        || mode.rules.iter().any(|r| l.contains(r))
                        || l.contains("finding ")
                });
                if diff.status.code() != Some(1) || !named {
                    problems.push(format!(
                        "breaking {}: diff exit {:?}, breaking lines {:?}",
                        mode.name,
                        diff.status.code(),
                        breaking.iter().take(3).collect::<Vec<_>>()
                    ));
                }
            }
            DriftKind::Benign => {
                if diff.status.code() != Some(0)
                    || !lines("breaking").is_empty()
                    || lines("conformant").is_empty()
                {
                    problems.push(format!(
                        "benign {}: diff exit {:?}, want 0 with the change listed as conformant:\n{}",
                        mode.name,
                        diff.status.code(),
                        out.lines().take(8).collect::<Vec<_>>().join("\n")
                    ));
                }
                // --fail-on any makes a conformant change fail the job too.
                let strict = tokenconf(
                    &[
                        "diff",
                        "--fail-on",
                        "any",
                        &clean.display().to_string(),
                        &recorded.display().to_string(),
                    ],
                    &dir,
                );
                if strict.status.code() != Some(1) {
                    problems.push(format!(
                        "benign {}: --fail-on any did not exit 1",
                        mode.name
                    ));
                }
            }
        }
        problems
    };
    // Six modes at once from a queue: a finished mode's place is taken at once, rather than
    // each group of six waiting for its slowest.
    let problems: Vec<String> = queue(6, drift::modes(), check).concat();
    assert!(
        problems.is_empty(),
        "{} problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn a_recording_compared_with_itself_has_no_drift_and_the_breaking_names_are_specific() {
    let clean = clean();
    let dir = scratch("self");
    let c = clean.display().to_string();
    let same = tokenconf(&["diff", &c, &c], &dir);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    let out = String::from_utf8_lossy(&same.stdout);
    let compared = format!("no drift: {} cases compared", shipped_cases(&dir));
    assert!(out.contains(&compared), "{out}");
    assert!(
        !out.contains("[breaking]") && !out.contains("[conformant]"),
        "{out}"
    );

    // Two named cases, checked exactly: the header and the JSON path, with JSON and HTML out.
    let run = record(
        &dir,
        "nostore",
        Some("talkdesk/token::"),
        &["--mock-drift", "no-store-dropped"],
    );
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let html = dir.join("diff.html");
    let diff = tokenconf(
        &[
            "diff",
            "--json",
            "--html",
            &html.display().to_string(),
            &c,
            &dir.join("nostore").display().to_string(),
        ],
        &dir,
    );
    assert_eq!(diff.status.code(), Some(1), "{}", text(&diff));
    let json: serde_json::Value = serde_json::from_slice(&diff.stdout).expect("--json is JSON");
    let case = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["test"] == "talkdesk/token::client-credentials-with-basic-auth-returns-a-bearer-token"
        })
        .expect("the case drifted");
    let change = case["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["what"] == "header cache-control")
        .expect("the header is named");
    assert_eq!(change["class"], "breaking");
    assert_eq!(change["old"], "no-store");
    assert!(
        json["only_old"].as_array().unwrap().len() > 100,
        "unfiltered cases are not compared"
    );
    let page = std::fs::read_to_string(&html).expect("the page is written");
    assert!(page.contains("header cache-control") && page.contains("breaking"));
}

#[test]
fn bad_recordings_exit_2_naming_the_file() {
    let dir = scratch("bad");
    let clean = clean().display().to_string();
    let missing = tokenconf(&["diff", &clean, "no-such-folder"], &dir);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(
        text(&missing).contains("no-such-folder"),
        "{}",
        text(&missing)
    );

    let garbage = dir.join("garbage");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("recording.json"), "{ not json").unwrap();
    let out = tokenconf(&["diff", &clean, &garbage.display().to_string()], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("recording.json") && text(&out).contains("line 1"),
        "{}",
        text(&out)
    );

    let future = dir.join("future");
    std::fs::create_dir_all(&future).unwrap();
    std::fs::write(
        future.join("recording.json"),
        r#"{"format": 2, "tool": "tokenconf", "version": "9", "target": "x", "recorded": "", "cases": []}"#,
    )
    .unwrap();
    let out = tokenconf(&["diff", &clean, &future.display().to_string()], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("format 2"), "{}", text(&out));

    let replay = tokenconf(
        &["mock", "--replay", "no-such-recording", "--port", "0"],
        &dir,
    );
    assert_eq!(replay.status.code(), Some(2), "{}", text(&replay));
    assert!(
        text(&replay).contains("no-such-recording"),
        "{}",
        text(&replay)
    );

    // A folder that is not a recording is never overwritten by --record.
    let precious = dir.join("precious");
    std::fs::create_dir_all(&precious).unwrap();
    std::fs::write(precious.join("notes.txt"), "mine").unwrap();
    let out = record(&dir, "precious", Some("talkdesk/token::"), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(precious.join("notes.txt")).unwrap(),
        "mine"
    );
}

/// How many cases the shipped suites hold, as `tokenconf list` counts them.
fn shipped_cases(dir: &Path) -> usize {
    let suites = root().join("suites").display().to_string();
    let specs = root().join("specs").display().to_string();
    let out = tokenconf(&["list", &suites, "--specs", &specs], dir);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn every_shipped_suite_recorded_from_the_mock_passes_against_its_replay() {
    let clean = clean();
    let dir = scratch("replay");
    let out = tokenconf(
        &[
            "run",
            &root().join("suites").display().to_string(),
            "--specs",
            &root().join("specs").display().to_string(),
            "--report-dir",
            &dir.join("reports").display().to_string(),
            "--mock-replay",
            &clean.display().to_string(),
        ],
        &dir,
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    let passed = format!("{} passed", shipped_cases(&dir));
    assert!(shown.contains(&passed), "{shown}");
}

#[test]
fn the_replay_answers_a_request_it_does_not_have_with_599_naming_the_case() {
    let clean = clean().to_path_buf();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let addr = "127.0.0.1:0".parse().unwrap();
        let server = tokenconf::mock::replay::start(&clean, addr)
            .await
            .expect("the replay starts");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let url = format!("{}/oauth/token", server.base_url());
        let case = "talkdesk/token::client-credentials-with-basic-auth-returns-a-bearer-token";
        // A shape the case never sent: JSON instead of a form.
        let r = client
            .post(&url)
            .header(
                "x-tokenconf-case",
                case.replace('/', "%2F").replace(':', "%3A"),
            )
            .header("content-type", "application/json")
            .body(r#"{"grant_type": "client_credentials"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 599);
        let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(body["error"], "not_recorded");
        assert_eq!(body["case"], case);
        assert_eq!(body["request"], "POST /oauth/token");
        // A path nobody recorded, without a case.
        let r = client
            .get(format!("{}/nowhere", server.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 599);
        server.stop().await;
    });
}

/// Every form a secret or token could take in a file: raw, base64 (both alphabets), URL-encoded,
/// JSON-escaped.
fn forms(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).unwrap();
    vec![
        value.to_string(),
        base64::engine::general_purpose::STANDARD.encode(value),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value),
        form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        json.trim_matches('"').to_string(),
    ]
}

/// Every string under a credential-named member of the recorded JSON: what the mock issued.
fn issued_tokens(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match v {
                    serde_json::Value::String(s)
                        if tokenconf::redact::is_sensitive_key(k) && s.len() >= 8 =>
                    {
                        out.insert(s.clone());
                    }
                    _ => issued_tokens(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|i| issued_tokens(i, out)),
        _ => {}
    }
}

#[test]
fn recordings_diffs_and_the_history_page_hold_no_secret_or_token() {
    let dir = scratch("leak");
    // The mock's published test secrets are this run's secrets. Every token of a recorded run
    // is searched for by tests/it/leak.rs, which records every run it scans (it reads them off
    // the wire); here: the secrets in every file written and every line printed.
    let secrets = [
        "test-only-talkdesk-secret",
        "test-only-salesforce-secret",
        "test-only-oauth2-secret",
        "test-only-oauth2-second-secret",
    ];
    let out = record(&dir, "rec", None, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let drifted = record(
        &dir,
        "drifted",
        Some("/token::"),
        &["--mock-drift", "no-store-dropped"],
    );
    assert_eq!(drifted.status.code(), Some(1));
    let (old, new) = (dir.join("rec"), dir.join("drifted"));
    let diff = tokenconf(
        &[
            "diff",
            "--html",
            "diff.html",
            &old.display().to_string(),
            &new.display().to_string(),
        ],
        &dir,
    );
    assert_eq!(diff.status.code(), Some(1), "{}", text(&diff));
    let history = tokenconf(
        &[
            "report",
            "--history",
            "rec-reports",
            "drifted-reports",
            "--output",
            "history.html",
        ],
        &dir,
    );
    assert!(history.status.success(), "{}", text(&history));
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in [&old, &new] {
        for e in walkdir::WalkDir::new(sub) {
            let e = e.unwrap();
            if e.file_type().is_file() {
                files.push(e.path().to_path_buf());
            }
        }
    }
    assert!(files.len() > 300, "cassettes and shapes: {}", files.len());
    files.push(dir.join("diff.html"));
    files.push(dir.join("history.html"));
    let mut needles: Vec<String> = secrets.iter().flat_map(|s| forms(s)).collect();
    for (id, secret) in [
        ("conformance-client", secrets[0]),
        ("tokenconf-oauth2-client", secrets[2]),
    ] {
        needles.push(base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")));
    }
    let mut hits = Vec::new();
    let printed = format!("{}{}", text(&diff), text(&history));
    for n in &needles {
        if printed.contains(n.as_str()) {
            hits.push(format!("printed: {n}"));
        }
    }
    for f in &files {
        let body = std::fs::read_to_string(f).unwrap();
        for n in &needles {
            if body.contains(n.as_str()) {
                hits.push(format!("{}: {n}", f.display()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "secrets in recorded files:\n{}",
        hits.join("\n")
    );
    // Tokens are there as placeholders: under their names, of their shapes.
    let mut tokens = BTreeSet::new();
    for f in files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with(".cassette.json"))
    {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        issued_tokens(&v, &mut tokens);
    }
    assert!(tokens.len() > 50, "placeholders recorded: {}", tokens.len());
    assert!(
        tokens
            .iter()
            .any(|t| t.starts_with("eyJ") && t.split('.').count() == 3),
        "JWTs stay JWTs"
    );
}

#[test]
fn the_history_page_renders_its_charts_in_headless_chromium() {
    let dir = scratch("history");
    // Three runs: clean, one drifting (failures appear), clean again is not needed: the last
    // one fails, so the page names the run its failures began in.
    let clean = record(&dir, "r1", Some("talkdesk/token::"), &[]);
    assert!(clean.status.success(), "{}", text(&clean));
    for name in ["r2", "r3"] {
        let out = record(
            &dir,
            name,
            Some("talkdesk/token::"),
            &["--mock-drift", "td-scope-missing"],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    }
    let page = dir.join("history.html");
    let out = tokenconf(
        &[
            "report",
            "--history",
            "r1-reports",
            "r2-reports",
            "r3-reports/summary.json",
            "--output",
            &page.display().to_string(),
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
    assert!(
        html.contains("TALKDESK-token-scope"),
        "the rule chart names the rule"
    );
    assert!(
        html.contains("run 2 (r2-reports"),
        "failing since the second run"
    );
    let bad = tokenconf(
        &["report", "--history", "no-such-run", "--output", "x.html"],
        &dir,
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("no-such-run"), "{}", text(&bad));

    let Some(browser) = chromium() else { return };
    let dom = dump_dom(&browser, &page, &dir.join("profile"));
    for id in ["chart-counts", "chart-rules", "chart-apis"] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "{id} rendered:\n{dom}"
        );
    }
    assert!(dom.contains("<svg") && dom.contains("<rect"), "{dom}");
    assert!(dom.contains("TALKDESK-token-scope"), "{dom}");
}
