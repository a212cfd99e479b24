//! `tokenconf run`'s output: a line per case (or a JSON object, or a GitHub annotation), a
//! progress bar on a terminal, the closing summary, and the exit code.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokenconf::error::Exit;
use tokenconf::outcome::{CaseOutcome, Status};
use tokenconf::report::{self, console};
use tokenconf::session::{Event, Session};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Github,
}

/// The longest message an annotation carries: CI pages truncate anyway, and a server's text
/// must not flood the log.
const ANNOTATION_MAX: usize = 500;

/// Case lines waiting for stdout while [`BLOCKS`] is set.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Set while cases finish and stdout is not a terminal (a CI log, a pipe, a file): their lines
/// go out in blocks, at most [`HOLD`] late, instead of a system call per case.
static BLOCKS: AtomicBool = AtomicBool::new(false);

/// How long a case line may wait in [`PENDING`].
const HOLD: Duration = Duration::from_millis(100);

/// Bytes that make [`PENDING`] go out at once.
const BLOCK: usize = 32 * 1024;

fn pending() -> std::sync::MutexGuard<'static, Vec<u8>> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

fn drain(pending: &mut Vec<u8>) {
    if !pending.is_empty() {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(pending);
        let _ = stdout.flush();
        pending.clear();
    }
}

/// Writes out what waits in [`PENDING`].
pub fn flush() {
    drain(&mut pending());
}

/// `text` on stdout, in order with every other line.
fn out_text(text: &str) {
    out_parts(&[text]);
}

fn out(line: &str) {
    out_parts(&[line, "\n"]);
}

/// `parts` on stdout, one after the other, in order with every other line.
fn out_parts(parts: &[&str]) {
    let mut pending = pending();
    if BLOCKS.load(Ordering::Relaxed) {
        for part in parts {
            pending.extend_from_slice(part.as_bytes());
        }
        if pending.len() >= BLOCK {
            drain(&mut pending);
        }
        return;
    }
    drain(&mut pending);
    // One write: a line longer than stdout's buffer, written in parts, would go out in two
    // system calls, and another writer to the same pipe could land between them.
    let _ = std::io::stdout()
        .lock()
        .write_all(parts.concat().as_bytes());
}

/// A line for a person on stderr (a warning may quote a server or a file: escaped), after the
/// case lines written before it.
pub fn note(line: &str) {
    let mut pending = pending();
    drain(&mut pending);
    let _ = writeln!(std::io::stderr().lock(), "{}", super::printable(line));
}

/// A line for a person: on stdout with the case lines, on stderr under `--format json` so
/// stdout stays one JSON object per line.
pub fn info(format: Format, line: &str) {
    if format == Format::Json {
        note(line)
    } else {
        out(line)
    }
}

/// `warning: …` lines on stderr, escaped.
pub fn warn(warnings: &[String]) {
    for w in warnings {
        note(&format!("warning: {}", report::escape_control(w)));
    }
}

pub async fn run(session: Session, format: Format) -> Exit {
    warn(session.warnings());
    for found in session.discovered() {
        info(format, &report::escape_control(found));
    }
    // Only annotations need them.
    let locations = if format == Format::Github {
        locations(&session)
    } else {
        HashMap::new()
    };
    let styles = report::Styles::when(
        format != Format::Json && console::colour_wanted(std::io::stdout().is_terminal()),
    );
    let bar = progress_bar(session.selected().len(), session.against_mock());
    let canceller = session.canceller();
    let on_interrupt = bar.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.suspend(|| {
                note("\ninterrupted: finishing the cases in flight, then writing reports")
            });
            canceller.cancel();
            // A second Ctrl-C does not wait for cases stuck in timeouts or retries.
            if tokio::signal::ctrl_c().await.is_ok() {
                // Lines of cases still finishing go straight out from here on.
                BLOCKS.store(false, Ordering::Relaxed);
                note("interrupted twice: stopping now, without reports");
                // process::exit runs no destructors: the login profiles go first.
                canceller.stop_logins_now();
                let mut pending = pending();
                drain(&mut pending);
                std::process::exit(Exit::Interrupted as i32);
            }
        }
    });
    // JSON lines are for programs reading the run as it goes: each goes out as it finishes.
    BLOCKS.store(
        format != Format::Json && !std::io::stdout().is_terminal(),
        Ordering::Relaxed,
    );
    let ticker = tokio::spawn(async {
        loop {
            tokio::time::sleep(HOLD).await;
            flush();
        }
    });
    let finished = session
        .run(|event| match event {
            Event::Started { cases, target } => {
                if format != Format::Json {
                    let noun = if cases == 1 { "case" } else { "cases" };
                    out(&format!("\nrunning {cases} {noun} against {target}"));
                }
            }
            Event::CaseFinished(o) => {
                bar.suspend(|| match format {
                    Format::Json => out(&json_line(o)),
                    Format::Human | Format::Github => {
                        out(&console::styled_case_line(o, &styles));
                        // Under --verbose; a failing case's are in its details at the end.
                        if o.status == Status::Passed && !o.requests.is_empty() {
                            out_text(&console::requests(o));
                        }
                        if format == Format::Github {
                            if let Some(a) = annotation(o, &locations) {
                                out(&a);
                            }
                        }
                    }
                });
                bar.inc(1);
            }
        })
        .await;
    ticker.abort();
    BLOCKS.store(false, Ordering::Relaxed);
    flush();
    bar.finish_and_clear();
    if format == Format::Json {
        out(&summary_line(&finished));
    } else {
        out_text(&console::styled_summary(&finished.report, &styles));
    }
    match &finished.written {
        Ok(paths) => {
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            info(format, &format!("reports: {}", names.join(", ")));
        }
        Err(e) => {
            super::fail(e);
        }
    }
    for w in &finished.warnings {
        note(&format!("warning: {w}"));
    }
    for e in &finished.expected_entries {
        use tokenconf::expected::Fate;
        let line = match e.fate {
            Fate::Absorbed(n) => format!(
                "expected: {} absorbed {n} finding{} at {}",
                e.what,
                if n == 1 { "" } else { "s" },
                e.at
            ),
            Fate::Resolved => format!(
                "resolved: {} no longer occurs; remove the entry at {}",
                e.what, e.at
            ),
            Fate::NotReached => format!(
                "not reached: {}: its step did not run (an earlier step failed or errored), so nothing is known; keep the entry at {}",
                e.what, e.at
            ),
            Fate::Idle => continue,
        };
        info(format, &report::escape_control(&line));
    }
    if let Some(why) = finished.nothing_ran() {
        note(&format!("error: {}", report::escape_control(&why)));
    }
    if finished.interrupted() {
        info(
            format,
            &format!(
                "interrupted: {} of {} cases ran",
                finished.report.outcomes.len(),
                finished.selected
            ),
        );
    }
    let exit = finished.exit();
    // The process ends next: freeing every outcome first was 3% of writing the reports.
    std::mem::forget(finished);
    exit
}

/// Each selected test's suite file and the line of its `name:`.
fn locations(session: &Session) -> HashMap<String, (PathBuf, u64)> {
    let runner = session.runner();
    session
        .selected()
        .iter()
        .map(|id| {
            let suite = &runner.loaded().suites[id.suite];
            let line = suite.cases[id.case].line;
            (runner.test_name(*id), (suite.file.clone(), line))
        })
        .collect()
}

/// One JSON object per finished case: what other tools read as the run goes.
fn json_line(o: &CaseOutcome) -> String {
    let value = serde_json::json!({
        "test": o.test,
        "suite": o.suite,
        "case": o.case,
        "outcome": o.status,
        "reason": o.reason,
        "error_kind": o.error_kind,
        "step": o.step,
        "findings": o.findings,
        "requests": o.requests,
        "duration_ms": o.duration.as_millis(),
    });
    value.to_string()
}

/// The last JSON line: the run's counts and verdict, so a reader of the stream knows it ended
/// and how, without summary.json. Told from a case's line by its `summary` member.
fn summary_line(finished: &tokenconf::session::Finished) -> String {
    let report = &finished.report;
    let outcome = match finished.exit() {
        Exit::Passed => "passed",
        Exit::Interrupted => "interrupted",
        Exit::Unusable => "unusable",
        Exit::Failed => "failed",
    };
    let value = serde_json::json!({
        "summary": report.counts(),
        "outcome": outcome,
        "target": report.target,
        "selected": finished.selected,
        "ran": report.outcomes.len(),
        "hints": console::target_hints(report),
        "duration_ms": report.duration.as_millis(),
    });
    value.to_string()
}

/// `::error file=…,line=…,title=…::message` for a failed or errored case (GitHub Actions).
fn annotation(o: &CaseOutcome, locations: &HashMap<String, (PathBuf, u64)>) -> Option<String> {
    if !matches!(o.status, Status::Failed | Status::Errored) {
        return None;
    }
    let (file, line) = locations.get(&o.test)?;
    let message = match o
        .findings
        .iter()
        .find(|f| f.level == tokenconf::finding::Level::Must)
    {
        Some(f) => format!("{}: {}", f.rule, f.message),
        None => o.reason.clone().unwrap_or_default(),
    };
    let mut message: String = message.chars().take(ANNOTATION_MAX + 1).collect();
    if message.chars().count() > ANNOTATION_MAX {
        message = message.chars().take(ANNOTATION_MAX).collect::<String>() + "…";
    }
    Some(format!(
        "::error file={},line={line},title={}::{}",
        escape_property(&file.display().to_string()),
        escape_property(&o.test),
        escape_data(&message)
    ))
}

/// The workflow-command escapes for a message (`%`, CR, LF), after every other control
/// character is made visible, so a server's text stays one line and starts no command.
fn escape_data(text: &str) -> String {
    tokenconf::report::escape_control(text)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The escapes for a property value: a message's, plus `:` and `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// A bar on stderr for long runs (many cases, or a real target's latency) when stderr is a
/// terminal; hidden otherwise, so logs and pipes get only the case lines.
fn progress_bar(cases: usize, against_mock: bool) -> indicatif::ProgressBar {
    let long = cases > 200 || !against_mock;
    if !(long && std::io::stderr().is_terminal()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(cases as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {pos}/{len} cases, {eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_annotation_message_stays_on_one_line() {
        assert_eq!(escape_data("a\nb%\r\x1b]0;x"), "a\\nb%25\\r\\x1b]0;x");
        assert_eq!(escape_property("x::y,z"), "x%3A%3Ay%2Cz");
    }

    #[test]
    fn a_json_line_names_why_a_case_errored_by_its_kind() {
        use tokenconf::http::TransportKind;
        use tokenconf::outcome::ErrorKind;
        let mut o = CaseOutcome::new("s", "oauth2", "c", "s::c", Status::Errored);
        o.error_kind = Some(ErrorKind::Transport(TransportKind::Timeout));
        let line: serde_json::Value = serde_json::from_str(&json_line(&o)).unwrap();
        assert_eq!(line["outcome"], "errored");
        assert_eq!(line["error_kind"], "timeout");
        let passed = CaseOutcome::new("s", "oauth2", "c", "s::c", Status::Passed);
        let line: serde_json::Value = serde_json::from_str(&json_line(&passed)).unwrap();
        assert!(line["error_kind"].is_null(), "{line}");
    }
}
