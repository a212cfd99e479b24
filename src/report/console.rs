//! Console output that reads like `cargo test`. Every text from a suite or a server is
//! interpolated through [`esc`], so it stays on its line and cannot drive the terminal: a
//! response cannot clear the screen, retitle the window, or start a line of its own such as a
//! fake `test result: ok` (its newlines print as `\n`).

use std::fmt::Write;

use super::escape::escape_control as esc;
use crate::finding::Finding;
use crate::outcome::{CaseOutcome, RunReport, Status};

/// Colour on a terminal only, and never with `NO_COLOR` set (<https://no-color.org>) or a dumb one.
pub fn colour_wanted(is_terminal: bool) -> bool {
    is_terminal
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// `test suite::case ... ok`
pub fn case_line(o: &CaseOutcome) -> String {
    let verdict = match o.status {
        Status::Passed if o.is_flaky() => {
            format!("ok (flaky: passed on attempt {})", o.tries().unwrap_or(1))
        }
        Status::Passed => "ok".to_string(),
        Status::Failed => "FAILED".to_string(),
        Status::Errored => format!("ERROR ({})", esc(o.reason.as_deref().unwrap_or(""))),
        Status::Skipped => format!("skipped ({})", esc(o.reason.as_deref().unwrap_or(""))),
    };
    format!("test {} ... {verdict}", esc(&o.test))
}

fn finding_block(out: &mut String, f: &Finding) {
    let _ = writeln!(
        out,
        "  [{}] {}: {}",
        f.level.name(),
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
}

/// Every finding of a failed or errored case.
pub fn details(o: &CaseOutcome, strict: bool) -> String {
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
        finding_block(&mut out, f);
    }
    for f in o.warnings(strict) {
        finding_block(&mut out, f);
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
    if let Some(d) = super::diff::case_diff(o, strict) {
        // The findings are listed above; the diff file's own header would repeat them.
        if let Some(unified) = super::diff::unified_part(&d) {
            out.push('\n');
            out.push_str(unified);
        }
    }
    out
}

/// Colours a text rendered by this module (after redaction, so colour codes never split a
/// secret): verdicts, finding levels, diff lines, the result line.
pub fn paint(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut in_diff = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let nl = if line.ends_with('\n') { "\n" } else { "" };
        if body.starts_with("--- expected") {
            in_diff = true;
        } else if body.is_empty() {
            in_diff = false;
        }
        if in_diff {
            out.push_str(&super::diff::colour_line(line));
            continue;
        }
        out.push_str(&paint_line(body));
        out.push_str(nl);
    }
    out
}

fn paint_line(line: &str) -> String {
    const RED: &str = "\x1b[31m";
    const GREEN: &str = "\x1b[32m";
    const YELLOW: &str = "\x1b[33m";
    const CYAN: &str = "\x1b[36m";
    const BOLD_RED: &str = "\x1b[1;31m";
    const RESET: &str = "\x1b[0m";
    if line.starts_with("test ") {
        // The first ` ... `: a reason after the verdict may hold one too.
        if let Some(at) = line.find(" ... ") {
            let (head, verdict) = line.split_at(at + 5);
            let colour = if verdict.starts_with("ok") {
                GREEN
            } else if verdict.starts_with("skipped") {
                YELLOW
            } else {
                RED
            };
            return format!("{head}{colour}{verdict}{RESET}");
        }
    }
    if let Some(rest) = line.strip_prefix("test result: ") {
        let colour = if rest.starts_with("ok") {
            GREEN
        } else {
            BOLD_RED
        };
        return format!("test result: {colour}{rest}{RESET}");
    }
    if line.starts_with("insecure: ") {
        return format!("{BOLD_RED}{line}{RESET}");
    }
    for (tag, colour) in [
        ("[MUST]", RED),
        ("[SHOULD]", YELLOW),
        ("[KNOWN-DEVIATION]", CYAN),
    ] {
        if let Some(at) = line.find(tag) {
            let (a, b) = line.split_at(at);
            return format!("{a}{colour}{tag}{RESET}{}", &b[tag.len()..]);
        }
    }
    line.to_string()
}

/// The closing block: failures in full, warnings in brief, then the counts.
pub fn summary(report: &RunReport) -> String {
    let mut out = String::new();
    let bad: Vec<&CaseOutcome> = report
        .outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Failed | Status::Errored))
        .collect();
    if !bad.is_empty() {
        out.push_str("\nfailures:\n\n");
        for o in &bad {
            out.push_str(&details(o, report.strict));
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
            let level = f.level.name();
            let (rule, message) = (esc(&f.rule), esc(&f.message));
            match tests.as_slice() {
                [one] => {
                    let _ = writeln!(out, "    {} [{level}] {rule}: {message}", esc(one));
                }
                [first, rest @ ..] => {
                    let first = esc(first);
                    let _ = writeln!(
                        out,
                        "    [{level}] {rule}: {message} ({} cases, e.g. {first})",
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
    if !report.insecure.is_empty() {
        out.push('\n');
        for note in &report.insecure {
            let _ = writeln!(out, "insecure: {}", esc(note));
        }
    }
    let c = report.counts();
    let result = if report.all_passed() { "ok" } else { "FAILED" };
    let flaky = if c.flaky > 0 {
        format!("; {} flaky", c.flaky)
    } else {
        String::new()
    };
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
