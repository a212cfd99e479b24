//! JUnit XML (quick-junit): one testcase per case, classname = suite. Text from suites and
//! servers has its control characters escaped (quick-junit would silently drop escape
//! sequences; shown, they tell a reader something tried).

use std::fmt::Write;

use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite, XmlString,
};

use super::escape::escape_control as esc;
use crate::expected::Resolved;
use crate::finding::{Finding, Level};
use crate::outcome::{CaseOutcome, RunReport, Status};

/// junit.xml, scrubbed once more after rendering.
pub fn render(report: &super::RedactedReport) -> String {
    render_with(report, false)
}

/// junit.xml; with `file_attributes`, each `<testcase>` also carries `file` and `line` as GitLab
/// and JUnit report actions read them, which Jenkins' schema does not allow there.
pub fn render_with(report: &super::RedactedReport, file_attributes: bool) -> String {
    report.scrub(render_xml(report, file_attributes))
}

fn render_xml(report: &RunReport, file_attributes: bool) -> String {
    let mut junit = Report::new("tokenconf");
    junit.set_time(report.duration);
    let resolved: Vec<(&Resolved, globset::GlobMatcher)> = report
        .resolved
        .iter()
        .map(|r| (r, test_matcher(&r.test)))
        .collect();
    // Each suite with its classname and its counts of expected findings and resolved entries.
    let mut suites: Vec<(TestSuite, XmlString, usize, usize)> = Vec::new();
    // Each suite's cases reserved up front: grown by doubling, 10,000 cases were copied twice.
    let mut per_suite: std::collections::HashMap<&str, usize> = Default::default();
    for o in &report.outcomes {
        *per_suite.entry(o.suite.as_str()).or_default() += 1;
    }
    // Each case's testcase, its count of expected findings and of resolved entries: built on
    // every core (quick-junit parses each text it is given for ANSI escapes, most of rendering
    // a passing run's junit.xml, which otherwise finished last of the three reports).
    let built = in_parallel(&report.outcomes, |o| {
        let gone: Vec<&Resolved> = resolved
            .iter()
            .filter(|(_, m)| m.is_match(&o.test))
            .map(|(r, _)| *r)
            .collect();
        let expected = o
            .findings
            .iter()
            .filter(|f| f.level == Level::Expected)
            .count();
        let mut case = test_case(o, report.strict, &gone);
        if file_attributes && !o.file.is_empty() {
            case.extra
                .insert("file".into(), esc(&o.file).into_owned().into());
            case.extra.insert("line".into(), o.line.to_string().into());
        }
        (case, expected, gone.len())
    });
    // By the escaped name, as the suites are written: two names may escape alike.
    let mut at_of: std::collections::HashMap<std::borrow::Cow<str>, usize> = Default::default();
    for (o, (mut case, expected, gone)) in report.outcomes.iter().zip(built.into_iter().flatten()) {
        let escaped = esc(&o.suite);
        let at = match at_of.get(&escaped) {
            Some(&at) => at,
            None => {
                // The target in the suite's name: a CI matrix over targets keeps one suite per
                // target. Made once per suite: quick-junit parses every string it is given for
                // ANSI escapes, half of rendering a passing run's junit.xml.
                let name = format!("{} [{}]", escaped, esc(&report.target));
                let classname = XmlString::new(name);
                let mut suite = TestSuite::new(classname.clone());
                suite
                    .test_cases
                    .reserve(per_suite.get(o.suite.as_str()).copied().unwrap_or(0));
                // Jenkins' schema takes `file` on `<testsuite>`, not on `<testcase>`: each
                // case's line is in its failure text.
                if !o.file.is_empty() {
                    suite
                        .extra
                        .insert("file".into(), esc(&o.file).into_owned().into());
                }
                suites.push((suite, classname, 0, 0));
                at_of.insert(escaped, suites.len() - 1);
                suites.len() - 1
            }
        };
        let (suite, classname, n_expected, n_resolved) = &mut suites[at];
        case.set_classname(classname.clone());
        suite.add_test_case(case);
        *n_expected += expected;
        *n_resolved += gone;
    }
    if suites.is_empty() && !report.insecure.is_empty() {
        // Nowhere else to record it: the root element takes no properties.
        suites.push((TestSuite::new("tokenconf"), XmlString::new(""), 0, 0));
    }
    let hints: Vec<String> = super::console::target_hints(report)
        .iter()
        .map(|h| esc(h).into_owned())
        .collect();
    let suites = suites.into_iter().map(|(mut s, _, expected, resolved)| {
        let time = s.test_cases.iter().filter_map(|c| c.time).sum();
        s.set_time(time);
        mark_insecure(&mut s, &report.insecure, &hints);
        mark_suites(&mut s, &report.suites);
        // `<testcase>` takes no properties in Jenkins' schema: the counts go on its suite,
        // each finding and entry in the case's `<system-out>`.
        if expected > 0 {
            s.add_property(Property::new("tokenconf.expected", expected.to_string()));
        }
        if resolved > 0 {
            s.add_property(Property::new("tokenconf.resolved", resolved.to_string()));
        }
        if !report.user_deviations.is_empty() {
            let lines: Vec<String> = (report.user_deviations.iter())
                .map(|d| esc(&d.to_string()).into_owned())
                .collect();
            s.add_property(Property::new("tokenconf.user-deviations", lines.join("; ")));
        }
        s
    });
    junit.add_test_suites(suites);
    let halves = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    without_root_skipped(serialized(junit, halves))
}

/// Test cases above which a report's suites are written in two halves at once.
const HALVES_FROM: usize = 1000;

/// The report as quick-junit writes it. A large one with several suites is written as two
/// reports on two threads, the second holding the later half of the suites (by cases), and
/// joined where the second's suites begin: the root element is the first's, with the whole
/// report's counts. Written whole, a passing run's 10,000 testcases were the last 10 ms of the
/// reports, on one core.
fn serialized(mut junit: Report, halves: bool) -> String {
    let cases: Vec<usize> = (junit.test_suites.iter())
        .map(|s| s.test_cases.len())
        .collect();
    let total: usize = cases.iter().sum();
    let mut later = Report::new("");
    if let Some(at) = halves.then(|| second_half(&cases)).flatten() {
        later.test_suites = junit.test_suites.split_off(at);
        // The first half's room is for every case: the second is joined into it.
        let (first, second) = std::thread::scope(|scope| {
            let second = scope.spawn(|| xml(&later, cases[at..].iter().sum()));
            (xml(&junit, total), second.join())
        });
        if let (Ok(first), Ok(Ok(second))) = (first, second) {
            if let Some(joined) = joined(first, &second) {
                return joined;
            }
        }
        junit.test_suites.append(&mut later.test_suites);
    }
    xml(&junit, total).unwrap_or_else(|e| format!("<!-- JUnit serialization failed: {e} -->"))
}

/// The report as quick-junit writes it, into room reserved for `cases` test cases (a passing
/// one takes ~170 bytes).
fn xml(junit: &Report, cases: usize) -> Result<String, String> {
    let mut out = Vec::with_capacity(super::room(cases, 512) + 4096);
    junit.serialize(&mut out).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Where the second half of suites with these numbers of cases begins: the first suite that
/// starts at or past half the cases, if it is not the first, and there are enough cases.
fn second_half(cases: &[usize]) -> Option<usize> {
    let total: usize = cases.iter().sum();
    let mut seen = 0;
    let at = cases.iter().position(|&n| {
        let starts_at = seen;
        seen += n;
        2 * starts_at >= total
    })?;
    (at > 0 && total >= HALVES_FROM).then_some(at)
}

/// The first report up to its last `</testsuite>`, then the second's suites: all after its
/// root's start tag (no attribute holds a raw `>`: quick-xml escapes it). Joined in the first's
/// own room.
fn joined(mut first: String, second: &str) -> Option<String> {
    let cut = first.rfind("\n</testsuites>")?;
    let at = second.find("<testsuites")?;
    let from = at + second[at..].find('>')? + 1;
    first.truncate(cut);
    first.push_str(&second[from..]);
    Some(first)
}

/// `f` of each item, in order (chunk by chunk), on every core once there are enough items to
/// share. The chunks are not joined: each result would be copied once more.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<Vec<R>> {
    const AT_LEAST: usize = 500;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len() / AT_LEAST)
        .max(1);
    if threads == 1 {
        return vec![items.iter().map(f).collect()];
    }
    let f = &f;
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut chunks = items.chunks(chunk);
        let first = chunks.next().unwrap_or_default();
        let others: Vec<_> = chunks
            .map(|c| scope.spawn(move || c.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut all = Vec::with_capacity(threads);
        all.push(first.iter().map(f).collect());
        for other in others {
            match other.join() {
                Ok(done) => all.push(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    })
}

/// An entry's test glob as the expected-findings file compiled it; one that does not compile
/// (it did at load) matches its own text only.
fn test_matcher(glob: &str) -> globset::GlobMatcher {
    globset::Glob::new(glob)
        .or_else(|_| globset::Glob::new(&globset::escape(glob)))
        .map(|g| g.compile_matcher())
        .unwrap_or_else(|_| globset::Glob::new("").unwrap().compile_matcher())
}

/// Which suites ran, on every suite: `tokenconf.suites` (built-in or files), `tokenconf.version`
/// (when built in) and `tokenconf.suites.digest`.
fn mark_suites(suite: &mut TestSuite, suites: &crate::outcome::SuitesVersion) {
    if suites.digest.is_empty() {
        return;
    }
    suite.add_property(Property::new("tokenconf.suites", suites.from));
    if let Some(version) = suites.version {
        suite.add_property(Property::new("tokenconf.version", version));
    }
    suite.add_property(Property::new(
        "tokenconf.suites.digest",
        suites.digest.as_str(),
    ));
}

/// An insecure run says so on every suite, where CI shows it: a `tokenconf.insecure` property
/// (the reasons, `; `-separated) and a line each in the suite's `<system-out>`. So does a hint
/// at one cause behind many failures (`tokenconf.hints`, `hint:` lines).
fn mark_insecure(suite: &mut TestSuite, insecure: &[String], hints: &[String]) {
    let mut out = String::new();
    if !insecure.is_empty() {
        let reasons: Vec<String> = insecure.iter().map(|n| esc(n).into_owned()).collect();
        suite.add_property(Property::new("tokenconf.insecure", reasons.join("; ")));
        for r in &reasons {
            let _ = writeln!(out, "insecure: {r}");
        }
    }
    if !hints.is_empty() {
        suite.add_property(Property::new("tokenconf.hints", hints.join("; ")));
        for h in hints {
            let _ = writeln!(out, "hint: {h}");
        }
    }
    if !out.is_empty() {
        suite.set_system_out(out);
    }
}

/// Jenkins' JUnit schema has no `skipped` attribute on `<testsuites>` (only on `<testsuite>`),
/// and quick-junit always writes one; drop it so the file validates.
fn without_root_skipped(mut xml: String) -> String {
    let Some(start) = xml.find("<testsuites ") else {
        return xml;
    };
    let end = xml[start..].find('>').map_or(xml.len(), |e| start + e);
    let tag = &xml[start..end];
    if let Some(at) = tag.find(" skipped=\"") {
        let value_end = tag[at + 10..]
            .find('"')
            .map_or(tag.len(), |e| at + 10 + e + 1);
        // In place: the report is megabytes, and the attribute is near its start.
        xml.replace_range(start + at..start + value_end, "");
    }
    xml
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
            ("reason", &f.accepted),
        ] {
            if let Some(v) = value {
                let _ = writeln!(out, "    {label}: {}", esc(v));
            }
        }
    }
    out
}

/// `suite file:line` of the case, on a line of its own; empty when unknown.
fn location(o: &CaseOutcome) -> String {
    if o.file.is_empty() {
        return String::new();
    }
    format!("{}:{}\n", esc(&o.file), o.line)
}

/// Each request the case sent, masked: `request (step):` then its lines, indented.
fn requests(o: &CaseOutcome) -> String {
    let mut out = String::new();
    for q in &o.requests {
        let _ = writeln!(out, "request ({}):", esc(&q.step));
        for line in q.lines() {
            let _ = writeln!(out, "{}", format!("    {}", esc(&line)).trim_end());
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

/// One case; `resolved` are the expected-findings entries naming it that matched nothing.
fn test_case(o: &CaseOutcome, strict: bool, resolved: &[&Resolved]) -> TestCase {
    let failures: Vec<&Finding> = o.failures(strict).collect();
    let (expected, warnings): (Vec<&Finding>, Vec<&Finding>) =
        o.warnings(strict).partition(|f| f.level == Level::Expected);
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
            let mut text = location(o);
            if let Some(step) = &o.step {
                let _ = writeln!(text, "at {}", esc(step));
            }
            text.push_str(&body(&failures));
            text.push_str(&requests(o));
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
            let mut text = location(o);
            if let Some(step) = &o.step {
                let _ = writeln!(text, "at {}", esc(step));
            }
            let _ = writeln!(text, "{reason}");
            text.push_str(&requests(o));
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
    case.set_time(o.duration);
    // Jenkins' schema allows no `file` or `line` on `<testcase>`: every case's output opens
    // with `file:line`, where a reader (or a script) finds the case in its suite.
    let mut out = location(o);
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
    if !expected.is_empty() {
        let _ = writeln!(
            out,
            "expected findings (listed in the expected-findings file; never failing):"
        );
        out.push_str(&body(&expected));
    }
    for r in resolved {
        let _ = writeln!(
            out,
            "resolved: {} no longer occurs; remove the entry at {}\n    reason: {}",
            esc(&r.rule),
            esc(&r.at),
            esc(&r.reason)
        );
    }
    if !out.is_empty() {
        case.set_system_out(out);
    }
    case
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_written_in_two_halves_is_the_report_written_whole() {
        let report = |suites: &[usize]| {
            let mut r = Report::new("tokenconf");
            r.set_time(std::time::Duration::from_millis(1234));
            for (i, &n) in suites.iter().enumerate() {
                let mut suite = TestSuite::new(format!("suite {i} <&>"));
                suite.add_property(Property::new("tokenconf.suites", "files"));
                for c in 0..n {
                    let status = match c % 3 {
                        0 => TestCaseStatus::success(),
                        1 => TestCaseStatus::non_success(NonSuccessKind::Failure),
                        _ => TestCaseStatus::skipped(),
                    };
                    let mut case = TestCase::new(format!("case {c} \"q\" >"), status);
                    case.set_system_out(format!("line {c}\n> quoted"));
                    suite.add_test_case(case);
                }
                r.add_test_suite(suite);
            }
            r
        };
        // Each layout with where its second half begins (none: written whole).
        for (suites, at) in [
            (vec![600, 600], Some(1)),
            (vec![1, 1, 1, 2000], None),
            (vec![2000, 1, 1], Some(1)),
            (vec![300, 300, 300, 300, 300], Some(3)),
            (vec![0, 1200, 0], Some(2)),
            (vec![5000], None),
            (vec![10, 10], None),
        ] {
            assert_eq!(second_half(&suites), at, "{suites:?}");
            let whole = report(&suites).to_string().unwrap();
            assert_eq!(serialized(report(&suites), true), whole, "{suites:?}");
        }
    }

    #[test]
    fn only_the_root_loses_its_skipped_count() {
        let xml = "<?xml?>\n<testsuites name=\"t\" tests=\"2\" skipped=\"1\" time=\"0.1\">\n\
                   <testsuite name=\"s\" tests=\"2\" skipped=\"1\">";
        assert_eq!(
            without_root_skipped(xml.to_string()),
            "<?xml?>\n<testsuites name=\"t\" tests=\"2\" time=\"0.1\">\n\
             <testsuite name=\"s\" tests=\"2\" skipped=\"1\">"
        );
        let none = "<testsuites name=\"t\" tests=\"0\"><testsuite skipped=\"0\">";
        assert_eq!(without_root_skipped(none.to_string()), none);
    }
}
