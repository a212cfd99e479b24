//! JUnit XML (quick-junit): one testcase per case, classname = suite. Text from suites and
//! servers has its control characters escaped (quick-junit would silently drop escape
//! sequences; shown, they tell a reader something tried).

use std::fmt::Write;

use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::escape::escape_control as esc;
use crate::finding::Finding;
use crate::outcome::{CaseOutcome, RunReport, Status};

/// junit.xml, scrubbed once more after rendering.
pub fn render(report: &super::RedactedReport) -> String {
    report.scrub(&render_xml(report))
}

fn render_xml(report: &RunReport) -> String {
    let mut junit = Report::new("tokenconf");
    junit.set_time(report.duration);
    let mut suites: Vec<TestSuite> = Vec::new();
    for o in &report.outcomes {
        let case = test_case(o, report.strict);
        let name = esc(&o.suite);
        match suites.iter_mut().find(|s| s.name.as_str() == name) {
            Some(s) => {
                s.add_test_case(case);
            }
            None => {
                let mut s = TestSuite::new(name.into_owned());
                s.add_test_case(case);
                suites.push(s);
            }
        }
    }
    if suites.is_empty() && !report.insecure.is_empty() {
        // Nowhere else to record it: the root element takes no properties.
        suites.push(TestSuite::new("tokenconf"));
    }
    for s in &mut suites {
        let time = s.test_cases.iter().filter_map(|c| c.time).sum();
        s.set_time(time);
        mark_insecure(s, &report.insecure);
    }
    junit.add_test_suites(suites);
    let xml = junit
        .to_string()
        .unwrap_or_else(|e| format!("<!-- JUnit serialization failed: {e} -->"));
    without_root_skipped(xml)
}

/// An insecure run says so on every suite, where CI shows it: a `tokenconf.insecure` property
/// (the reasons, `; `-separated) and a line each in the suite's `<system-out>`.
fn mark_insecure(suite: &mut TestSuite, insecure: &[String]) {
    if insecure.is_empty() {
        return;
    }
    let reasons: Vec<String> = insecure.iter().map(|n| esc(n).into_owned()).collect();
    suite.add_property(Property::new("tokenconf.insecure", reasons.join("; ")));
    let mut out = String::new();
    for r in &reasons {
        let _ = writeln!(out, "insecure: {r}");
    }
    suite.set_system_out(out);
}

/// Jenkins' JUnit schema has no `skipped` attribute on `<testsuites>` (only on `<testsuite>`),
/// and quick-junit always writes one; drop it so the file validates.
fn without_root_skipped(xml: String) -> String {
    let Some(start) = xml.find("<testsuites ") else {
        return xml;
    };
    let end = xml[start..].find('>').map_or(xml.len(), |e| start + e);
    let tag = &xml[start..end];
    match tag.find(" skipped=\"") {
        Some(at) => {
            let value_end = tag[at + 10..]
                .find('"')
                .map_or(tag.len(), |e| at + 10 + e + 1);
            format!("{}{}{}", &xml[..start + at], &tag[value_end..], &xml[end..])
        }
        None => xml,
    }
}

fn line(f: &Finding) -> String {
    format!("[{}] {}: {}", f.level.name(), esc(&f.rule), esc(&f.message))
}

fn body(findings: &[&Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(out, "{}", line(f));
        for (label, value) in [
            ("path", &f.path),
            ("expected", &f.expected),
            ("actual", &f.actual),
            ("source", &f.source),
        ] {
            if let Some(v) = value {
                let _ = writeln!(out, "    {label}: {}", esc(v));
            }
        }
    }
    out
}

/// Retried attempts: `<flakyError>` on a case that then passed, `<rerunError>` on one that did
/// not. Retries happen only for transport errors, 5xx and 429: infrastructure, so errors.
fn reruns(o: &CaseOutcome) -> Vec<TestRerun> {
    o.retries
        .iter()
        .map(|r| {
            // The schema's rerunType allows only `message` and `type`: no time or timestamp.
            let mut rerun = TestRerun::new(NonSuccessKind::Error);
            rerun.set_message(esc(&r.reason).into_owned());
            rerun.set_type(r.kind.name());
            rerun
        })
        .collect()
}

fn test_case(o: &CaseOutcome, strict: bool) -> TestCase {
    let failures: Vec<&Finding> = o.failures(strict).collect();
    let warnings: Vec<&Finding> = o.warnings(strict).collect();
    let mut status = match o.status {
        Status::Passed => TestCaseStatus::success(),
        Status::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(esc(o.reason.as_deref().unwrap_or_default()).into_owned());
            s
        }
        Status::Failed => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let first = failures
                .first()
                .map(|f| line(f))
                .or_else(|| o.reason.as_deref().map(|r| esc(r).into_owned()))
                .unwrap_or_default();
            s.set_message(first);
            s.set_type(
                failures
                    .first()
                    .map_or_else(|| "conformance".to_string(), |f| esc(&f.rule).into_owned()),
            );
            let mut text = String::new();
            if let Some(step) = &o.step {
                let _ = writeln!(text, "at {}", esc(step));
            }
            text.push_str(&body(&failures));
            if let Some(unified) = super::diff::case_diff(o, strict).and_then(|d| d.unified) {
                text.push('\n');
                text.push_str(&unified);
            }
            s.set_description(text);
            s
        }
        Status::Errored => {
            let reason = esc(o.reason.as_deref().unwrap_or_default()).into_owned();
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            // An errored outcome always has a kind; "error" only for one built by hand.
            s.set_type(o.error_kind.map_or("error", |k| k.name()));
            let mut text = String::new();
            if let Some(step) = &o.step {
                let _ = writeln!(text, "at {}", esc(step));
            }
            let _ = writeln!(text, "{reason}");
            s.set_message(reason);
            s.set_description(text);
            s
        }
    };
    let earlier = reruns(o);
    if !earlier.is_empty() {
        status.add_reruns(earlier);
    }
    let mut case = TestCase::new(esc(&o.case).into_owned(), status);
    case.set_classname(esc(&o.suite).into_owned());
    case.set_time(o.duration);
    let mut out = String::new();
    if let Some(tries) = o.tries() {
        let what = if o.is_flaky() {
            "flaky: passed on attempt"
        } else {
            "attempts:"
        };
        let _ = writeln!(out, "{what} {tries}");
        for r in &o.retries {
            let _ = writeln!(
                out,
                "    retried: {} (waited {} ms)",
                esc(&r.reason),
                r.waited.as_millis()
            );
        }
    }
    out.push_str(&body(&warnings));
    if !out.is_empty() {
        case.set_system_out(out);
    }
    case
}
