//! Reporters: console lines, JUnit XML, diff files, summary JSON, an HTML page. Every text passes
//! through the redactor before it is written or printed, and server or suite text has its
//! control characters escaped ([`escape_control`]) wherever it is printed or written as text.

pub mod console;
pub mod diff;
pub mod escape;
pub mod files;
pub mod history;
pub mod html;
pub mod junit;
pub mod style;
pub mod summary;

use std::path::{Path, PathBuf};

pub use escape::escape_control;
/// Writes a file through an exclusive temporary file and a rename (see [`files::write_file`]).
pub use files::write_file as write_atomic;
pub use files::{ReportError, ReportPlan};
pub use style::Styles;

use crate::outcome::{CaseOutcome, RunReport};
use crate::redact::Redactor;

/// A run report every text of which has passed the redactor. Only [`Redacted::new`] makes
/// one, so the reporters that take it (junit, summary, html, [`write_planned`]) cannot be
/// handed unmasked text. It keeps the redactor for the last pass over each finished file.
#[derive(Clone)]
pub struct Redacted<T> {
    inner: T,
    redactor: Redactor,
}

/// The form every reporter takes.
pub type RedactedReport = Redacted<RunReport>;

impl Redacted<RunReport> {
    /// A copy of `report` with every secret and token masked in its text, before any format
    /// escapes it: once HTML, XML or JSON has escaped a value, its masked form is no longer
    /// found.
    pub fn new(report: &RunReport, redactor: &Redactor) -> Self {
        Self::from_owned(report.clone(), redactor)
    }

    /// [`Redacted::new`] without the copy (10,000 outcomes are megabytes); the report comes
    /// back, masked, from [`Redacted::into_inner`].
    pub fn from_owned(mut inner: RunReport, redactor: &Redactor) -> Self {
        for o in &mut inner.outcomes {
            redact_outcome(o, redactor);
        }
        Self {
            inner,
            redactor: redactor.clone(),
        }
    }

    pub fn into_inner(self) -> RunReport {
        self.inner
    }
}

impl<T> Redacted<T> {
    /// `text` rendered from this value, scrubbed once more: a format may join or split what
    /// the first pass saw. Text with nothing to mask comes back as it was, not copied.
    pub fn scrub(&self, text: String) -> String {
        match self.redactor.scrub(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(masked) => masked,
        }
    }
}

impl<T> std::ops::Deref for Redacted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

/// Masks one outcome's text in place (see [`Redacted::new`]).
pub fn redact_outcome(o: &mut CaseOutcome, redactor: &Redactor) {
    let scrub = |t: &String| redactor.scrub(t).into_owned();
    let scrub_opt = |t: &Option<String>| t.as_ref().map(scrub);
    o.reason = scrub_opt(&o.reason);
    o.step = scrub_opt(&o.step);
    o.origin = scrub_opt(&o.origin);
    for f in &mut o.findings {
        f.message = scrub(&f.message);
        f.expected = scrub_opt(&f.expected);
        f.actual = scrub_opt(&f.actual);
        f.path = scrub_opt(&f.path);
    }
    for r in &mut o.retries {
        r.reason = scrub(&r.reason);
    }
    for q in &mut o.requests {
        q.step = scrub(&q.step);
        q.url = scrub(&q.url);
        for (_, v) in &mut q.headers {
            *v = scrub(v);
        }
        q.body = scrub_opt(&q.body);
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

/// Writes every report under `dir` with names planned from the run itself; see
/// [`write_planned`]. The error is a [`ReportError`] inside an `io::Error`.
pub fn write_all(
    dir: &Path,
    report: &RunReport,
    redactor: &Redactor,
) -> std::io::Result<Vec<PathBuf>> {
    let plan = ReportPlan::for_report(dir, report);
    write_planned(&plan, &Redacted::new(report, redactor)).map_err(Into::into)
}

/// Writes every report file under the plan's folder from a [`Redacted`] report (each text is
/// scrubbed once more): junit.xml, summary.json, index.html, and a diff per failing case
/// under diffs/, whose files from the last run are removed first (only those; see
/// [`files::MANIFEST`]). Returns what was written.
///
/// On an error nothing of an older run is left to be mistaken for this one: its top report
/// files and recorded diffs are removed (the error says so), and the caller exits with 2.
pub fn write_planned(
    plan: &ReportPlan,
    report: &RedactedReport,
) -> Result<Vec<PathBuf>, ReportError> {
    let dir = plan.dir();
    let diff_files = plan.diff_files(report);
    let mut diffs: Vec<(String, String)> = Vec::new();
    for (o, file) in report.outcomes.iter().zip(&diff_files) {
        if let (Some(file), Some(text)) = (file, diff::case_diff(o, report.strict)) {
            diffs.push((file.clone(), report.scrub(text.text())));
        }
    }
    // Rendered one at a time as they are written: over 10,000 cases each is megabytes.
    let tops: [&dyn Fn() -> String; 3] = [
        &|| junit::render(report),
        &|| summary::render(report, &diff_files),
        &|| html::render(report),
    ];
    let names: Vec<String> = diffs
        .iter()
        .filter_map(|(f, _)| f.strip_prefix(files::DIFFS)?.strip_prefix('/'))
        .map(str::to_string)
        .collect();
    let mut written = Vec::new();
    let result = write_files(dir, &diffs, &names, &tops, &mut written);
    result.map_err(|mut e| {
        e.stale_removed = files::remove_stale(dir, &names);
        e
    })?;
    Ok(written)
}

fn write_files(
    dir: &Path,
    diffs: &[(String, String)],
    names: &[String],
    tops: &[&dyn Fn() -> String; 3],
    written: &mut Vec<PathBuf>,
) -> Result<(), ReportError> {
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |error| ReportError {
            path,
            error,
            stale_removed: false,
        }
    };
    std::fs::create_dir_all(dir).map_err(fail(dir))?;
    let old = files::recorded_diffs(dir);
    let kept = files::remove_diffs(dir, &old);
    let diffs_dir = dir.join(files::DIFFS);
    if !diffs.is_empty() || !kept.is_empty() {
        files::real_dir(dir, files::DIFFS).map_err(fail(&diffs_dir))?;
        // Recorded before the files exist, so a crash part-way still leaves them listed.
        let mut listed: Vec<String> = names.iter().chain(&kept).cloned().collect();
        listed.sort();
        listed.dedup();
        files::write_manifest(dir, &listed).map_err(fail(&diffs_dir.join(files::MANIFEST)))?;
    } else if std::fs::symlink_metadata(&diffs_dir).is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_file(diffs_dir.join(files::MANIFEST));
        // Only when nothing else is in it.
        let _ = std::fs::remove_dir(&diffs_dir);
    }
    for (file, text) in diffs {
        let path = dir.join(file);
        let folder = file.rsplit_once('/').map_or("", |(f, _)| f);
        files::real_dir(dir, folder).map_err(fail(&path))?;
        files::write_file(&path, text).map_err(fail(&path))?;
    }
    for (name, render) in files::TOP_FILES.iter().zip(tops) {
        let path = dir.join(name);
        files::write_file(&path, &render()).map_err(fail(&path))?;
        written.push(path);
    }
    if !diffs.is_empty() {
        written.push(diffs_dir);
    }
    Ok(())
}
