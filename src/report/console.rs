//! Console output that reads like `cargo test`.

use std::fmt::Write;

use crate::check::Finding;
use crate::outcome::{CaseOutcome, RunReport, Status};

/// `test suite::case ... ok`
pub fn case_line(o: &CaseOutcome) -> String {
    let verdict = match o.status {
        Status::Passed => "ok".to_string(),
        Status::Failed => "FAILED".to_string(),
        Status::Errored => format!("ERROR ({})", o.reason.as_deref().unwrap_or("")),
        Status::Skipped => format!("skipped ({})", o.reason.as_deref().unwrap_or("")),
    };
    format!("test {} ... {verdict}", o.test)
}

fn finding_block(out: &mut String, f: &Finding) {
    let _ = writeln!(out, "  [{}] {}: {}", f.level.name(), f.rule, f.message);
    if let Some(e) = &f.expected {
        let _ = writeln!(out, "      expected: {e}");
    }
    if let Some(a) = &f.actual {
        let _ = writeln!(out, "      actual:   {a}");
    }
    if let Some(s) = &f.source {
        let _ = writeln!(out, "      source:   {s}");
    }
}

/// Every finding of a failed or errored case.
pub fn details(o: &CaseOutcome, strict: bool) -> String {
    let mut out = format!("---- {} ----\n", o.test);
    if let Some(step) = &o.step {
        let _ = writeln!(out, "  at {step}");
    }
    if o.status == Status::Errored {
        let _ = writeln!(out, "  error: {}", o.reason.as_deref().unwrap_or("unknown"));
    }
    for f in o.failures(strict) {
        finding_block(&mut out, f);
    }
    for f in o.warnings(strict) {
        finding_block(&mut out, f);
    }
    out
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
        for (o, f) in warned {
            let _ = writeln!(
                out,
                "    {} [{}] {}: {}",
                o.test,
                f.level.name(),
                f.rule,
                f.message
            );
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
            let _ = writeln!(out, "    {} ({why})", o.test);
        }
    }
    let c = report.counts();
    let result = if report.all_passed() { "ok" } else { "FAILED" };
    let _ = writeln!(
        out,
        "\ntest result: {result}. {} passed; {} failed; {} errored; {} skipped; {} warnings; finished in {:.2}s against {}",
        c.passed,
        c.failed,
        c.errored,
        c.skipped,
        c.warnings,
        report.duration.as_secs_f64(),
        report.target
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
