//! Console output that reads like `cargo test`. Every text from a suite or a server is
//! interpolated through [`esc`], so it stays on its line and cannot drive the terminal: a
//! response cannot clear the screen, retitle the window, or start a line of its own such as a
//! fake `test result: ok` (its newlines print as `\n`).
//!
//! Colour comes from a [`Styles`] value, applied to each part as it is rendered (the session
//! masked the outcomes before, so colour codes never split a secret). The functions without a
//! `styled_` prefix render plain text.

use std::fmt::Write;

use super::escape::escape_control as esc;
use super::style::{paint, paint_diff, Styles};
use crate::finding::Finding;
use crate::http::TransportKind;
use crate::outcome::{CaseOutcome, ErrorKind, RunReport, Status};

/// Colour on a terminal only, and never with `NO_COLOR` set (<https://no-color.org>) or a dumb one.
pub fn colour_wanted(is_terminal: bool) -> bool {
    is_terminal
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// `test suite::case ... ok`, plain.
pub fn case_line(o: &CaseOutcome) -> String {
    styled_case_line(o, &Styles::plain())
}

/// `test suite::case ... ok`, the verdict in its style.
pub fn styled_case_line(o: &CaseOutcome, styles: &Styles) -> String {
    let (style, verdict): (_, std::borrow::Cow<str>) = match o.status {
        Status::Passed if o.is_flaky() => (
            styles.ok,
            format!("ok (flaky: passed on attempt {})", o.tries().unwrap_or(1)).into(),
        ),
        Status::Passed => (styles.ok, "ok".into()),
        Status::Failed => (styles.failed, "FAILED".into()),
        Status::Errored => (
            styles.error,
            format!("ERROR ({})", esc(o.reason.as_deref().unwrap_or(""))).into(),
        ),
        Status::Skipped => (
            styles.skipped,
            format!("skipped ({})", esc(o.reason.as_deref().unwrap_or(""))).into(),
        ),
    };
    format!("test {} ... {}", esc(&o.test), paint(style, &verdict))
}

/// `[MUST]` in the level's style.
fn level_tag(f: &Finding, styles: &Styles) -> String {
    paint(styles.level(f.level), &format!("[{}]", f.level.name()))
}

fn finding_block(out: &mut String, f: &Finding, styles: &Styles) {
    let _ = writeln!(
        out,
        "  {} {}: {}",
        level_tag(f, styles),
        esc(&f.rule),
        esc(&f.message)
    );
    if let Some(e) = &f.expected {
        let _ = writeln!(out, "      expected: {}", esc(e));
    }
    if let Some(a) = &f.actual {
        let _ = writeln!(out, "      actual:   {}", esc(a));
    }
    if let Some(s) = &f.source {
        let _ = writeln!(out, "      source:   {}", esc(s));
    }
    // An expected finding is listed with why the user accepts it.
    if let Some(r) = &f.accepted {
        let _ = writeln!(out, "      reason:   {}", esc(r));
    }
}

/// Each request a case sent (masked), indented under a `request:` line, for the details of a
/// failing case and `--verbose`; empty when the outcome kept none.
pub fn requests(o: &CaseOutcome) -> String {
    let mut out = String::new();
    let many = o.requests.len() > 1;
    for q in &o.requests {
        if many {
            let _ = writeln!(out, "  request ({}):", esc(&q.step));
        } else {
            out.push_str("  request:\n");
        }
        for line in q.lines() {
            let _ = writeln!(out, "{}", format!("    {}", esc(&line)).trim_end());
        }
    }
    out
}

/// Every finding of a failed or errored case, plain.
pub fn details(o: &CaseOutcome, strict: bool) -> String {
    styled_details(o, strict, &Styles::plain())
}

/// Every finding of a failed or errored case, and its diff, in their styles.
pub fn styled_details(o: &CaseOutcome, strict: bool, styles: &Styles) -> String {
    let mut out = format!("---- {} ----\n", esc(&o.test));
    if let Some(step) = &o.step {
        let _ = writeln!(out, "  at {}", esc(step));
    }
    if o.status == Status::Errored {
        let _ = writeln!(
            out,
            "  error: {}",
            esc(o.reason.as_deref().unwrap_or("unknown"))
        );
    }
    out.push_str(&requests(o));
    for f in o.failures(strict) {
        finding_block(&mut out, f, styles);
    }
    for f in o.warnings(strict) {
        finding_block(&mut out, f, styles);
    }
    for (i, r) in o.retries.iter().enumerate() {
        let _ = writeln!(
            out,
            "  attempt {} retried: {} (waited {} ms)",
            i + 1,
            esc(&r.reason),
            r.waited.as_millis()
        );
    }
    // The findings are listed above; the diff file's own header would repeat them.
    if let Some(unified) = super::diff::case_diff(o, strict).and_then(|d| d.unified) {
        out.push('\n');
        out.push_str(&paint_diff(styles, &unified));
    }
    out
}

/// Errored cases that could not reach one origin the same way: `(origin, what happened,
/// tests)`, for groups of two cases or more. One line tells them all.
pub fn unreachable(report: &RunReport) -> Vec<(String, String, Vec<&str>)> {
    let mut groups: Vec<(String, String, Vec<&str>)> = Vec::new();
    for o in &report.outcomes {
        let (Some(ErrorKind::Transport(kind)), Some(origin)) = (o.error_kind, &o.origin) else {
            continue;
        };
        let refused = o
            .reason
            .as_deref()
            .is_some_and(|r| r.to_ascii_lowercase().contains("refused"));
        let what = match kind {
            TransportKind::Connect if refused => "connection refused",
            TransportKind::Connect => "could not connect",
            TransportKind::Dns => "the host name does not resolve",
            TransportKind::Tls => "TLS failed",
            _ => continue,
        };
        match groups.iter_mut().find(|(g, w, _)| g == origin && w == what) {
            Some((_, _, tests)) => tests.push(&o.test),
            None => groups.push((origin.clone(), what.to_string(), vec![&o.test])),
        }
    }
    groups.retain(|(_, _, tests)| tests.len() > 1);
    groups
}

/// One line per cause that explains many failures at once: an origin that cannot be reached,
/// or a target that answered every request with the same page that is not JSON (most often a
/// `base_url` that is not the OAuth server).
pub fn target_hints(report: &RunReport) -> Vec<String> {
    let mut out: Vec<String> = unreachable(report)
        .into_iter()
        .map(|(origin, what, tests)| {
            format!(
                "cannot reach {origin} ({what}): {} cases errored the same way",
                tests.len()
            )
        })
        .collect();
    let answered: Vec<&CaseOutcome> = report
        .outcomes
        .iter()
        .filter(|o| o.status != Status::Skipped && o.error_kind.is_none())
        .collect();
    let not_json = |o: &CaseOutcome| {
        let r = o.response.as_ref()?;
        if r.json.is_some() {
            return None;
        }
        let content_type = r
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map_or("no content-type", |(_, v)| {
                v.split(';').next().unwrap_or(v).trim()
            });
        Some((content_type.to_string(), r.status))
    };
    let first = answered.first().and_then(|o| not_json(o));
    if let Some((content_type, status)) = first {
        let every = answered.len() > 1
            && answered
                .iter()
                .all(|o| not_json(o).is_some_and(|(c, s)| c == content_type && s == status));
        if every {
            out.push(format!(
                "every response was {content_type} {status}, not JSON: is base_url the OAuth server?"
            ));
        }
    }
    out
}

/// The closing block, plain.
pub fn summary(report: &RunReport) -> String {
    styled_summary(report, &Styles::plain())
}

/// The closing block: failures in full, warnings in brief, then the counts.
pub fn styled_summary(report: &RunReport, styles: &Styles) -> String {
    let mut out = String::new();
    let bad: Vec<&CaseOutcome> = report
        .outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Failed | Status::Errored))
        .collect();
    let unreachable = unreachable(report);
    let told = |o: &CaseOutcome| {
        unreachable
            .iter()
            .any(|(_, _, tests)| tests.contains(&o.test.as_str()))
    };
    if !bad.is_empty() {
        out.push_str("\nfailures:\n\n");
        // Cases that could not reach one origin share one line below, not a block each.
        for o in bad.iter().filter(|o| !told(o)) {
            out.push_str(&styled_details(o, report.strict, styles));
            out.push('\n');
        }
        for (origin, what, tests) in &unreachable {
            let _ = writeln!(
                out,
                "---- {} cases could not reach {} ({what}) ----",
                tests.len(),
                esc(origin)
            );
            // One request stands for all: the URL shows where they went.
            if let Some(first) = bad.iter().find(|o| o.test == tests[0]) {
                if !first.requests.is_empty() {
                    let _ = writeln!(out, "  e.g. {}:", esc(&first.test));
                    out.push_str(&requests(first));
                }
            }
        }
    }
    let warned: Vec<(&CaseOutcome, &Finding)> = report
        .outcomes
        .iter()
        .filter(|o| o.status == Status::Passed)
        .flat_map(|o| o.warnings(report.strict).map(move |f| (o, f)))
        .collect();
    if !warned.is_empty() {
        out.push_str("\nwarnings:\n");
        // The same finding over many cases (a vendor's known deviation) is one line with a count.
        let mut groups: Vec<(&Finding, Vec<&str>)> = Vec::new();
        for (o, f) in warned {
            let same = groups
                .iter_mut()
                .find(|(g, _)| g.level == f.level && g.rule == f.rule && g.message == f.message);
            match same {
                Some((_, tests)) => {
                    if !tests.contains(&o.test.as_str()) {
                        tests.push(&o.test)
                    }
                }
                None => groups.push((f, vec![&o.test])),
            }
        }
        for (f, tests) in groups {
            let level = level_tag(f, styles);
            let (rule, mut message) = (esc(&f.rule), esc(&f.message));
            if let Some(reason) = &f.accepted {
                message = format!("{message} (reason: {})", esc(reason)).into();
            }
            match tests.as_slice() {
                [one] => {
                    let _ = writeln!(out, "    {} {level} {rule}: {message}", esc(one));
                }
                [first, rest @ ..] => {
                    let first = esc(first);
                    let _ = writeln!(
                        out,
                        "    {level} {rule}: {message} ({} cases, e.g. {first})",
                        rest.len() + 1
                    );
                }
                [] => {}
            }
        }
    }
    if !bad.is_empty() {
        out.push_str("\nfailures:\n");
        for o in &bad {
            let mut rules: Vec<&str> = o.failures(report.strict).map(|f| f.rule.as_str()).collect();
            rules.dedup();
            let unreached = unreachable
                .iter()
                .find(|(_, _, tests)| tests.contains(&o.test.as_str()));
            let why = if let Some((origin, what, _)) = unreached {
                format!("cannot reach {origin}: {what}")
            } else if rules.is_empty() {
                o.reason.clone().unwrap_or_default()
            } else {
                rules.join(", ")
            };
            let _ = writeln!(out, "    {} ({})", esc(&o.test), esc(&why));
        }
    }
    if !report.user_deviations.is_empty() {
        out.push_str("\nyour known deviations that applied:\n");
        for d in &report.user_deviations {
            let _ = writeln!(out, "    {}", esc(&d.to_string()));
        }
    }
    if !report.insecure.is_empty() {
        out.push('\n');
        for note in &report.insecure {
            let line = format!("insecure: {}", esc(note));
            let _ = writeln!(out, "{}", paint(styles.insecure, &line));
        }
    }
    let hints = target_hints(report);
    if !hints.is_empty() {
        out.push('\n');
        for hint in &hints {
            let _ = writeln!(
                out,
                "{}",
                paint(styles.insecure, &format!("hint: {}", esc(hint)))
            );
        }
    }
    let c = report.counts();
    let result = if report.all_passed() {
        paint(styles.result_ok, "ok")
    } else {
        paint(styles.result_failed, "FAILED")
    };
    let mut flaky = if c.flaky > 0 {
        format!("; {} flaky", c.flaky)
    } else {
        String::new()
    };
    // Assumed expectations a real target did not meet: warnings, said apart so they are read.
    if c.unconfirmed > 0 {
        flaky = format!(" ({} unconfirmed){flaky}", c.unconfirmed);
    }
    let _ = writeln!(
        out,
        "\ntest result: {result}. {} passed; {} failed; {} errored; {} skipped; {} warnings{flaky}; finished in {:.2}s against {}",
        c.passed,
        c.failed,
        c.errored,
        c.skipped,
        c.warnings,
        report.duration.as_secs_f64(),
        esc(&report.target)
    );
    let _ = writeln!(
        out,
        "summary: {} passed, {} failed, {} errored, {} skipped",
        c.passed, c.failed, c.errored, c.skipped
    );
    out
}
