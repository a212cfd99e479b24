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
use crate::outcome::{CaseOutcome, RunReport, Status};

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
    let (style, verdict) = match o.status {
        Status::Passed if o.is_flaky() => (
            styles.ok,
            format!("ok (flaky: passed on attempt {})", o.tries().unwrap_or(1)),
        ),
        Status::Passed => (styles.ok, "ok".to_string()),
        Status::Failed => (styles.failed, "FAILED".to_string()),
        Status::Errored => (
            styles.error,
            format!("ERROR ({})", esc(o.reason.as_deref().unwrap_or(""))),
        ),
        Status::Skipped => (
            styles.skipped,
            format!("skipped ({})", esc(o.reason.as_deref().unwrap_or(""))),
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
    if !bad.is_empty() {
        out.push_str("\nfailures:\n\n");
        for o in &bad {
            out.push_str(&styled_details(o, report.strict, styles));
            out.push('\n');
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
            let why = if rules.is_empty() {
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
        "summary: {} passed, {} failed, {} skipped",
        c.passed,
        c.failed + c.errored,
        c.skipped
    );
    out
}
