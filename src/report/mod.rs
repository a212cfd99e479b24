//! Reporters: console lines, JUnit XML, diff files, summary JSON, an HTML page. Every text passes
//! through the redactor before it is written or printed.

pub mod console;
pub mod diff;
pub mod html;
pub mod junit;
pub mod summary;

use std::path::{Path, PathBuf};

use crate::outcome::{CaseOutcome, RunReport};
use crate::redact::Redactor;

/// A redactor for the whole run: the target's secrets plus every token any case saw.
pub fn run_redactor(base: &Redactor, report: &RunReport) -> Redactor {
    let mut r = base.clone();
    r.extend(
        report
            .outcomes
            .iter()
            .flat_map(|o| o.sensitive.iter().map(String::as_str)),
    );
    r
}

/// `diffs/<suite>/<case slug>.diff`, relative to the report folder, with `/` separators.
pub fn diff_path(o: &CaseOutcome) -> String {
    let slug = o.test.split_once("::").map_or(o.test.as_str(), |(_, c)| c);
    let mut parts: Vec<String> = o.suite.split('/').map(safe_component).collect();
    parts.push(format!("{}.diff", safe_component(slug)));
    format!("diffs/{}", parts.join("/"))
}

/// A file name part that cannot climb out of the report folder or surprise a shell.
fn safe_component(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    match cleaned.trim_matches('.') {
        "" => "_".to_string(),
        c => c.to_string(),
    }
}

/// Writes every report under `dir`: junit.xml, summary.json, index.html and a diff per failing
/// case under diffs/ (emptied first, so diffs of cases that pass now do not linger). Returns
/// what was written.
/// A copy of `report` with every secret and token masked in its text, before any format
/// escapes it: once HTML, XML or JSON has escaped a value, its masked form is no longer found.
pub fn redacted(report: &RunReport, redactor: &Redactor) -> RunReport {
    let mut out = report.clone();
    for o in &mut out.outcomes {
        redact_outcome(o, redactor);
    }
    out
}

/// Masks one outcome's text in place (see [`redacted`]).
pub fn redact_outcome(o: &mut CaseOutcome, redactor: &Redactor) {
    let scrub = |t: &String| redactor.scrub(t).into_owned();
    let scrub_opt = |t: &Option<String>| t.as_ref().map(scrub);
    o.reason = scrub_opt(&o.reason);
    o.step = scrub_opt(&o.step);
    for f in &mut o.findings {
        f.message = scrub(&f.message);
        f.expected = scrub_opt(&f.expected);
        f.actual = scrub_opt(&f.actual);
        f.path = scrub_opt(&f.path);
    }
    for r in &mut o.retries {
        r.reason = scrub(&r.reason);
    }
    if let Some(resp) = &mut o.response {
        for (_, v) in &mut resp.headers {
            *v = scrub(v);
        }
        resp.text = scrub_opt(&resp.text);
        if let Some(json) = &mut resp.json {
            scrub_json(json, redactor);
        }
    }
}

fn scrub_json(value: &mut serde_json::Value, redactor: &Redactor) {
    match value {
        serde_json::Value::String(s) => *s = redactor.scrub(s).into_owned(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| scrub_json(i, redactor)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| scrub_json(v, redactor)),
        _ => {}
    }
}

/// Writes every report file under `dir` from a [`redacted`] copy; each text is scrubbed once more.
pub fn write_all(
    dir: &Path,
    report: &RunReport,
    redactor: &Redactor,
) -> std::io::Result<Vec<PathBuf>> {
    let report = &redacted(report, redactor);
    std::fs::create_dir_all(dir)?;
    let diffs = dir.join("diffs");
    match std::fs::remove_dir_all(&diffs) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut diff_count = 0;
    for o in &report.outcomes {
        if let Some(text) = diff::case_diff(o, report.strict) {
            let path = dir.join(diff_path(o));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            write_atomic(&path, &redactor.scrub(&text))?;
            diff_count += 1;
        }
    }
    let junit = dir.join("junit.xml");
    write_atomic(&junit, &redactor.scrub(&junit::render(report)))?;
    let summary = dir.join("summary.json");
    write_atomic(&summary, &redactor.scrub(&summary::render(report)))?;
    let html = dir.join("index.html");
    write_atomic(&html, &redactor.scrub(&html::render(report)))?;
    let mut written = vec![junit, summary, html];
    if diff_count > 0 {
        written.push(diffs);
    }
    Ok(written)
}

/// Temporary file and rename, so a reader never sees half a report.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
