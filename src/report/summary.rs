//! `summary.json`: a stable format for scripts and dashboards (documented in reports/README.md).

use serde::Serialize;

use crate::outcome::{CaseOutcome, Counts, RunReport};

#[derive(Serialize)]
struct Summary<'a> {
    format: u32,
    tool: &'static str,
    version: &'static str,
    target: &'a str,
    started_unix_ms: u128,
    duration_ms: u128,
    strict: bool,
    counts: Counts,
    cases: &'a [CaseOutcome],
}

pub fn render(report: &RunReport) -> String {
    let summary = Summary {
        format: 1,
        tool: "tokenconf",
        version: env!("CARGO_PKG_VERSION"),
        target: &report.target,
        started_unix_ms: report
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
        duration_ms: report.duration.as_millis(),
        strict: report.strict,
        counts: report.counts(),
        cases: &report.outcomes,
    };
    serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n"
}
