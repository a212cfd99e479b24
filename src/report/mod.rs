//! Reporters: console lines, JUnit XML, summary JSON. Every text passes through the redactor.

pub mod console;
pub mod junit;
pub mod summary;

use std::path::{Path, PathBuf};

use crate::outcome::RunReport;
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

/// Writes every report file under `dir`; returns the paths written.
pub fn write_all(
    dir: &Path,
    report: &RunReport,
    redactor: &Redactor,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let junit = dir.join("junit.xml");
    write_atomic(&junit, &redactor.scrub(&junit::render(report)))?;
    let summary = dir.join("summary.json");
    write_atomic(&summary, &redactor.scrub(&summary::render(report)))?;
    Ok(vec![junit, summary])
}

/// Temporary file and rename, so a reader never sees half a report.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
