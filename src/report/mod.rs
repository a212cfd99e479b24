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
    o.file = scrub(&o.file);
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
/// A file that cannot be written (a full disk) does not stop the others: every file this run
/// wrote completely is kept (each is written whole or not at all), the previous run's copy of
/// each one it could not write is removed, so none passes for this run's, and the error names
/// both lists. The caller exits with 2.
pub fn write_planned(
    plan: &ReportPlan,
    report: &RedactedReport,
) -> Result<Vec<PathBuf>, ReportError> {
    write_planned_with(plan, report, &files::write_file)
}

/// Below this estimate of summary.json's bytes, the top reports are rendered at once.
const TOGETHER_BELOW: usize = 6 << 20;

/// Room to reserve for `cases` cases of about `per_case` bytes before a report is rendered into
/// one string: grown by doubling from empty, 10,000 cases touched twice their size in fresh
/// pages and copied themselves at each step. Room never written stays virtual; at most 64 MB.
fn room(cases: usize, per_case: usize) -> usize {
    cases.saturating_mul(per_case).min(64 << 20)
}

/// [`write_planned`] through `write`, so a test can make one file fail as a full disk would.
fn write_planned_with(
    plan: &ReportPlan,
    report: &RedactedReport,
    write: &(dyn Fn(&Path, &str) -> std::io::Result<()> + Sync),
) -> Result<Vec<PathBuf>, ReportError> {
    let dir = plan.dir();
    let diff_files = plan.diff_files(report);
    let mut diffs: Vec<(String, String)> = Vec::new();
    for (o, file) in report.outcomes.iter().zip(&diff_files) {
        if let (Some(file), Some(text)) = (file, diff::case_diff(o, report.strict)) {
            diffs.push((file.clone(), report.scrub(text.text())));
        }
    }
    // Rendered one at a time as they are written when they are large (over 10,000 full-check
    // cases each is megabytes, and the three at once held ~10 MB more at the run's peak); else
    // the three at once, on threads of their own: the run waits on them, and its cores are free.
    let together = summary::capacity(report, &diff_files) < TOGETHER_BELOW;
    let tops: [&(dyn Fn() -> String + Sync); 3] = [
        &|| junit::render_with(report, plan.junit_file_attributes()),
        &|| summary::render(report, &diff_files),
        &|| html::render(report),
    ];
    let names: Vec<String> = diffs
        .iter()
        .filter_map(|(f, _)| f.strip_prefix(files::DIFFS)?.strip_prefix('/'))
        .map(str::to_string)
        .collect();
    let fail = |path: &Path, error| ReportError {
        path: path.to_path_buf(),
        error,
        stale_removed: false,
        written: Vec::new(),
        not_written: Vec::new(),
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let mut written: Vec<PathBuf> = Vec::new();
    let mut first_error: Option<ReportError> = None;
    let mut not_written: Vec<String> = Vec::new();
    let mut failed = |name: &str, e: std::io::Error| {
        not_written.push(name.to_string());
        if first_error.is_none() {
            first_error = Some(fail(&dir.join(name), e));
        }
    };
    let old = files::recorded_diffs(dir);
    let kept = files::remove_diffs(dir, &old);
    let diffs_dir = dir.join(files::DIFFS);
    let mut diffs_ready = Ok(());
    if !diffs.is_empty() || !kept.is_empty() {
        // Recorded before the files exist, so a crash part-way still leaves them listed.
        let mut listed: Vec<String> = names.iter().chain(&kept).cloned().collect();
        listed.sort();
        listed.dedup();
        diffs_ready =
            files::real_dir(dir, files::DIFFS).and_then(|_| files::write_manifest(dir, &listed));
    } else if std::fs::symlink_metadata(&diffs_dir).is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_file(diffs_dir.join(files::MANIFEST));
        // Only when nothing else is in it.
        let _ = std::fs::remove_dir(&diffs_dir);
    }
    let mut diffs_written = 0;
    match diffs_ready {
        Err(e) if !diffs.is_empty() => failed(files::DIFFS, e),
        _ => {
            for (file, text) in &diffs {
                let path = dir.join(file);
                let folder = file.rsplit_once('/').map_or("", |(f, _)| f);
                match files::real_dir(dir, folder).and_then(|_| write(&path, text)) {
                    Ok(()) => diffs_written += 1,
                    Err(e) => failed(file, e),
                }
            }
        }
    }
    let write_top = |name: &str, render: &dyn Fn() -> String| write(&dir.join(name), &render());
    let results: Vec<std::io::Result<()>> = if together {
        std::thread::scope(|scope| {
            let threads: Vec<_> = files::TOP_FILES
                .iter()
                .zip(tops)
                .map(|(name, render)| scope.spawn(move || write_top(name, render)))
                .collect();
            threads
                .into_iter()
                .map(|t| {
                    t.join().unwrap_or_else(|_| {
                        Err(std::io::Error::other(
                            "rendering it failed (a tokenconf bug; please report it)",
                        ))
                    })
                })
                .collect()
        })
    } else {
        files::TOP_FILES
            .iter()
            .zip(tops)
            .map(|(name, render)| write_top(name, render))
            .collect()
    };
    for (name, result) in files::TOP_FILES.iter().zip(results) {
        match result {
            Ok(()) => written.push(dir.join(name)),
            Err(e) => failed(name, e),
        }
    }
    if diffs_written > 0 {
        written.push(diffs_dir);
    }
    match first_error {
        None => Ok(written),
        Some(mut e) => {
            e.stale_removed = files::remove_unwritten(dir, &not_written);
            e.written = written
                .iter()
                .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
                .collect();
            e.not_written = not_written;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{CaseOutcome, Status};

    fn run(case: &str) -> RunReport {
        let mut failed =
            CaseOutcome::new("s", "oauth2", case, format!("s::{case}"), Status::Failed);
        failed.findings.push(crate::finding::Finding::must(
            "status",
            "status 400, expected 200",
        ));
        failed.response = Some(crate::outcome::ResponseSnapshot {
            status: 400,
            headers: Vec::new(),
            json: Some(serde_json::json!({"error": "invalid_request"})),
            text: None,
        });
        RunReport {
            target: "t".into(),
            started: std::time::SystemTime::now(),
            duration: std::time::Duration::ZERO,
            strict: false,
            outcomes: vec![failed],
            insecure: Vec::new(),
            resolved: Vec::new(),
            user_deviations: Vec::new(),
            suites: Default::default(),
        }
    }

    #[test]
    fn a_full_disk_keeps_the_reports_written_whole_and_names_the_others() {
        let dir = std::env::temp_dir().join(format!("tokenconf-full-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // The previous run's reports, all of them.
        write_all(&dir, &run("earlier"), &Redactor::default()).unwrap();
        assert!(dir.join("index.html").is_file());
        let report = run("now");
        let plan = ReportPlan::for_report(&dir, &report);
        let full = |path: &Path, text: &str| {
            if path.ends_with("index.html") {
                return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
            }
            files::write_file(path, text)
        };
        let redacted = Redacted::new(&report, &Redactor::default());
        let err = write_planned_with(&plan, &redacted, &full).unwrap_err();
        assert_eq!(err.not_written, ["index.html"]);
        assert_eq!(err.written, ["junit.xml", "summary.json", "diffs"]);
        assert!(err.stale_removed);
        let message = err.to_string();
        assert!(
            message.contains("not written: index.html")
                && message.contains("written completely: junit.xml, summary.json, diffs"),
            "{message}"
        );
        // This run's files are there, whole; the old page is gone, not passed off as this run's.
        let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
        assert!(
            junit.contains("name=\"now\"") && !junit.contains("earlier"),
            "{junit}"
        );
        assert!(std::fs::read_to_string(dir.join("summary.json"))
            .unwrap()
            .contains("s::now"));
        assert!(dir.join("diffs/s/now.diff").is_file());
        assert!(!dir.join("index.html").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
