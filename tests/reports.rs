//! The report files from a constructed run holding every kind of case: JUnit against the
//! Jenkins schema (xmllint), flaky and rerun marking, diffs on disk, summary.json format 1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use tokenconf::finding::{Finding, Level};
use tokenconf::http::Retry;
use tokenconf::outcome::{CaseOutcome, ResponseSnapshot, RunReport, Status};
use tokenconf::redact::Redactor;
use tokenconf::report;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn finding(rule: &str, level: Level, expected: &str, actual: &str, path: Option<&str>) -> Finding {
    Finding {
        rule: rule.into(),
        level,
        message: format!("{rule} <does not hold> & \"quoted\""),
        expected: Some(expected.into()),
        actual: Some(actual.into()),
        source: Some("https://www.rfc-editor.org/rfc/rfc6749#section-5.1".into()),
        path: path.map(str::to_string),
        accepted: None,
    }
}

fn case(suite: &str, name: &str, status: Status) -> CaseOutcome {
    CaseOutcome {
        suite: suite.into(),
        case: name.into(),
        test: format!("{suite}::{}", tokenconf::suite::slug(name)),
        status,
        reason: None,
        step: None,
        findings: vec![],
        duration: Duration::from_micros(1500),
        response: None,
        retries: vec![],
        sensitive: vec![],
    }
}

fn retry(reason: &str) -> Retry {
    Retry {
        reason: reason.into(),
        waited: Duration::from_millis(250),
    }
}

/// One case of every kind: passed, passed with a warning, flaky, failed (with a diff), failed
/// after retries, errored, skipped.
pub fn every_kind() -> RunReport {
    let mut warned = case("talkdesk/token", "passes with a warning", Status::Passed);
    warned.findings.push(finding(
        "RFC6749-5.1-pragma",
        Level::Should,
        "Pragma: no-cache",
        "none",
        None,
    ));
    let mut flaky = case(
        "talkdesk/token",
        "passes on the second attempt",
        Status::Passed,
    );
    flaky.retries.push(retry("status 503"));
    let mut failed = case("talkdesk/token", "expects the wrong status", Status::Failed);
    failed.reason = Some("status: status 200, expected 201".into());
    failed.findings = vec![
        finding("status", Level::Must, "201", "200", None),
        finding(
            "json $.token_type",
            Level::Must,
            "\"MAC\"",
            "\"Bearer\"",
            Some("$.token_type"),
        ),
        finding(
            "RFC6749-5.1-pragma",
            Level::Should,
            "Pragma: no-cache",
            "none",
            None,
        ),
    ];
    failed.response = Some(ResponseSnapshot {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "no-store".into()),
        ],
        json: Some(serde_json::json!({
            "access_token": "[redacted]", "token_type": "Bearer", "expires_in": 600
        })),
        text: None,
    });
    let mut rerun = case("salesforce/token", "fails after retries", Status::Errored);
    rerun.reason = Some("status 503 after 3 attempts".into());
    rerun.retries = vec![retry("status 503"), retry("could not connect: refused")];
    let mut errored = case("salesforce/token", "cannot connect", Status::Errored);
    errored.reason = Some("could not connect to 127.0.0.1:9: connection refused".into());
    let mut skipped = case("miaw/revoke", "needs a refresh token", Status::Skipped);
    skipped.reason = Some("target t does not supply `refresh_token`".into());
    RunReport {
        target: "mock".into(),
        started: SystemTime::now(),
        duration: Duration::from_millis(42),
        strict: false,
        outcomes: vec![
            case("talkdesk/token", "passes", Status::Passed),
            warned,
            flaky,
            failed,
            rerun,
            errored,
            skipped,
        ],
        resolved: Vec::new(),
    }
}

/// xmllint on PATH; under CI (CI=true) its absence fails the test, locally it skips.
fn xmllint() -> Option<&'static str> {
    let found = Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("xmllint");
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "xmllint is not on PATH under CI; .ci/run installs libxml2-utils"
    );
    eprintln!("skipped: xmllint is not on PATH (apt-get install libxml2-utils)");
    None
}

/// Jenkins' junit-10.xsd (MIT), kept beside the tests so they need nothing outside the clone.
fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit-10.xsd")
}

#[test]
fn junit_with_every_kind_of_case_validates_against_the_jenkins_schema() {
    let dir = scratch("reports-junit");
    let written = report::write_all(&dir, &every_kind(), &Redactor::default()).unwrap();
    assert!(written.contains(&dir.join("junit.xml")));
    let Some(bin) = xmllint() else { return };
    let xsd = schema();
    if !xsd.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} is missing under CI",
            xsd.display()
        );
        eprintln!("skipped: {} not found", xsd.display());
        return;
    }
    let out = Command::new(bin)
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(dir.join("junit.xml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xmllint rejected junit.xml:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join("junit.xml")).unwrap_or_default()
    );
}

#[test]
fn junit_marks_errors_failures_skips_warnings_and_retries() {
    let xml = report::junit::render(&every_kind());
    // Conformance failure: the first failing finding as the message, its rule id as the type.
    assert!(
        xml.contains("<failure message=\"[MUST] status: status &lt;does not hold&gt; &amp; &quot;quoted&quot;\" type=\"status\">"),
        "{xml}"
    );
    assert!(xml.contains("json $.token_type"), "{xml}");
    assert!(
        xml.contains("source: https://www.rfc-editor.org/rfc/rfc6749#section-5.1"),
        "{xml}"
    );
    assert!(
        xml.contains("-  &quot;token_type&quot;: &quot;MAC&quot;    &lt;- json $.token_type"),
        "the diff: {xml}"
    );
    // Transport failures are errors, typed by kind.
    assert!(
        xml.contains("<error message=\"could not connect to 127.0.0.1:9: connection refused\" type=\"connect\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<skipped message=\"target t does not supply `refresh_token`\""),
        "{xml}"
    );
    // Warnings go to system-out, on passing and failing cases alike.
    assert_eq!(
        xml.matches("<system-out>[SHOULD] RFC6749-5.1-pragma")
            .count(),
        2,
        "{xml}"
    );
    // A case that passed on a retry is flaky; one that failed after retries has reruns.
    assert!(
        xml.contains("<flakyError message=\"status 503\" type=\"status\">"),
        "{xml}"
    );
    assert!(xml.contains("flaky: passed on attempt 2"), "{xml}");
    assert!(
        xml.contains("<rerunError message=\"could not connect: refused\" type=\"connect\">"),
        "{xml}"
    );
    assert!(
        !xml.contains(
            "<testsuites name=\"tokenconf\" tests=\"7\" failures=\"1\" errors=\"2\" skipped"
        ),
        "{xml}"
    );
}

#[test]
fn diffs_are_written_per_failing_case_and_stale_ones_removed() {
    let dir = scratch("reports-diffs");
    let stale = dir.join("diffs/old/suite/gone.diff");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, "old").unwrap();
    report::write_all(&dir, &every_kind(), &Redactor::default()).unwrap();
    assert!(!stale.exists(), "a stale diff lingers");
    let diff = dir.join("diffs/talkdesk/token/expects-the-wrong-status.diff");
    let text = std::fs::read_to_string(&diff).unwrap();
    for needle in [
        "--- expected\n+++ actual\n",
        "-HTTP 201    <- status\n+HTTP 200\n",
        "-  \"token_type\": \"MAC\"    <- json $.token_type\n+  \"token_type\": \"Bearer\"\n",
        " cache-control: no-store\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let all: Vec<_> = walk(&dir.join("diffs"));
    assert_eq!(
        all.len(),
        1,
        "only the failed case with a response: {all:?}"
    );
    let leftovers: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn summary_json_keeps_format_1_and_adds_fields() {
    let text = report::summary::render(&every_kind());
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["format"], 1);
    for key in [
        "tool",
        "version",
        "target",
        "started_unix_ms",
        "started",
        "duration_ms",
        "strict",
        "counts",
        "cases",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {text}");
    }
    let c = &v["counts"];
    assert_eq!(
        (
            c["passed"].as_u64(),
            c["failed"].as_u64(),
            c["errored"].as_u64(),
            c["skipped"].as_u64(),
            c["warnings"].as_u64(),
            c["flaky"].as_u64()
        ),
        (Some(3), Some(1), Some(2), Some(1), Some(2), Some(1))
    );
    let failed = &v["cases"][3];
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["diff"],
        "diffs/talkdesk/token/expects-the-wrong-status.diff"
    );
    assert_eq!(failed["findings"][1]["path"], "$.token_type");
    assert_eq!(failed["findings"][1]["level"], "must");
    assert!(failed["duration"].is_number());
    assert_eq!(v["cases"][2]["retries"][0]["reason"], "status 503");
    assert!(v["started"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn console_reads_like_cargo_test_and_colours_only_when_asked() {
    let r = every_kind();
    let lines: Vec<String> = r.outcomes.iter().map(report::console::case_line).collect();
    assert_eq!(lines[0], "test talkdesk/token::passes ... ok");
    assert_eq!(
        lines[2],
        "test talkdesk/token::passes-on-the-second-attempt ... ok (flaky: passed on attempt 2)"
    );
    let summary = report::console::summary(&r);
    assert!(!summary.contains('\x1b'), "plain text has no colour codes");
    assert!(
        summary.contains("-HTTP 201    <- status"),
        "the diff in the console: {summary}"
    );
    assert!(summary
        .contains("    talkdesk/token::expects-the-wrong-status (status, json $.token_type)"));
    assert_eq!(
        summary.lines().last(),
        Some("summary: 3 passed, 3 failed, 1 skipped")
    );
    let painted = report::console::paint(&summary);
    assert!(painted.contains("\x1b[31m-HTTP 201"), "{painted}");
    assert!(
        painted.contains("test result: \x1b[1;31mFAILED"),
        "{painted}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
