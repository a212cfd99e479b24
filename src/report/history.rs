//! `tokenconf report --history DIR...`: one self-contained page (inline SVG, no script, no
//! network) over several runs' summary.json: passed, failed and warnings per run, failures per
//! rule and per API, and for each current failure the run its failing streak began in.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::escape::{escape_control, escape_markup};
use crate::error::ConfigError;
use crate::suite::input::FileKind;

/// What the page reads of a summary.json (format 1; other fields are ignored).
#[derive(Debug, Deserialize)]
pub struct RunSummary {
    pub format: u32,
    pub target: String,
    #[serde(default)]
    pub started: String,
    pub counts: Counts,
    #[serde(default)]
    pub cases: Vec<Case>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Counts {
    #[serde(default)]
    pub passed: usize,
    #[serde(default)]
    pub failed: usize,
    #[serde(default)]
    pub errored: usize,
    #[serde(default)]
    pub skipped: usize,
    #[serde(default)]
    pub warnings: usize,
}

#[derive(Debug, Deserialize)]
pub struct Case {
    pub test: String,
    pub suite: String,
    pub status: String,
    #[serde(default)]
    pub findings: Vec<Finding>,
}

#[derive(Debug, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub level: String,
}

/// Reads each run's summary.json (a report folder or the file itself), through the one capped
/// reader (a regular file, at most 256 MiB).
pub fn load(paths: &[PathBuf]) -> Result<Vec<RunSummary>, ConfigError> {
    paths
        .iter()
        .map(|p| {
            let file = if p.is_dir() {
                p.join("summary.json")
            } else {
                p.clone()
            };
            let bad = |message: String| ConfigError::File {
                path: PathBuf::from(escape_control(&file.to_string_lossy()).into_owned()),
                message: escape_control(&message).into_owned(),
            };
            let text = crate::suite::input::read_text(&file, FileKind::Summary)
                .map_err(|e| bad(e.reason))?;
            let run: RunSummary = serde_json::from_str(&text)
                .map_err(|e| bad(format!("line {} column {}: {e}", e.line(), e.column())))?;
            if run.format != 1 {
                return Err(bad(format!(
                    "summary format {} (this tokenconf reads format 1)",
                    run.format
                )));
            }
            Ok(run)
        })
        .collect()
}

/// The page for the runs at `paths`, in the order they started (their `started` time; runs
/// without one keep their place among the others as given).
pub fn render_files(paths: &[PathBuf]) -> Result<String, ConfigError> {
    let mut runs: Vec<(RunSummary, String)> = load(paths)?
        .into_iter()
        .zip(paths.iter().map(|p| label(p)))
        .collect();
    sort_by_started(&mut runs);
    let (runs, labels): (Vec<RunSummary>, Vec<String>) = runs.into_iter().unzip();
    Ok(render(&runs, &labels))
}

/// Oldest first by `started` (RFC 3339 UTC, as summary.json writes it, so text order is time
/// order); a run without a time stays after the one given before it.
fn sort_by_started(runs: &mut Vec<(RunSummary, String)>) {
    let mut last = String::new();
    let mut keyed: Vec<(String, usize, (RunSummary, String))> = runs
        .drain(..)
        .enumerate()
        .map(|(i, run)| {
            if !run.0.started.is_empty() {
                last = run.0.started.clone();
            }
            (last.clone(), i, run)
        })
        .collect();
    keyed.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    runs.extend(keyed.into_iter().map(|(_, _, run)| run));
}

fn label(p: &Path) -> String {
    let p = if p.ends_with("summary.json") {
        p.parent().unwrap_or(p)
    } else {
        p
    };
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn e(text: &str) -> String {
    escape_markup(text).into_owned()
}

fn failing(c: &Case) -> bool {
    c.status == "failed" || c.status == "errored"
}

/// The API of a suite: the first part of its name (`talkdesk/token` → `talkdesk`).
fn api_of(suite: &str) -> &str {
    suite.split('/').next().unwrap_or(suite)
}

/// A run's cases, stacked: each case counts once.
const CASE_SERIES: [(&str, &str); 3] = [
    ("passed", "#2e7d32"),
    ("failed", "#c62828"),
    ("skipped", "#9e9e9e"),
];

/// Warnings are findings, not cases (a case may have several): a series of their own, drawn
/// beside each run's cases, never stacked on them.
const WARNINGS: (&str, &str) = ("warnings", "#f9a825");

pub fn render(runs: &[RunSummary], labels: &[String]) -> String {
    let mut body = String::new();
    body.push_str("<h2>Cases per run, and warnings</h2>\n");
    body.push_str(&counts_chart(runs, labels));
    let by_rule = grid(runs, |c| {
        if !failing(c) {
            return Vec::new();
        }
        let rules: BTreeSet<String> = c
            .findings
            .iter()
            .filter(|f| f.level == "must")
            .map(|f| f.rule.clone())
            .collect();
        rules.into_iter().collect()
    });
    body.push_str("<h2>Failing cases per rule</h2>\n");
    body.push_str(&heatmap("rules", &by_rule, labels));
    let by_api = grid(runs, |c| {
        if failing(c) {
            vec![api_of(&c.suite).to_string()]
        } else {
            Vec::new()
        }
    });
    body.push_str("<h2>Failing cases per API</h2>\n");
    body.push_str(&heatmap("apis", &by_api, labels));
    body.push_str("<h2>Current failures</h2>\n");
    body.push_str(&current_failures(runs, labels));
    let target = runs.last().map(|r| r.target.as_str()).unwrap_or("");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tokenconf history</title>\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}svg{{display:block;margin:.5em 0 1.5em}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left}}\
         .legend span{{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 1em}}</style></head>\
         <body><h1>tokenconf history</h1><p>{} runs; latest target <code>{}</code></p>\n{body}</body></html>\n",
        runs.len(),
        e(target)
    )
}

fn counts_chart(runs: &[RunSummary], labels: &[String]) -> String {
    let cases: Vec<[usize; 3]> = runs
        .iter()
        .map(|r| {
            [
                r.counts.passed,
                r.counts.failed + r.counts.errored,
                r.counts.skipped,
            ]
        })
        .collect();
    let warnings: Vec<usize> = runs.iter().map(|r| r.counts.warnings).collect();
    let max = cases
        .iter()
        .map(|v| v.iter().sum::<usize>())
        .chain(warnings.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let (bar, thin, gap, height, top) = (28usize, 10usize, 18usize, 200usize, 24usize);
    let step = bar + thin + 2 + gap;
    let width = 60 + runs.len() * step;
    let base = top + height;
    let mut svg = format!(
        "<svg id=\"chart-counts\" width=\"{width}\" height=\"{}\" role=\"img\" aria-label=\"cases per run (passed, failed, skipped), and warnings beside\">",
        base + 60
    );
    svg.push_str(&format!(
        "<text x=\"4\" y=\"{}\" font-size=\"11\">{max}</text><line x1=\"40\" y1=\"{top}\" x2=\"40\" y2=\"{base}\" stroke=\"#999\"/>",
        top + 10
    ));
    for (i, v) in cases.iter().enumerate() {
        let x = 50 + i * step;
        let label = e(&labels[i]);
        let mut y = base;
        for (k, (name, color)) in CASE_SERIES.iter().enumerate() {
            let h = v[k] * height / max;
            if h == 0 {
                continue;
            }
            y -= h;
            svg.push_str(&format!(
                "<rect class=\"{name}\" x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\" fill=\"{color}\"><title>{label}: {} {name}</title></rect>",
                v[k]
            ));
        }
        let total: usize = v.iter().sum();
        svg.push_str(&format!(
            "<text class=\"cases\" x=\"{x}\" y=\"{}\" font-size=\"10\">{total}</text>",
            y.saturating_sub(3)
        ));
        let (name, color) = WARNINGS;
        let h = warnings[i] * height / max;
        let wx = x + bar + 2;
        if h > 0 {
            svg.push_str(&format!(
                "<rect class=\"{name}\" x=\"{wx}\" y=\"{}\" width=\"{thin}\" height=\"{h}\" fill=\"{color}\"><title>{label}: {} {name} (findings, not cases)</title></rect>",
                base - h,
                warnings[i]
            ));
        }
        svg.push_str(&format!(
            "<text x=\"{x}\" y=\"{}\" font-size=\"10\" transform=\"rotate(30 {x} {})\">{}</text>",
            base + 14,
            base + 14,
            e(&short(&labels[i], 18))
        ));
    }
    svg.push_str("</svg>");
    let legend: String = CASE_SERIES
        .iter()
        .map(|(name, color)| format!("<span style=\"background:{color}\"></span>{name} cases"))
        .chain(std::iter::once(format!(
            "<span style=\"background:{}\"></span>{} (findings, beside the cases)",
            WARNINGS.1, WARNINGS.0
        )))
        .collect();
    format!("{svg}<p class=\"legend\">{legend}</p>\n")
}

fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        text.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// Row name → failing cases per run.
fn grid(
    runs: &[RunSummary],
    rows_of: impl Fn(&Case) -> Vec<String>,
) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        for c in &run.cases {
            for row in rows_of(c) {
                out.entry(row).or_insert_with(|| vec![0; runs.len()])[i] += 1;
            }
        }
    }
    out
}

fn heatmap(id: &str, rows: &BTreeMap<String, Vec<usize>>, labels: &[String]) -> String {
    if rows.is_empty() {
        return format!("<p id=\"chart-{id}\">no failures in any run</p>\n");
    }
    let max = rows.values().flatten().copied().max().unwrap_or(1).max(1);
    let (cell, left, top) = (26usize, 260usize, 20usize);
    let width = left + labels.len() * cell + 10;
    let height = top + rows.len() * cell + 10;
    let mut svg = format!(
        "<svg id=\"chart-{id}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"failing cases per {id} and run\">"
    );
    for (j, l) in labels.iter().enumerate() {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"14\" font-size=\"10\">{}</text>",
            left + j * cell + 4,
            j + 1
        ));
        let _ = l;
    }
    for (i, (name, counts)) in rows.iter().enumerate() {
        let y = top + i * cell;
        svg.push_str(&format!(
            "<text x=\"4\" y=\"{}\" font-size=\"11\">{}</text>",
            y + 17,
            e(&short(name, 40))
        ));
        for (j, n) in counts.iter().enumerate() {
            let opacity = if *n == 0 {
                0.06
            } else {
                0.25 + 0.75 * (*n as f64) / (max as f64)
            };
            svg.push_str(&format!(
                "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"#c62828\" fill-opacity=\"{opacity:.2}\"><title>{} in {}: {n} failing</title></rect>",
                left + j * cell,
                cell - 2,
                cell - 2,
                e(name),
                e(&labels[j])
            ));
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn current_failures(runs: &[RunSummary], labels: &[String]) -> String {
    let Some(last) = runs.last() else {
        return "<p>no runs</p>\n".into();
    };
    // One set per run: looking each test up is then constant time, not a scan of the run.
    let failing_per_run: Vec<HashSet<&str>> = runs
        .iter()
        .map(|run| {
            run.cases
                .iter()
                .filter(|c| failing(c))
                .map(|c| c.test.as_str())
                .collect()
        })
        .collect();
    let failing_in = |run: usize, test: &str| failing_per_run[run].contains(test);
    let mut rows = String::new();
    for c in last.cases.iter().filter(|c| failing(c)) {
        let mut since = runs.len() - 1;
        while since > 0 && failing_in(since - 1, &c.test) {
            since -= 1;
        }
        let rules: BTreeSet<&str> = c
            .findings
            .iter()
            .filter(|f| f.level == "must")
            .map(|f| f.rule.as_str())
            .collect();
        rows.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>run {} ({}{})</td></tr>\n",
            e(&c.test),
            e(&rules.into_iter().collect::<Vec<_>>().join(", ")),
            since + 1,
            e(&labels[since]),
            if runs[since].started.is_empty() {
                String::new()
            } else {
                format!(", {}", e(&runs[since].started))
            }
        ));
    }
    if rows.is_empty() {
        return "<p id=\"current\">none: every case of the latest run passed</p>\n".into();
    }
    format!(
        "<table id=\"current\"><tr><th>test</th><th>rules</th><th>failing since</th></tr>\n{rows}</table>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(started: &str, failing: usize, passed: usize, warnings: usize) -> RunSummary {
        let case = |i: usize, status: &str| Case {
            test: format!("oauth2/token::case-number-{i:06}"),
            suite: "oauth2/token".into(),
            status: status.into(),
            findings: vec![Finding {
                rule: "RFC6749-5.1-no-store".into(),
                level: "must".into(),
            }],
        };
        RunSummary {
            format: 1,
            target: "t".into(),
            started: started.into(),
            counts: Counts {
                passed,
                failed: failing,
                warnings,
                ..Counts::default()
            },
            cases: (0..failing)
                .map(|i| case(i, "failed"))
                .chain((0..passed).map(|i| case(failing + i, "passed")))
                .collect(),
        }
    }

    /// The best of three timings of the current-failures table over three runs of `n` failing
    /// cases each: the best, so a busy machine does not skew the comparison.
    fn seconds_for_current_failures(n: usize) -> f64 {
        let runs: Vec<RunSummary> = (0..3).map(|_| run("", n, 0, 0)).collect();
        let labels: Vec<String> = (1..=3).map(|i| format!("r{i}")).collect();
        (0..3)
            .map(|_| {
                let started = std::time::Instant::now();
                let table = current_failures(&runs, &labels);
                let took = started.elapsed().as_secs_f64();
                // Every current failure has been failing since the first run.
                assert_eq!(table.matches("<td>run 1 (r1)</td>").count(), n);
                took
            })
            .fold(f64::MAX, f64::min)
    }

    #[test]
    fn the_history_of_20000_failing_cases_over_three_runs_is_linear() {
        // Quadratic, 20,000 cases took 16 to 24 times as long as 5,000 (1.8 s in a release
        // build, far more in a debug one); linear, about 4 times. 12 keeps both sides clear of
        // a busy machine's noise.
        let small = seconds_for_current_failures(5_000);
        let large = seconds_for_current_failures(20_000);
        assert!(
            large < 12.0 * small.max(0.005) && large < 5.0,
            "5,000 cases: {small:.3} s; 20,000 cases: {large:.3} s"
        );
        let runs: Vec<RunSummary> = (0..3).map(|_| run("", 20_000, 0, 0)).collect();
        let labels: Vec<String> = (1..=3).map(|i| format!("r{i}")).collect();
        let started = std::time::Instant::now();
        let page = render(&runs, &labels);
        assert!(page.contains("</html>"));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the whole page took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn the_chart_stacks_cases_only_and_draws_warnings_beside_them() {
        // 169 cases and 206 warnings, as in the report that found it.
        let runs = vec![run("2026-12-01T00:00:00Z", 10, 159, 206)];
        let svg = counts_chart(&runs, &["r1".to_string()]);
        let rects: Vec<(String, usize, usize, usize)> = svg
            .split("<rect ")
            .skip(1)
            .map(|r| {
                let attr = |name: &str| -> String {
                    let at = r.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                    r[at..].split('"').next().unwrap().to_string()
                };
                let n = |name: &str| attr(name).parse::<usize>().unwrap();
                (attr("class"), n("x"), n("y"), n("height"))
            })
            .collect();
        let base = 24 + 200;
        let cases: Vec<_> = rects.iter().filter(|r| r.0 != "warnings").collect();
        // The case bars stack from the baseline up, one on another.
        let mut y = base;
        for r in &cases {
            assert_eq!(r.2 + r.3, y, "{rects:?}");
            y = r.2;
        }
        let warnings: Vec<_> = rects.iter().filter(|r| r.0 == "warnings").collect();
        assert_eq!(warnings.len(), 1, "{rects:?}");
        let w = warnings[0];
        assert_eq!(w.2 + w.3, base, "warnings start at the baseline: {rects:?}");
        assert!(w.1 > cases[0].1, "warnings are beside the cases: {rects:?}");
        assert!(
            svg.contains(">169</text>"),
            "the case total is shown: {svg}"
        );
        assert!(svg.contains("206 warnings"), "{svg}");
    }

    #[test]
    fn runs_are_shown_in_the_order_they_started() {
        let mut runs: Vec<(RunSummary, String)> = vec![
            (run("2026-12-03T00:00:00Z", 3, 0, 0), "third".into()),
            (run("2026-12-01T00:00:00Z", 1, 0, 0), "first".into()),
            (run("", 0, 0, 0), "after-first".into()),
            (run("2026-12-02T00:00:00Z", 2, 0, 0), "second".into()),
        ];
        sort_by_started(&mut runs);
        let order: Vec<&str> = runs.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(order, ["first", "after-first", "second", "third"]);
    }
}
