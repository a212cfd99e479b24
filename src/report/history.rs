//! `tokenconf report --history DIR...`: one self-contained page (inline SVG, no script, no
//! network) over several runs' summary.json: passed, failed and warnings per run, failures per
//! rule and per API, and for each current failure the run its failing streak began in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::escape::escape_markup;
use crate::error::ConfigError;

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

/// Reads each run's summary.json (a report folder or the file itself), oldest first.
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
                path: file.clone(),
                message,
            };
            let text = std::fs::read_to_string(&file).map_err(|e| bad(e.to_string()))?;
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

/// The page for the runs at `paths`.
pub fn render_files(paths: &[PathBuf]) -> Result<String, ConfigError> {
    let runs = load(paths)?;
    let labels: Vec<String> = paths.iter().map(|p| label(p)).collect();
    Ok(render(&runs, &labels))
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

const COLORS: [(&str, &str); 3] = [
    ("passed", "#2e7d32"),
    ("failed", "#c62828"),
    ("warnings", "#f9a825"),
];

pub fn render(runs: &[RunSummary], labels: &[String]) -> String {
    let mut body = String::new();
    body.push_str("<h2>Passed, failed and warnings per run</h2>\n");
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
    let values: Vec<[usize; 3]> = runs
        .iter()
        .map(|r| {
            [
                r.counts.passed,
                r.counts.failed + r.counts.errored,
                r.counts.warnings,
            ]
        })
        .collect();
    let max = values
        .iter()
        .map(|v| v.iter().sum::<usize>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (bar, gap, height, top) = (28usize, 14usize, 200usize, 10usize);
    let width = 60 + runs.len() * (bar + gap);
    let mut svg = format!(
        "<svg id=\"chart-counts\" width=\"{width}\" height=\"{}\" role=\"img\" aria-label=\"passed, failed and warnings per run\">",
        height + top + 60
    );
    svg.push_str(&format!(
        "<text x=\"4\" y=\"{}\" font-size=\"11\">{max}</text><line x1=\"40\" y1=\"{top}\" x2=\"40\" y2=\"{}\" stroke=\"#999\"/>",
        top + 10,
        top + height
    ));
    for (i, v) in values.iter().enumerate() {
        let x = 50 + i * (bar + gap);
        let mut y = top + height;
        for (k, (name, color)) in COLORS.iter().enumerate() {
            let h = v[k] * height / max;
            if h == 0 {
                continue;
            }
            y -= h;
            svg.push_str(&format!(
                "<rect class=\"{name}\" x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\" fill=\"{color}\"><title>{}: {} {name}</title></rect>",
                e(&labels[i]),
                v[k]
            ));
        }
        svg.push_str(&format!(
            "<text x=\"{x}\" y=\"{}\" font-size=\"10\" transform=\"rotate(30 {x} {})\">{}</text>",
            top + height + 14,
            top + height + 14,
            e(&short(&labels[i], 18))
        ));
    }
    svg.push_str("</svg>");
    let legend: String = COLORS
        .iter()
        .map(|(name, color)| format!("<span style=\"background:{color}\"></span>{name}"))
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
    let failing_in =
        |run: &RunSummary, test: &str| run.cases.iter().any(|c| c.test == test && failing(c));
    let mut rows = String::new();
    for c in last.cases.iter().filter(|c| failing(c)) {
        let mut since = runs.len() - 1;
        while since > 0 && failing_in(&runs[since - 1], &c.test) {
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
