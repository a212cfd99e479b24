//! `summary.json`: a stable format for scripts and dashboards (documented in reports/README.md).
//! Format 1; fields are only ever added.

use serde::Serialize;

use crate::finding::Level;
use crate::outcome::{CaseOutcome, Counts, RunReport, SuitesVersion};

#[derive(Serialize)]
struct Summary<'a> {
    format: u32,
    tool: &'static str,
    version: &'static str,
    target: &'a str,
    started_unix_ms: u128,
    /// The same instant as RFC 3339 UTC, for people and dashboards.
    started: String,
    duration_ms: u128,
    strict: bool,
    /// Why others could read or change the run's traffic; empty for a safe run.
    insecure: &'a [String],
    /// Which suites ran: `from` built-in or files, tokenconf's `version` when built in, and a
    /// `digest` of every suite and schema (the same suites give the same digest).
    suites: &'a SuitesVersion,
    counts: Counts,
    cases: Vec<Case<'a>>,
    /// Every finding the user's expected-findings file accepts, apart from failures (each is
    /// in its case's `findings` too, with level `expected`).
    expected: Vec<Expected<'a>>,
    /// Expected-findings entries that matched no finding: the deviation is gone, remove them.
    resolved: &'a [crate::expected::Resolved],
    /// The user's known deviations (`--known-deviations`) that applied, with their findings.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    user_deviations: &'a [crate::expected::AppliedDeviation],
}

#[derive(Serialize)]
struct Expected<'a> {
    test: &'a str,
    rule: &'a str,
    /// The entry's reason.
    reason: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct Case<'a> {
    #[serde(flatten)]
    outcome: &'a CaseOutcome,
    /// The case's diff file, relative to the report folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<String>,
}

/// `diff_files` holds each outcome's diff file, in order (see `ReportPlan::diff_files`).
pub fn render(report: &super::RedactedReport, diff_files: &[Option<String>]) -> String {
    report.scrub(render_json(report, diff_files))
}

fn render_json(report: &RunReport, diff_files: &[Option<String>]) -> String {
    let started_ms = report
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let summary = Summary {
        format: 1,
        tool: "tokenconf",
        version: env!("CARGO_PKG_VERSION"),
        target: &report.target,
        started_unix_ms: started_ms,
        started: rfc3339(started_ms),
        duration_ms: report.duration.as_millis(),
        strict: report.strict,
        insecure: &report.insecure,
        suites: &report.suites,
        counts: report.counts(),
        cases: report
            .outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| Case {
                outcome: o,
                diff: diff_files.get(i).cloned().flatten(),
            })
            .collect(),
        expected: report
            .outcomes
            .iter()
            .flat_map(|o| o.findings.iter().map(move |f| (o, f)))
            .filter(|(_, f)| f.level == Level::Expected)
            .map(|(o, f)| Expected {
                test: &o.test,
                rule: &f.rule,
                reason: f.accepted.as_deref().unwrap_or_default(),
                message: &f.message,
            })
            .collect(),
        resolved: &report.resolved,
        user_deviations: &report.user_deviations,
    };
    let mut out = Vec::with_capacity(capacity(report, diff_files));
    if serde_json::to_writer_pretty(&mut out, &summary).is_err() {
        return String::new();
    }
    out.push(b'\n');
    String::from_utf8(out).unwrap_or_default()
}

/// Bytes to reserve for summary.json, from the first case as written: grown by doubling, the
/// copies left behind were as large as the file (12 MB over 10,000 full-check cases, the peak of
/// such a run). A quarter spare for longer cases; room never written is not resident.
pub(super) fn capacity(report: &RunReport, diff_files: &[Option<String>]) -> usize {
    let Some(first) = report.outcomes.first() else {
        return 4096;
    };
    let case = Case {
        outcome: first,
        diff: diff_files.first().cloned().flatten(),
    };
    let one = serde_json::to_vec_pretty(&case).unwrap_or_default();
    // Inside `"cases": [...]` each line is indented by four more spaces.
    let per_case = one.len() + 4 * one.iter().filter(|&&b| b == b'\n').count() + 8;
    4096 + report.outcomes.len() * per_case * 5 / 4
}

/// `2025-01-31T12:00:00.123Z` from Unix milliseconds (civil-from-days, proleptic Gregorian).
pub fn rfc3339(unix_ms: u128) -> String {
    let secs = (unix_ms / 1000) as i64;
    let ms = (unix_ms % 1000) as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use crate::finding::Finding;
    use crate::outcome::{CaseOutcome, RunReport, Status};

    /// Room reserved up front holds the whole file: no copy of it is made while it is written.
    #[test]
    fn the_room_reserved_holds_every_case_as_written() {
        let outcomes = (0..1000)
            .map(|i| {
                let name = format!("case {i}");
                let mut o = CaseOutcome::new("s", "talkdesk", &name, &name, Status::Failed);
                o.rules_checked = vec!["talkdesk.token-response", "rfc6749.5.1", "rfc6749.5.2"];
                let mut f = Finding::must("status", "status 401, expected 200");
                f.expected = Some("200".into());
                f.actual = Some("401".into());
                o.findings = vec![f.clone(), f];
                o
            })
            .collect();
        let report = RunReport {
            target: "mock".into(),
            started: std::time::SystemTime::now(),
            duration: std::time::Duration::ZERO,
            strict: false,
            outcomes,
            insecure: Vec::new(),
            resolved: Vec::new(),
            user_deviations: Vec::new(),
            suites: Default::default(),
        };
        let diffs = vec![Some("diffs/s/case.diff".to_string()); 1000];
        let written = super::render_json(&report, &diffs);
        assert!(written.len() > 100_000, "{}", written.len());
        assert!(written.len() <= super::capacity(&report, &diffs));
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_709_210_096_789),
            "2024-02-29T12:34:56.789Z"
        );
    }
}
