//! `index.html`: one self-contained page (inline style and script, no external assets; its
//! Content-Security-Policy forbids loading anything). Counts at the top, cases filterable by
//! outcome, each failing case with its findings and its diff side by side.

use std::fmt::Write;

use crate::finding::Finding;
use crate::outcome::{CaseOutcome, RunReport, Status};

/// The page's style sheet, inlined (the Content-Security-Policy loads nothing).
const STYLE: &str = include_str!("html/style.css");

/// Counts every case by `data-status`, fills the counts, and filters on click (or `#failed`).
const SCRIPT: &str = include_str!("html/script.js");

/// index.html, scrubbed once more after rendering.
pub fn render(report: &super::RedactedReport) -> String {
    report.scrub(&render_page(report))
}

fn render_page(report: &RunReport) -> String {
    let c = report.counts();
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let verdict = if report.all_passed() { "ok" } else { "FAILED" };
    let _ = writeln!(
        out,
        "<title>tokenconf: {verdict} against {}</title>",
        esc(&report.target)
    );
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    let started = report
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "<h1>tokenconf: {verdict}</h1>\n<div class=\"meta\">target <b>{}</b> · started {} · {:.2}s · tokenconf {}{}</div>",
        esc(&report.target),
        super::summary::rfc3339(started),
        report.duration.as_secs_f64(),
        env!("CARGO_PKG_VERSION"),
        if report.strict { " · --strict" } else { "" }
    );
    if !report.insecure.is_empty() {
        out.push_str("<div class=\"insecure\" id=\"insecure\" role=\"alert\"><b>Insecure run:</b> others on the network could read or change its traffic.\n<ul>\n");
        for note in &report.insecure {
            let _ = writeln!(out, "<li>{}</li>", esc(note));
        }
        out.push_str("</ul></div>\n");
    }
    // Static counts for readers without JavaScript; the buttons' counts are filled by the script.
    let _ = writeln!(
        out,
        "<noscript><p>{} passed, {} failed, {} errored, {} skipped, {} warnings</p></noscript>",
        c.passed, c.failed, c.errored, c.skipped, c.warnings
    );
    out.push_str("<nav class=\"counts\" aria-label=\"filter by outcome\">\n");
    for (filter, label) in [
        ("all", "all"),
        ("passed", "passed"),
        ("failed", "failed"),
        ("errored", "errored"),
        ("skipped", "skipped"),
        ("flaky", "flaky"),
        ("warned", "with warnings"),
    ] {
        let _ = writeln!(
            out,
            "<button type=\"button\" data-filter=\"{filter}\" id=\"count-{filter}\" aria-pressed=\"false\"><span class=\"n\">…</span>{label}</button>"
        );
    }
    out.push_str("</nav>\n<main>\n");
    for o in &report.outcomes {
        case(&mut out, o, report.strict);
    }
    if report.outcomes.is_empty() {
        out.push_str("<p>No case ran.</p>\n");
    }
    let _ = writeln!(out, "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>");
    out
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Errored => "errored",
        Status::Skipped => "skipped",
    }
}

fn case(out: &mut String, o: &CaseOutcome, strict: bool) {
    let status = status_name(o.status);
    let warnings: Vec<&Finding> = o.warnings(strict).collect();
    let failures: Vec<&Finding> = o.failures(strict).collect();
    let open = if matches!(o.status, Status::Failed | Status::Errored) {
        " open"
    } else {
        ""
    };
    let _ = write!(
        out,
        "<details class=\"case {status}\" data-status=\"{status}\" data-warned=\"{}\" data-flaky=\"{}\" id=\"{}\"{open}>\n<summary><span class=\"badge\">{}</span><span class=\"name\">{}</span><span class=\"time\">{:.1} ms</span>",
        if warnings.is_empty() { "no" } else { "yes" },
        if o.is_flaky() { "yes" } else { "no" },
        esc(&o.test),
        if o.is_flaky() { "flaky" } else { status },
        esc(&o.test),
        o.duration.as_secs_f64() * 1000.0
    );
    if let Some(why) = &o.reason {
        let _ = write!(out, "<span class=\"why\">{}</span>", esc(why));
    }
    out.push_str("</summary>\n");
    let diff = super::diff::case_diff(o, strict);
    let single = if diff.is_some() { "" } else { " single" };
    let _ = writeln!(out, "<div class=\"detail{single}\">\n<div>");
    let _ = writeln!(out, "<h3>{}</h3>", esc(&o.case));
    if let Some(step) = &o.step {
        let _ = writeln!(out, "<p>at {}</p>", esc(step));
    }
    for f in failures.iter().chain(warnings.iter()) {
        finding(out, f);
    }
    for (i, r) in o.retries.iter().enumerate() {
        let _ = writeln!(
            out,
            "<p class=\"retry\">attempt {} retried: {} (waited {} ms)</p>",
            i + 1,
            esc(&r.reason),
            r.waited.as_millis()
        );
    }
    if failures.is_empty() && warnings.is_empty() && o.reason.is_none() {
        out.push_str("<p>No findings.</p>\n");
    }
    out.push_str("</div>\n");
    if let Some(d) = diff {
        out.push_str("<div>\n<h3>expected (−) vs actual (+)</h3>\n<pre class=\"diff\">");
        let body = d.unified.as_deref().unwrap_or(&d.header);
        for line in body.lines() {
            let class = match line.as_bytes().first() {
                Some(b'-') if !line.starts_with("--- ") => "del",
                Some(b'+') if !line.starts_with("+++ ") => "add",
                Some(b'@') => "hunk",
                _ => "ctx",
            };
            let _ = write!(out, "<span class=\"{class}\">{}</span>", esc(line));
        }
        out.push_str("</pre>\n</div>\n");
    }
    out.push_str("</div>\n</details>\n");
}

fn finding(out: &mut String, f: &Finding) {
    let level = match f.level.name() {
        "MUST" => "must",
        // An unconfirmed finding is a warning, shown as one.
        "SHOULD" | "UNCONFIRMED" => "should",
        _ => "known-deviation",
    };
    let _ = write!(
        out,
        "<div class=\"finding\"><span class=\"level-{level}\">[{}]</span> <span class=\"rule\">{}</span>: {}<dl>",
        f.level.name(),
        esc(&f.rule),
        esc(&f.message)
    );
    for (label, value) in [
        ("path", &f.path),
        ("expected", &f.expected),
        ("actual", &f.actual),
    ] {
        if let Some(v) = value {
            let _ = write!(out, "<dt>{label}</dt><dd>{}</dd>", esc(v));
        }
    }
    if let Some(src) = &f.source {
        if src.starts_with("https://") || src.starts_with("http://") {
            let _ = write!(
                out,
                "<dt>source</dt><dd><a href=\"{0}\" rel=\"noreferrer\">{0}</a></dd>",
                esc(src)
            );
        } else {
            let _ = write!(out, "<dt>source</dt><dd>{}</dd>", esc(src));
        }
    }
    out.push_str("</dl></div>\n");
}

use super::escape::escape_markup as esc;

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
        assert_eq!(super::esc("a\x1b[2J\nb"), "a\\x1b[2J\\nb");
    }
}
