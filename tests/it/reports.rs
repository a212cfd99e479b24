//! The report files from a constructed run holding every kind of case: JUnit against the
//! Jenkins schema (xmllint), flaky and rerun marking, diffs on disk, summary.json format 1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use tokenconf::finding::{Finding, Level};
use tokenconf::http::{Retry, TransportKind};
use tokenconf::outcome::{CaseOutcome, ErrorKind, ResponseSnapshot, RunReport, Status};
use tokenconf::redact::Redactor;
use tokenconf::report;

fn scratch(name: &str) -> PathBuf {
    crate::support::scratch(module_path!(), name)
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
        step: None,
    }
}

fn case(suite: &str, name: &str, status: Status) -> CaseOutcome {
    let api = suite.split('/').next().unwrap_or_default();
    let test = format!("{suite}::{}", tokenconf::suite::slug(name));
    let mut o = CaseOutcome::new(suite, api, name, test, status);
    o.duration = Duration::from_micros(1500);
    o
}

fn retry(reason: &str, kind: TransportKind) -> Retry {
    Retry {
        reason: reason.into(),
        kind,
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
    flaky
        .retries
        .push(retry("status 503", TransportKind::Status));
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
    rerun.error_kind = Some(ErrorKind::Transport(TransportKind::Status));
    rerun.retries = vec![
        retry("status 503", TransportKind::Status),
        retry("could not connect: refused", TransportKind::Connect),
    ];
    let mut errored = case("salesforce/token", "cannot connect", Status::Errored);
    errored.reason = Some("could not connect to 127.0.0.1:9: connection refused".into());
    errored.error_kind = Some(ErrorKind::Transport(TransportKind::Connect));
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
        insecure: vec![],
        resolved: Vec::new(),
        user_deviations: Vec::new(),
        suites: Default::default(),
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

/// Over 1,000 cases junit.xml builds its testcases on several threads: each comes out in
/// its place (its suite's, in the run's order), as a report of that case alone renders it.
#[test]
fn junit_of_many_cases_holds_each_in_order_as_it_renders_alone() {
    let one = every_kind();
    let mut many = one.clone();
    many.outcomes.clear();
    for i in 0..250 {
        for o in &one.outcomes {
            let mut o = o.clone();
            o.case = format!("{} {i}", o.case);
            o.test = format!("{} {i}", o.test);
            many.outcomes.push(o);
        }
    }
    assert!(many.outcomes.len() > 1000);
    // A testcase with children (`<skipped .../>` among them) runs to its `</testcase>`.
    let testcase = regex::Regex::new(r"(?s)<testcase [^>]*?(/>|[^/]>.*?</testcase>)").unwrap();
    let render = |r: &RunReport| {
        let xml = report::junit::render(&report::Redacted::new(r, &Redactor::default()));
        let blocks: Vec<String> = testcase
            .find_iter(&xml)
            .map(|m| m.as_str().to_string())
            .collect();
        blocks
    };
    // Each suite's cases in their order, the suites in the order they first come.
    let mut suites: Vec<&str> = Vec::new();
    for o in &many.outcomes {
        if !suites.contains(&o.suite.as_str()) {
            suites.push(&o.suite);
        }
    }
    let in_order = suites
        .iter()
        .flat_map(|s| many.outcomes.iter().filter(move |o| o.suite == *s));
    let together = render(&many);
    assert_eq!(together.len(), many.outcomes.len());
    for (block, o) in together.iter().zip(in_order) {
        let mut alone = many.clone();
        alone.outcomes = vec![o.clone()];
        assert_eq!(render(&alone), std::slice::from_ref(block), "{}", o.test);
    }
}

#[test]
fn junit_marks_errors_failures_skips_warnings_and_retries() {
    let xml = report::junit::render(&report::Redacted::new(&every_kind(), &Redactor::default()));
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
    let mut earlier = every_kind();
    for o in &mut earlier.outcomes {
        o.suite = "old/suite".into();
        o.test = o.test.replace("talkdesk/token::", "old/suite::");
    }
    report::write_all(&dir, &earlier, &Redactor::default()).unwrap();
    let stale = dir.join("diffs/old/suite/expects-the-wrong-status.diff");
    assert!(stale.is_file(), "the earlier run's diff");
    report::write_all(&dir, &every_kind(), &Redactor::default()).unwrap();
    assert!(!stale.exists(), "a stale diff lingers");
    assert!(
        !dir.join("diffs/old").exists(),
        "its emptied folders go too"
    );
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
    let all: Vec<_> = walk(&dir.join("diffs"))
        .into_iter()
        .filter(|p| !p.ends_with(report::files::MANIFEST))
        .collect();
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
    let r = every_kind();
    let plan = report::ReportPlan::for_report(Path::new("reports"), &r);
    let text = report::summary::render(
        &report::Redacted::new(&r, &Redactor::default()),
        &plan.diff_files(&r),
    );
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
        !summary.contains("insecure"),
        "a safe run says nothing of it"
    );
    assert!(
        summary.contains("-HTTP 201    <- status"),
        "the diff in the console: {summary}"
    );
    assert!(summary
        .contains("    talkdesk/token::expects-the-wrong-status (status, json $.token_type)"));
    assert_eq!(
        summary.lines().last(),
        Some("summary: 3 passed, 1 failed, 2 errored, 1 skipped")
    );
    let styles = report::Styles::colored();
    let painted = report::console::styled_summary(&r, &styles);
    assert!(painted.contains("\x1b[31m-HTTP 201"), "{painted}");
    let failed = format!(
        "{}FAILED{}",
        styles.result_failed,
        styles.result_failed.render_reset()
    );
    assert!(
        painted.contains(&format!("test result: {failed}. 3 passed")),
        "{painted}"
    );
    assert!(
        painted.contains("\x1b[31m[MUST]\x1b[0m status: "),
        "{painted}"
    );
    // Without the codes, the coloured text is the plain one.
    let stripped = regex::Regex::new("\x1b\\[[0-9;]*m")
        .unwrap()
        .replace_all(&painted, "");
    assert_eq!(stripped, summary);
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

/// A failed case with a response, so it has a diff file.
fn failed(suite: &str, name: &str) -> CaseOutcome {
    let mut o = case(suite, name, Status::Failed);
    o.findings = vec![finding("status", Level::Must, "201", "200", None)];
    o.response = Some(ResponseSnapshot {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        json: Some(serde_json::json!({ "case": name })),
        text: None,
    });
    o
}

fn run_of(outcomes: Vec<CaseOutcome>) -> RunReport {
    RunReport {
        target: "mock".into(),
        started: SystemTime::now(),
        duration: Duration::from_millis(5),
        strict: false,
        outcomes,
        insecure: vec![],
        resolved: Vec::new(),
        user_deviations: Vec::new(),
        suites: Default::default(),
    }
}

fn summary_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn a_300_character_case_name_and_colliding_suite_names_still_produce_complete_reports() {
    let dir = scratch("reports-long-names");
    let long = "very long case name ".repeat(15);
    let accented = "é".repeat(300);
    let r = run_of(vec![
        failed("talkdesk/token", &long),
        failed("talkdesk/token", &format!("{long} too")),
        failed("talkdesk/token", &accented),
        failed("talk desk/token", "same case"),
        failed("talk-desk/token", "same case"),
        failed("Talk-Desk/token", "same case"),
    ]);
    assert_eq!(long.chars().count(), 300);
    let plan = report::ReportPlan::new(&dir, r.outcomes.iter().map(|o| (&o.suite, &o.test)));
    plan.check().expect("the report folder is usable");
    report::write_planned(&plan, &report::Redacted::new(&r, &Redactor::default()))
        .expect("reports are written");
    for name in report::files::TOP_FILES {
        assert!(dir.join(name).is_file(), "{name}");
    }
    let v = summary_json(&dir);
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    let mut seen = std::collections::HashSet::new();
    for c in cases {
        let file = c["diff"].as_str().expect("every failed case has a diff");
        assert!(
            seen.insert(file.to_lowercase()),
            "two cases share {file} (case-insensitively)"
        );
        assert_eq!(plan.diff_path(c["test"].as_str().unwrap()), Some(file));
        assert!(file.split('/').all(|part| part.len() <= 255), "{file}");
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let case_name = c["case"].as_str().unwrap();
        assert!(
            text.contains(&format!("\"case\": \"{case_name}\"")),
            "{file} holds another case's diff:\n{text}"
        );
    }
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 6, "{xml}");
}

#[cfg(unix)]
#[test]
fn a_link_planted_at_any_report_or_temporary_name_does_not_redirect_a_write() {
    use std::os::unix::fs::symlink;
    let root = scratch("reports-links");
    let dir = root.join("reports");
    let outside = root.join("outside");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let victim = outside.join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    let pid = std::process::id();
    for name in ["junit.xml", "summary.json", "index.html"] {
        symlink(&victim, dir.join(name)).unwrap();
        // Where the old writer put its temporary files: predictable, and followed.
        let ext = name.rsplit_once('.').unwrap().1;
        let stem = name.rsplit_once('.').unwrap().0;
        symlink(&victim, dir.join(format!("{stem}.{ext}.tmp{pid}"))).unwrap();
    }
    // A linked diffs/ folder, and a linked folder inside a real one.
    symlink(&outside, dir.join("diffs")).unwrap();
    report::write_all(&dir, &every_kind(), &Redactor::default()).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    for name in ["junit.xml", "summary.json", "index.html"] {
        let m = std::fs::symlink_metadata(dir.join(name)).unwrap();
        assert!(m.is_file(), "{name} is a file of its own now");
    }
    assert!(std::fs::symlink_metadata(dir.join("diffs"))
        .unwrap()
        .is_dir());
    assert_eq!(
        walk(&outside),
        vec![victim.clone()],
        "nothing written through diffs/"
    );
    let diff = dir.join("diffs/talkdesk/token/expects-the-wrong-status.diff");
    assert!(std::fs::symlink_metadata(&diff).unwrap().is_file());

    std::fs::remove_dir_all(dir.join("diffs/talkdesk")).unwrap();
    std::fs::create_dir_all(dir.join("diffs")).unwrap();
    symlink(&outside, dir.join("diffs/talkdesk")).unwrap();
    std::fs::create_dir_all(outside.join("token")).unwrap();
    symlink(&victim, outside.join("token/expects-the-wrong-status.diff")).unwrap();
    report::write_all(&dir, &every_kind(), &Redactor::default()).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(std::fs::symlink_metadata(dir.join("diffs/talkdesk"))
        .unwrap()
        .is_dir());
    assert!(std::fs::symlink_metadata(&diff).unwrap().is_file());
    let mut outside_files = walk(&outside);
    outside_files.sort();
    assert_eq!(
        outside_files,
        vec![outside.join("token/expects-the-wrong-status.diff"), victim],
        "nothing was written outside the report folder"
    );
}

#[test]
fn only_files_tokenconf_wrote_are_cleared_from_diffs() {
    let dir = scratch("reports-marker");
    let foreign = [
        dir.join("diffs/notes.txt"),
        dir.join("diffs/mine/keep.diff"),
        dir.join("diffs/talkdesk/token/hand-written.diff"),
    ];
    for f in &foreign {
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, "mine").unwrap();
    }
    let outside = scratch("reports-marker-outside").join("victim.diff");
    std::fs::write(&outside, "keep me").unwrap();
    report::write_all(&dir, &every_kind(), &Redactor::default()).unwrap();
    // An edited manifest cannot reach outside diffs/.
    let manifest = dir.join("diffs").join(report::files::MANIFEST);
    let mut listed = std::fs::read_to_string(&manifest).unwrap();
    listed.push_str("../../reports-marker-outside/victim.diff\n/etc/passwd.diff\n");
    std::fs::write(&manifest, listed).unwrap();
    report::write_all(&dir, &run_of(vec![]), &Redactor::default()).unwrap();
    for f in &foreign {
        assert_eq!(
            std::fs::read_to_string(f).unwrap(),
            "mine",
            "{}",
            f.display()
        );
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
    assert!(!dir
        .join("diffs/talkdesk/token/expects-the-wrong-status.diff")
        .exists());
}

#[test]
fn when_diffs_cannot_be_written_the_other_reports_are_still_this_runs() {
    let dir = scratch("reports-stale");
    let mut passing = every_kind();
    passing.outcomes.retain(|o| o.status == Status::Passed);
    report::write_all(&dir, &every_kind(), &Redactor::default()).unwrap();
    report::write_all(&dir, &passing, &Redactor::default()).unwrap();
    assert!(dir.join("junit.xml").is_file());
    // Something in the way of this run's diff: the write fails after requests were sent.
    std::fs::remove_dir_all(dir.join("diffs")).ok();
    std::fs::write(dir.join("diffs"), "a file where the diffs folder goes").unwrap();
    let r = every_kind();
    let plan = report::ReportPlan::for_report(&dir, &r);
    let err =
        report::write_planned(&plan, &report::Redacted::new(&r, &Redactor::default())).unwrap_err();
    assert!(err.stale_removed, "{err}");
    assert_eq!(err.not_written, ["diffs"], "{err}");
    assert!(err.to_string().contains("not written: diffs"), "{err}");
    // Every top report is this run's, whole: the failing cases are in them.
    for name in report::files::TOP_FILES {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let this_runs = text.contains("wrong status") || text.contains("wrong-status");
        assert!(this_runs, "{name} is not this run's");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("diffs")).unwrap(),
        "a file where the diffs folder goes",
        "what was in the way is left alone"
    );
    // At load, the same obstacle is found before anything is sent.
    let plan = report::ReportPlan::new(&dir, [("s", "s::c")]);
    assert!(plan.check().is_err());
}

#[test]
fn the_report_folder_is_checked_at_load() {
    let root = scratch("reports-check");
    let fresh = root.join("new/reports");
    report::ReportPlan::new(&fresh, [("s", "s::c")])
        .check()
        .expect("a missing folder is created");
    assert!(fresh.is_dir());
    assert!(walk(&fresh).is_empty(), "the probe is gone");
    std::fs::create_dir_all(fresh.join("junit.xml")).unwrap();
    let err = report::ReportPlan::new(&fresh, [("s", "s::c")])
        .check()
        .unwrap_err();
    assert!(err.to_string().contains("junit.xml"), "{err}");
    let file = root.join("a-file");
    std::fs::write(&file, "").unwrap();
    assert!(report::ReportPlan::new(&file, [("s", "s::c")])
        .check()
        .is_err());
}

#[test]
fn an_insecure_run_is_recorded_in_every_report() {
    let dir = scratch("reports-insecure");
    let mut r = every_kind();
    r.insecure = vec![
        "--insecure: TLS certificates were not verified".into(),
        "cleartext http to api.example.com:80 (talkdesk)".into(),
    ];
    report::write_all(&dir, &r, &Redactor::default()).unwrap();
    let v = summary_json(&dir);
    assert_eq!(
        v["insecure"][0],
        "--insecure: TLS certificates were not verified"
    );
    assert_eq!(v["insecure"].as_array().unwrap().len(), 2);
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert_eq!(
        xml.matches("<property name=\"tokenconf.insecure\" value=\"--insecure: TLS certificates were not verified; cleartext http to api.example.com:80 (talkdesk)\"/>").count(),
        3,
        "one per suite: {xml}"
    );
    assert!(
        xml.contains("insecure: cleartext http to api.example.com:80 (talkdesk)\n"),
        "{xml}"
    );
    validate_junit(&dir.join("junit.xml"));
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("<div class=\"insecure\""), "{html}");
    assert!(html.contains("<li>cleartext http to api.example.com:80 (talkdesk)</li>"));
    let console = report::console::summary(&r);
    assert!(console.contains("\ninsecure: --insecure: TLS certificates were not verified\n"));

    let safe = summary_json(&{
        let d = scratch("reports-secure");
        report::write_all(&d, &every_kind(), &Redactor::default()).unwrap();
        d
    });
    assert_eq!(safe["insecure"], serde_json::json!([]));

    // No case ran: the record still has a suite to sit on.
    let d = scratch("reports-insecure-empty");
    let mut empty = run_of(vec![]);
    empty.insecure = r.insecure.clone();
    report::write_all(&d, &empty, &Redactor::default()).unwrap();
    let xml = std::fs::read_to_string(d.join("junit.xml")).unwrap();
    assert!(xml.contains("tokenconf.insecure"), "{xml}");
    validate_junit(&d.join("junit.xml"));
}

/// Validates against the Jenkins schema when xmllint is there (see [`xmllint`]).
fn validate_junit(file: &Path) {
    let Some(bin) = xmllint() else { return };
    let out = Command::new(bin)
        .arg("--noout")
        .arg("--schema")
        .arg(schema())
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xmllint rejected {}:\n{}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

/// What a hostile server would send to take over the terminal reading the output.
const HOSTILE: &str =
    "boom\x1b[2J\x1b[H\x1b]0;pwned\x07\r\ntest result: ok. 99 passed\u{9b}31m\u{202e}";

#[test]
fn control_characters_from_servers_and_suites_are_escaped_in_console_and_diff_output() {
    let mut errored = case("talkdesk/token", "errors", Status::Errored);
    errored.reason = Some(HOSTILE.into());
    let mut skipped = case("talkdesk/token", "skips", Status::Skipped);
    skipped.reason = Some(HOSTILE.into());
    let mut bad = failed("talkdesk/token", "fails on a hostile response");
    bad.case = format!("suite text {HOSTILE}");
    bad.step = Some(HOSTILE.into());
    bad.findings[0].message = HOSTILE.into();
    bad.findings[0].actual = Some(HOSTILE.into());
    let snapshot = bad.response.as_mut().unwrap();
    snapshot.headers.push(("x-evil".into(), HOSTILE.into()));
    snapshot.json = None;
    snapshot.text = Some(format!("line one\n{HOSTILE}\nline three"));
    let mut warned = case("talkdesk/token", "warns", Status::Passed);
    warned.findings.push(finding(
        "RFC6749-5.1-pragma",
        Level::Should,
        "x",
        HOSTILE,
        None,
    ));
    warned.findings[0].message = HOSTILE.into();
    let mut r = run_of(vec![errored, skipped, bad, warned]);
    r.insecure = vec![HOSTILE.into()];

    let is_clean = |text: &str, what: &str| {
        for bad in ['\x1b', '\x07', '\r', '\u{9b}', '\u{202e}'] {
            assert!(!text.contains(bad), "{what} holds {bad:?}:\n{text}");
        }
        let fake = text
            .lines()
            .filter(|l| l.trim_start().starts_with("test result: ok"))
            .count();
        assert_eq!(fake, 0, "{what} has a line a server wrote:\n{text}");
        assert!(
            text.contains("\\x1b[2J"),
            "{what} shows the escape:\n{text}"
        );
    };
    for o in &r.outcomes[..2] {
        let line = report::console::case_line(o);
        assert!(!line.contains('\n'), "{line}");
        is_clean(&line, "a case line");
        let painted = report::console::styled_case_line(o, &report::Styles::colored());
        assert!(
            painted.starts_with("test talkdesk/token::"),
            "colour codes are ours only: {painted:?}"
        );
        assert_eq!(painted.matches('\x1b').count(), 2, "{painted:?}");
    }
    let summary = report::console::summary(&r);
    is_clean(&summary, "the closing summary");
    assert!(summary.contains("\\r\\ntest result: ok. 99 passed\\u{9b}31m\\u{202e}"));

    let dir = scratch("reports-control");
    report::write_all(&dir, &r, &Redactor::default()).unwrap();
    let v = summary_json(&dir);
    let diff = std::fs::read_to_string(dir.join(v["cases"][2]["diff"].as_str().unwrap())).unwrap();
    is_clean(&diff, "the diff file");
    assert!(diff.contains("\n line one\\nboom\\x1b[2J"), "{diff}");
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    is_clean(&xml, "junit.xml");
    validate_junit(&dir.join("junit.xml"));
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    is_clean(&html, "index.html");
}

/// The real binary against a loopback server whose answer tries to drive the terminal: what
/// the run prints and writes shows the escapes instead of obeying them.
#[test]
fn a_hostile_answer_cannot_drive_the_terminal_through_the_binary() {
    use std::io::{Read, Write};
    let dir = scratch("reports-hostile-binary");
    let body = "<html>\x1b[2J\x1b]0;pwned\x07\rtest result: ok. 99 passed\u{9b}31m</html>";
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let _ = s.write_all(response.as_bytes());
        }
    });
    let targets = dir.join("targets.yaml");
    std::fs::write(
        &targets,
        format!("targets:\n  t:\n    oauth2:\n      base_url: \"http://127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let suite = dir.join("hostile.yaml");
    std::fs::write(
        &suite,
        "api: oauth2\ncases:\n  - name: hostile\n    request: { path: /token, form: { grant_type: client_credentials } }\n    expect:\n      status: 200\n      json:\n        $.access_token: exists\n",
    )
    .unwrap();
    let reports = dir.join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_tokenconf"))
        .args(["run", suite.to_str().unwrap(), "--targets"])
        .arg(&targets)
        .args(["--target", "t", "--report-dir"])
        .arg(&reports)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    for (what, text) in [("stdout", &*stdout), ("stderr", &*stderr)] {
        for bad in ['\x1b', '\x07', '\r', '\u{9b}'] {
            assert!(!text.contains(bad), "{what} holds {bad:?}:\n{text}");
        }
        let ours = text
            .lines()
            .filter(|l| l.starts_with("test result: "))
            .count();
        assert!(ours <= 1, "{what}:\n{text}");
    }
    assert!(stdout.contains("\\x1b[2J"), "{stdout}");
    assert!(stdout.contains("test result: FAILED"), "{stdout}");
    let diffs: Vec<PathBuf> = walk(&reports.join("diffs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "diff"))
        .collect();
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    let diff = std::fs::read_to_string(&diffs[0]).unwrap();
    assert!(
        !diff.contains('\x1b') && diff.contains("\\x1b]0;pwned\\x07"),
        "{diff}"
    );
}

/// `tokenconf run` with `args`, reports in `reports`: its exit code and stdout.
fn run_binary(reports: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tokenconf"))
        .arg("run")
        .args(args)
        .arg("--report-dir")
        .arg(reports)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn expected_findings_and_resolved_entries_are_reported_apart_from_failures() {
    let dir = scratch("reports-expected");
    let file = dir.join("expected.yaml");
    let file_arg = file.to_str().unwrap();
    let drifted = [
        "--filter",
        "salesforce/token",
        "--mock-drift",
        "sf-issued-at-seconds",
    ];
    // A breaking drift, its findings written as a starting file, then accepted with reasons.
    let (code, out) = run_binary(
        &dir.join("first"),
        &[&drifted[..], &["--write-expected", file_arg]].concat(),
    );
    assert_eq!(code, Some(1), "{out}");
    let written = std::fs::read_to_string(&file).unwrap();
    // issued_at differs at every run: the written entries pin each value, so they are widened
    // here on purpose.
    let ours: String = written
        .replace(
            "reason: \"seen against",
            "reason: \"issued_at in seconds <&> 'quoted': seen against",
        )
        .lines()
        .map(|l| match l.starts_with("  actual: ") {
            true => "  widen: [any_actual]\n".to_string(),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&file, ours).unwrap();
    let reports = dir.join("accepted");
    let (code, out) = run_binary(
        &reports,
        &[&drifted[..], &["--expected", file_arg]].concat(),
    );
    assert_eq!(code, Some(0), "{out}");

    let v = summary_json(&reports);
    let expected = v["counts"]["expected"].as_u64().unwrap();
    assert!(expected > 0, "{v}");
    assert_eq!(v["counts"]["failed"], 0);
    let list = v["expected"].as_array().unwrap();
    assert_eq!(list.len() as u64, expected);
    assert!(list.iter().any(|e| e["rule"] == "SF-issued_at"), "{v}");
    assert!(list[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("issued_at in seconds <&> 'quoted'"));

    let xml = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(
        !xml.contains("<failure"),
        "an expected finding failed:\n{xml}"
    );
    assert!(xml.contains("<system-out>"), "{xml}");
    assert!(
        xml.contains(
            "expected findings (listed in the expected-findings file; never failing):\n[EXPECTED] "
        ),
        "{xml}"
    );
    assert!(xml.contains("\n[EXPECTED] SF-issued_at: "), "{xml}");
    assert!(
        xml.contains("    reason: issued_at in seconds &lt;&amp;&gt; &apos;quoted&apos;"),
        "{xml}"
    );
    assert!(
        xml.contains("<property name=\"tokenconf.expected\" value=\""),
        "{xml}"
    );
    validate_junit(&reports.join("junit.xml"));

    let html = std::fs::read_to_string(reports.join("index.html")).unwrap();
    let section = html
        .find("<section id=\"expected-findings\">")
        .expect("an expected-findings section");
    assert!(html[section..].contains("issued_at in seconds &lt;&amp;&gt; &apos;quoted&apos;"));
    assert!(
        html.contains("<p class=\"none\">No case failed or errored.</p>"),
        "no failures"
    );
    assert!(html.contains("class=\"level-expected\""));

    // The same file on a clean run: every entry is resolved, nothing is expected.
    let clean = dir.join("clean");
    let (code, out) = run_binary(
        &clean,
        &["--filter", "salesforce/token", "--expected", file_arg],
    );
    assert_eq!(code, Some(0), "{out}");
    let v = summary_json(&clean);
    let entries = written.matches("- test:").count() as u64;
    assert_eq!(v["counts"]["resolved"].as_u64(), Some(entries), "{v}");
    assert_eq!(v["counts"]["expected"], 0);
    assert_eq!(v["expected"], serde_json::json!([]));
    let xml = std::fs::read_to_string(clean.join("junit.xml")).unwrap();
    assert_eq!(
        xml.matches(" no longer occurs; remove the entry at ")
            .count() as u64,
        entries,
        "{xml}"
    );
    assert!(
        xml.contains("<property name=\"tokenconf.resolved\" value=\""),
        "{xml}"
    );
    validate_junit(&clean.join("junit.xml"));
    let html = std::fs::read_to_string(clean.join("index.html")).unwrap();
    let section = html
        .find("<section id=\"resolved\">")
        .expect("a resolved section");
    assert!(html[section..].contains("expected.yaml:"));
    assert!(!html.contains("<section id=\"expected-findings\">"));
}

#[test]
fn junit_keeps_suites_whose_names_escape_alike_in_one_testsuite() {
    // A newline and a backslash-n are both written `a\nb`: one suite name in junit.xml, once.
    let mut report = every_kind();
    report.outcomes = vec![
        case("a\nb", "first", Status::Passed),
        case("a\\nb", "second", Status::Passed),
    ];
    let xml = report::junit::render(&report::Redacted::new(&report, &Redactor::default()));
    assert_eq!(xml.matches("<testsuite ").count(), 1, "{xml}");
    assert!(xml.contains("tests=\"2\""), "{xml}");
}
