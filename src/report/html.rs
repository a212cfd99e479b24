//! `index.html`: one self-contained page (inline style and script, no external assets; its
//! Content-Security-Policy forbids loading anything), from a maud template. At the top the
//! counts; then the failing cases grouped by suite, a matrix of rules × APIs led by the rules
//! that failed or warned, the expected findings and resolved entries, and the other cases,
//! grouped by suite. Each failing case shows its requests, its findings and its diff.
//!
//! Every text from a suite, a target or a server is spliced as `Text`, through the one
//! escaper ([`escape_markup`](super::escape::escape_markup)): control characters shown as
//! escapes, then `& < > " '` as entities.

use std::collections::BTreeMap;

use maud::{html, Markup, PreEscaped, Render, DOCTYPE};

use crate::finding::{Finding, Level};
use crate::outcome::{fails, CaseOutcome, RunReport, Status};

/// The page's style sheet, inlined (the Content-Security-Policy loads nothing).
const STYLE: &str = include_str!("html/style.css");

/// Counts every case by `data-status`, fills the counts, and filters on click (or `#failed`).
const SCRIPT: &str = include_str!("html/script.js");

/// Text from suites, targets and servers, escaped for HTML text and attributes alike.
struct Text<'a>(&'a str);

impl Render for Text<'_> {
    fn render_to(&self, out: &mut String) {
        out.push_str(&esc(self.0));
    }
}

/// The file name of a failed browser login's screenshot named in a case's reason (written
/// to `screenshots/` beside index.html): only a name the login writes, safe in a link.
fn screenshot_file(reason: &str) -> Option<&str> {
    let (_, path) = reason.rsplit_once("screenshot: ")?;
    let path = path.split(';').next()?.trim();
    let name = path.rsplit(['/', '\\']).next()?;
    let stem = name.strip_suffix(".png")?;
    let plain = !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    plain.then_some(name)
}

fn t(text: &str) -> Text<'_> {
    Text(text)
}

/// index.html, scrubbed once more after rendering.
pub fn render(report: &super::RedactedReport) -> String {
    report.scrub(page(report).into_string())
}

fn page(report: &RunReport) -> Markup {
    let c = report.counts();
    let verdict = if report.all_passed() { "ok" } else { "FAILED" };
    let started = report
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let (failing, others): (Vec<&CaseOutcome>, Vec<&CaseOutcome>) = report
        .outcomes
        .iter()
        .partition(|o| matches!(o.status, Status::Failed | Status::Errored));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "tokenconf: " (verdict) " against " (t(&report.target)) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "tokenconf: " (verdict) }
                div.meta {
                    "target " b { (t(&report.target)) }
                    " · started " (super::summary::rfc3339(started))
                    " · " (format!("{:.2}", report.duration.as_secs_f64())) "s"
                    " · tokenconf " (env!("CARGO_PKG_VERSION"))
                    @if report.strict { " · --strict" }
                }
                @if !report.insecure.is_empty() {
                    div.insecure id="insecure" role="alert" {
                        b { "Insecure run:" } " others on the network could read or change its traffic."
                        ul { @for note in &report.insecure { li { (t(note)) } } }
                    }
                }
                // One line for a cause behind many failures (an unreachable origin, HTML to
                // everything), above the failures it explains.
                @let hints = super::console::target_hints(report);
                @if !hints.is_empty() {
                    div.hints id="hints" role="note" {
                        b { "Hint:" }
                        ul { @for hint in &hints { li { (t(hint)) } } }
                    }
                }
                // Static counts for readers without JavaScript; the script fills the buttons'.
                noscript {
                    p { (c.passed) " passed, " (c.failed) " failed, " (c.errored) " errored, "
                        (c.skipped) " skipped, " (c.warnings) " warnings, " (c.expected)
                        " expected, " (c.resolved) " resolved" }
                }
                nav.counts aria-label="filter by outcome" {
                    @for (filter, label) in FILTERS {
                        button type="button" data-filter=(filter) id={ "count-" (filter) } aria-pressed="false" {
                            span.n { "…" } (label)
                        }
                    }
                }
                main {
                    (Room(report.outcomes.len()))
                    // A failing run opens on its failures; the matrix follows them.
                    section #failures {
                        h2 { "Failures" }
                        @if failing.is_empty() { p.none { "No case failed or errored." } }
                        (BySuite(&failing, report.strict))
                    }
                    (matrix_section(&Matrix::of(report)))
                    (expected_section(report))
                    (resolved_section(report))
                    @if !report.user_deviations.is_empty() {
                        section #user-deviations {
                            h2 { "Your known deviations that applied" }
                            ul { @for d in &report.user_deviations { li { (t(&d.to_string())) } } }
                        }
                    }
                    section #cases {
                        h2 { "Other cases" }
                        @if report.outcomes.is_empty() { p.none { "No case ran." } }
                        (BySuite(&others, report.strict))
                    }
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

const FILTERS: [(&str, &str); 7] = [
    ("all", "all"),
    ("passed", "passed"),
    ("failed", "failed"),
    ("errored", "errored"),
    ("skipped", "skipped"),
    ("flaky", "flaky"),
    ("warned", "with warnings"),
];

/// Room in the page for this many cases (a passing one takes ~330 bytes), reserved once before
/// the first: growing a string copies its unwritten room too, so a second reserve a little
/// short of the first wrote 10 MB of fresh pages over 10,000 cases.
struct Room(usize);

impl Render for Room {
    fn render_to(&self, out: &mut String) {
        out.reserve(super::room(self.0, 1024));
    }
}

/// Cases (and `--strict`) in groups of one suite each, the suites in order of their first case.
/// Rendered straight into the page: as a string of its own, 10,000 cases were megabytes grown
/// by doubling, then copied into the page, itself grown by doubling.
struct BySuite<'a>(&'a [&'a CaseOutcome], bool);

impl Render for BySuite<'_> {
    fn render_to(&self, out: &mut String) {
        let BySuite(cases, strict) = *self;
        let mut groups: Vec<(&str, Vec<&CaseOutcome>)> = Vec::new();
        for o in cases {
            match groups.iter_mut().find(|(s, _)| *s == o.suite) {
                Some((_, members)) => members.push(o),
                None => groups.push((&o.suite, vec![o])),
            }
        }
        for (suite, members) in &groups {
            let head = html! {
                h3 { (t(suite)) " " span.n { "(" (members.len()) ")" } }
            };
            out.push_str("<section class=\"suite\" data-suite=\"");
            t(suite).render_to(out);
            out.push_str("\">");
            out.push_str(&head.into_string());
            for o in members {
                case(o, strict).render_to(out);
            }
            out.push_str("</section>");
        }
    }
}

fn case(o: &CaseOutcome, strict: bool) -> Markup {
    let status = o.status.name();
    let failures: Vec<&Finding> = o.failures(strict).collect();
    let (expected, warnings): (Vec<&Finding>, Vec<&Finding>) =
        o.warnings(strict).partition(|f| f.level == Level::Expected);
    let diff = super::diff::case_diff(o, strict);
    let badge = if o.is_flaky() { "flaky" } else { status };
    html! {
        details.case.(status) data-status=(status)
            data-warned=(if warnings.is_empty() { "no" } else { "yes" })
            data-flaky=(if o.is_flaky() { "yes" } else { "no" })
            id=(t(&o.test)) open[matches!(o.status, Status::Failed | Status::Errored)] {
            summary {
                span.badge { (badge) }
                span.name { (t(&o.test)) }
                span.time { (format!("{:.1}", o.duration.as_secs_f64() * 1000.0)) " ms" }
                @if let Some(kind) = o.error_kind { span.kind { (kind.name()) } }
                @if let Some(why) = &o.reason { span.why { (t(why)) } }
            }
            div.detail.single[diff.is_none()] {
                div {
                    h3 { (t(&o.case)) }
                    @if let Some(step) = &o.step { p { "at " (t(step)) } }
                    @if let Some(shot) = o.reason.as_deref().and_then(screenshot_file) {
                        p.screenshot { a href=(format!("screenshots/{shot}")) { "What the browser saw" } " (the login's screenshot)" }
                    }
                    @for q in &o.requests {
                        div.request {
                            h4 { "request (" (t(&q.step)) ")" }
                            pre { @for line in q.lines() { (t(&line)) "\n" } }
                        }
                    }
                    @for f in failures.iter().chain(&warnings) { (finding(f)) }
                    @if !expected.is_empty() {
                        div.expected {
                            h4 { "Expected findings (accepted, never failing)" }
                            @for f in &expected { (finding(f)) }
                        }
                    }
                    @for (i, r) in o.retries.iter().enumerate() {
                        p.retry { "attempt " (i + 1) " retried (" (r.kind.name()) "): " (t(&r.reason))
                            " (waited " (r.waited.as_millis()) " ms)" }
                    }
                    @if o.findings.is_empty() && o.reason.is_none() { p { "No findings." } }
                }
                @if let Some(d) = &diff {
                    div {
                        h3 { "expected (−) vs actual (+)" }
                        pre.diff {
                            @for line in d.unified.as_deref().unwrap_or(&d.header).lines() {
                                span class=(diff_class(line)) { (t(line)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn diff_class(line: &str) -> &'static str {
    match line.as_bytes().first() {
        Some(b'-') if !line.starts_with("--- ") => "del",
        Some(b'+') if !line.starts_with("+++ ") => "add",
        Some(b'@') => "hunk",
        _ => "ctx",
    }
}

/// `level-must`, `level-should`, `level-known-deviation`, `level-expected`, … from the level's
/// own name, so a new level gets its class (and its rule in style.css) without a match arm here.
fn level_class(level: Level) -> String {
    format!("level-{}", level.name().to_ascii_lowercase())
}

fn finding(f: &Finding) -> Markup {
    html! {
        div.finding {
            span class=(level_class(f.level)) { "[" (f.level.name()) "]" } " "
            span.rule { (t(&f.rule)) } ": " (t(&f.message))
            dl {
                @for (label, value) in [("path", &f.path), ("expected", &f.expected), ("actual", &f.actual), ("reason", &f.accepted)] {
                    @if let Some(v) = value { dt { (label) } dd { (t(v)) } }
                }
                @if let Some(src) = &f.source {
                    dt { "source" }
                    dd {
                        @if src.starts_with("https://") || src.starts_with("http://") {
                            a href=(t(src)) rel="noreferrer" { (t(src)) }
                        } @else {
                            (t(src))
                        }
                    }
                }
            }
        }
    }
}

/// Every expected finding of the run, apart from failures: test, rule and the user's reason.
fn expected_section(report: &RunReport) -> Markup {
    let rows: Vec<(&CaseOutcome, &Finding)> = report
        .outcomes
        .iter()
        .flat_map(|o| o.findings.iter().map(move |f| (o, f)))
        .filter(|(_, f)| f.level == Level::Expected)
        .collect();
    html! {
        @if !rows.is_empty() {
            section #expected-findings {
                h2 { "Expected findings " span.n { "(" (rows.len()) ")" } }
                p.note { "Listed in the expected-findings file: reported, never failing." }
                table.list {
                    thead { tr { th { "test" } th { "rule" } th { "reason" } th { "finding" } } }
                    tbody {
                        @for (o, f) in &rows {
                            tr.expected {
                                td { a href={ "#" (t(&o.test)) } { (t(&o.test)) } }
                                td.rule { (t(&f.rule)) }
                                td { (t(f.accepted.as_deref().unwrap_or_default())) }
                                td { (t(&f.message)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Expected-findings entries that matched nothing although their test ran: remove them.
fn resolved_section(report: &RunReport) -> Markup {
    html! {
        @if !report.resolved.is_empty() {
            section #resolved {
                h2 { "Resolved entries " span.n { "(" (report.resolved.len()) ")" } }
                p.note { "Expected findings that no longer occur although their test ran: the entry can be removed." }
                table.list {
                    thead { tr { th { "test" } th { "rule" } th { "reason" } th { "entry" } } }
                    tbody {
                        @for r in &report.resolved {
                            tr.resolved {
                                td { (t(&r.test)) }
                                td.rule { (t(&r.rule)) }
                                td { (t(&r.reason)) }
                                td { (t(&r.at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What the cases of one API came to on one rule. Ordered: the worst wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    NotRun,
    Pass,
    Warn,
    Fail,
}

impl Cell {
    fn class(self) -> &'static str {
        match self {
            Cell::NotRun => "not-run",
            Cell::Pass => "pass",
            Cell::Warn => "warn",
            Cell::Fail => "fail",
        }
    }
}

/// One cell's worth: how many cases checked the rule, and how many of those it failed or
/// warned on.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    checked: usize,
    failed: usize,
    warned: usize,
}

impl Tally {
    fn cell(&self) -> Cell {
        if self.failed > 0 {
            Cell::Fail
        } else if self.warned > 0 {
            Cell::Warn
        } else if self.checked > 0 {
            Cell::Pass
        } else {
            Cell::NotRun
        }
    }
}

/// Rules × APIs: a rule ran for an API when a case of that API's suites held a response
/// against it (`rules_checked`); it failed there when such a case has a failing finding of it.
struct Matrix {
    apis: Vec<String>,
    /// Rule id → one tally per API, in `apis` order.
    rows: BTreeMap<String, Vec<Tally>>,
}

impl Matrix {
    fn of(report: &RunReport) -> Matrix {
        let mut apis: Vec<String> = report.outcomes.iter().map(|o| o.api.clone()).collect();
        apis.sort();
        apis.dedup();
        let mut rows: BTreeMap<String, Vec<Tally>> = BTreeMap::new();
        for o in &report.outcomes {
            let Ok(col) = apis.binary_search(&o.api) else {
                continue;
            };
            for rule in &o.rules_checked {
                let tallies = rows
                    .entry(rule.to_string())
                    .or_insert_with(|| vec![Tally::default(); apis.len()]);
                let found: Vec<&Finding> = o.findings.iter().filter(|f| f.rule == *rule).collect();
                let tally = &mut tallies[col];
                tally.checked += 1;
                if found.iter().any(|f| fails(f.level, report.strict)) {
                    tally.failed += 1;
                } else if !found.is_empty() {
                    tally.warned += 1;
                }
            }
        }
        Matrix { apis, rows }
    }

    /// The rules that failed first, then those that warned, then the rest; by id within each.
    fn ordered(&self) -> Vec<(&String, &Vec<Tally>)> {
        let worst = |tallies: &Vec<Tally>| tallies.iter().map(Tally::cell).max();
        let mut rows: Vec<(&String, &Vec<Tally>)> = self.rows.iter().collect();
        // Stable: the BTreeMap's id order stays within each kind of row.
        rows.sort_by_key(|row| std::cmp::Reverse(worst(row.1)));
        rows
    }

    #[cfg(test)]
    fn cell(&self, rule: &str, api: &str) -> Cell {
        let Some(col) = self.apis.iter().position(|a| a == api) else {
            return Cell::NotRun;
        };
        self.rows.get(rule).map_or(Cell::NotRun, |r| r[col].cell())
    }
}

fn matrix_section(m: &Matrix) -> Markup {
    html! {
        section #matrix {
            h2 { "Rules × APIs" }
            @if m.rows.is_empty() {
                p.none { "No case held a response against a library rule." }
            } @else {
                p.legend {
                    span.cell.pass { "pass" } " every case that checked it passed · "
                    span.cell.warn { "warn" } " a warning (SHOULD, known deviation, expected) · "
                    span.cell.fail { "fail" } " a case failed it · "
                    span.cell.not-run { "not run" } " no case of the API checked it"
                }
                div.matrix-scroll {
                    table.matrix {
                        thead { tr { th { "rule" } @for api in &m.apis { th { (t(api)) } } } }
                        tbody {
                            @for (rule, tallies) in m.ordered() {
                                tr {
                                    th.rule scope="row" { (t(rule)) }
                                    @for (api, tally) in m.apis.iter().zip(tallies) {
                                        @let cell = tally.cell();
                                        td class={ "cell " (cell.class()) } data-rule=(t(rule)) data-api=(t(api))
                                            title=(tally_title(tally)) {
                                            (cell_text(cell, tally))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn cell_text(cell: Cell, tally: &Tally) -> String {
    match cell {
        Cell::NotRun => "–".into(),
        Cell::Pass => format!("✓ {}", tally.checked),
        Cell::Warn => format!("! {}/{}", tally.warned, tally.checked),
        Cell::Fail => format!("✗ {}/{}", tally.failed, tally.checked),
    }
}

fn tally_title(tally: &Tally) -> String {
    format!(
        "{} cases checked it, {} failed, {} warned",
        tally.checked, tally.failed, tally.warned
    )
}

use super::escape::escape_markup as esc;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn only_a_screenshot_name_the_login_writes_becomes_a_link() {
        let said = "login step 2 (click `#go`): `#go` did not appear; screenshot: r/screenshots/idp_a-b.png";
        assert_eq!(screenshot_file(said), Some("idp_a-b.png"));
        for odd in [
            "no screenshot",
            "screenshot: r/screenshots/x\"onclick=\"y.png",
            "screenshot: r/screenshots/.png",
            "screenshot: r/x.svg",
        ] {
            assert_eq!(screenshot_file(odd), None, "{odd}");
        }
    }

    #[test]
    fn cases_are_grouped_by_suite_in_order_of_their_first_case() {
        let mut a1 = outcome("api", "a::1", &[], Vec::new());
        a1.suite = "a \"<b>\"".into();
        let b1 = outcome("api", "b::1", &[], Vec::new());
        let mut a2 = outcome("api", "a::2", &[], Vec::new());
        a2.suite = a1.suite.clone();
        let cases = [&a1, &b1, &a2];
        let page = html! { main { (BySuite(&cases, false)) } }.into_string();
        let sections: Vec<&str> = page
            .split("<section class=\"suite\" data-suite=\"")
            .skip(1)
            .collect();
        assert_eq!(sections.len(), 2, "{page}");
        assert!(sections[0].starts_with("a &quot;&lt;b&gt;&quot;\"><h3>a &quot;&lt;b&gt;&quot; <span class=\"n\">(2)</span></h3>"), "{page}");
        assert!(
            sections[1].starts_with("s\"><h3>s <span class=\"n\">(1)</span></h3>"),
            "{page}"
        );
        let at = |id: &str| page.find(&format!("id=\"{id}\"")).unwrap();
        assert!(at("a::1") < at("a::2") && at("a::2") < at("b::1"));
        assert!(page.ends_with("</details></section></main>"), "{page}");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
        assert_eq!(super::esc("a\x1b[2J\nb"), "a\\x1b[2J\\nb");
    }

    fn outcome(
        api: &str,
        test: &str,
        rules: &[&'static str],
        findings: Vec<Finding>,
    ) -> CaseOutcome {
        let mut o = CaseOutcome::new("s", api, test, test, Status::Passed);
        o.rules_checked = rules.to_vec();
        o.findings = findings;
        o
    }

    fn level(rule: &str, level: Level) -> Finding {
        Finding {
            level,
            ..Finding::must(rule, "m")
        }
    }

    #[test]
    fn a_cell_is_the_worst_of_the_api_cases_that_checked_the_rule() {
        let report = RunReport {
            target: "mock".into(),
            started: SystemTime::now(),
            duration: Duration::ZERO,
            strict: false,
            outcomes: vec![
                outcome(
                    "a",
                    "1",
                    &["R1", "R2", "R3"],
                    vec![level("R1", Level::Must)],
                ),
                outcome("a", "2", &["R1", "R2"], vec![level("R2", Level::Should)]),
                outcome("b", "3", &["R1"], vec![level("R1", Level::Expected)]),
                // A finding of a rule the case did not check (an expectation) is no cell.
                outcome("b", "4", &[], vec![level("status", Level::Must)]),
            ],
            insecure: Vec::new(),
            resolved: Vec::new(),
            user_deviations: Vec::new(),
            suites: Default::default(),
        };
        let m = Matrix::of(&report);
        assert_eq!(m.cell("R1", "a"), Cell::Fail);
        assert_eq!(m.cell("R2", "a"), Cell::Warn);
        assert_eq!(m.cell("R3", "a"), Cell::Pass);
        assert_eq!(m.cell("R1", "b"), Cell::Warn);
        assert_eq!(m.cell("R2", "b"), Cell::NotRun);
        assert_eq!(m.cell("status", "b"), Cell::NotRun);
        let strict = RunReport {
            strict: true,
            ..report
        };
        assert_eq!(Matrix::of(&strict).cell("R2", "a"), Cell::Fail);
    }
}
