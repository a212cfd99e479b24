//! Expected findings, owned by the user: a YAML list of entries, each naming one finding (test,
//! rule or check, step, actual value) that turns into an *expected* finding, and what became of
//! each entry (how many findings it absorbed, resolved, not reached).
//!
//! ```yaml
//! - test: "oauth2/token::unknown-client-is-401-invalid-client"   # a test name (or a glob)
//!   rule: RFC6749-5.2-invalid_client-401     # the finding's rule id, or check (`status`, `json $.x`)
//!   step: step 1                             # the step's `name:`, or `step N`
//!   actual: "Bearer error=\"invalid_client\""  # the value reported; another one fails again
//!   reason: "RFC 6749 §5.2: the server answers Bearer after Basic authentication"
//!   expires: 2027-03-31                      # optional: from that day on it fails again
//! # `widen: [any_step, any_actual, many_tests]` on an entry makes it wider, on purpose.
//! ```
//! Matching is by test, rule id, step and actual value, never by message text, so a stale entry
//! cannot hide a new finding: not of another rule, not in another step (a second redemption of a
//! code after the first's accepted deviation), not with another value.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ConfigError, SourceError};
use crate::finding::{Finding, Level};
use crate::suite::yaml::{self, Spanned};

/// A finding you expect: reported as expected, never failing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntryFile {
    /// A test name (`<suite>::<case slug>`), or a glob over test names. `{a,b}` alternation and
    /// a glob of wildcards alone (`*`, `**`, `*::*`) need `widen: [many_tests]`.
    #[schemars(with = "String")]
    test: Spanned<String>,
    /// The finding's rule id, exactly (see `tokenconf rules`), or a check: `status`, `json`,
    /// `json $.path`, `header name`, `schema file`, `capture name`.
    #[schemars(with = "String")]
    rule: Spanned<String>,
    /// The step the finding comes from: the step's `name:`, or `step N` (from 1; a case with one
    /// request has `step 1`). Required unless `widen` holds `any_step`.
    #[schemars(with = "Option<String>")]
    step: Option<Spanned<String>>,
    /// The finding's actual value, as the reports show it (`201` for a status); another value
    /// fails again. Left out, the entry matches only a finding that reports no actual value,
    /// unless `widen` holds `any_actual`.
    #[schemars(with = "Option<String>")]
    actual: Option<Spanned<String>>,
    /// Why: the RFC clause or vendor document, and what the server answers.
    #[schemars(with = "String")]
    reason: Spanned<String>,
    /// `YYYY-MM-DD`: from that day on the finding fails again.
    #[schemars(with = "Option<String>")]
    expires: Option<Spanned<String>>,
    /// What the entry matches beyond one finding, on purpose: `any_step` (every step of the
    /// case), `any_actual` (any value), `many_tests` (a glob over several tests).
    #[serde(default)]
    widen: Vec<Widen>,
}

/// A way an entry is made wider than one finding, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Widen {
    /// Every step of the case, not one.
    AnyStep,
    /// Any actual value, not one.
    AnyActual,
    /// A glob that may match several tests (`{a,b}`, `*`).
    ManyTests,
}

/// One entry of an expected-findings file.
#[derive(Debug)]
pub struct Entry {
    /// As written: a test name or a glob.
    pub test: String,
    pub rule: String,
    /// `None` only with [`Widen::AnyStep`].
    pub step: Option<String>,
    /// `None`: a finding without an actual value (or any, with [`Widen::AnyActual`]).
    pub actual: Option<String>,
    pub reason: String,
    /// `YYYY-MM-DD`; on and after it the entry no longer applies.
    pub expires: Option<chrono::NaiveDate>,
    pub widen: Vec<Widen>,
    /// The line of the entry in its file.
    pub line: u64,
    matcher: globset::GlobMatcher,
    /// Findings it turned into expected ones.
    absorbed: AtomicUsize,
    /// Its step ran in a test it names.
    reached: AtomicBool,
    /// No test it names has its step (said before the run).
    no_such_step: AtomicBool,
}

/// Where a finding comes from: the step's place (from 1) and its label (`name:` or `step N`).
#[derive(Debug, Clone, Copy)]
pub struct StepAt<'a> {
    pub number: usize,
    pub label: &'a str,
}

impl Entry {
    pub fn matches_test(&self, test: &str) -> bool {
        self.matcher.is_match(test)
    }

    fn widened(&self, w: Widen) -> bool {
        self.widen.contains(&w)
    }

    fn matches_step(&self, step: StepAt) -> bool {
        match &self.step {
            _ if self.widened(Widen::AnyStep) => true,
            None => false,
            Some(s) => {
                s == step.label
                    || *s == format!("step {}", step.number)
                    || *s == step.number.to_string()
            }
        }
    }

    fn matches_actual(&self, actual: Option<&str>) -> bool {
        self.widened(Widen::AnyActual) || self.actual.as_deref() == actual
    }

    fn expired(&self, today: chrono::NaiveDate) -> bool {
        self.expires.is_some_and(|day| today >= day)
    }

    /// What the entry names, for a person: `test [rule] at step`.
    fn what(&self) -> String {
        let step = match &self.step {
            Some(s) => format!(" at {s}"),
            None => " at any step".to_string(),
        };
        format!("{} [{}]{step}", self.test, self.rule)
    }
}

/// Every entry of one file; shared by every case of a run.
#[derive(Debug)]
pub struct ExpectedFindings {
    pub file: PathBuf,
    pub entries: Vec<Entry>,
    today: chrono::NaiveDate,
}

/// An entry that matched no finding although the step it names ran: the deviation is gone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolved {
    pub test: String,
    pub rule: String,
    pub reason: String,
    /// `file:line` of the entry, so it can be removed.
    pub at: String,
}

/// What became of one entry in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// It turned this many findings into expected ones.
    Absorbed(usize),
    /// Its step ran in a test it names, without its finding: remove it.
    Resolved,
    /// A test it names ran but stopped before its step (an earlier step failed or errored):
    /// nothing is known, keep it.
    NotReached,
    /// No test it names ran (skipped, filtered out), or it has expired.
    Idle,
}

/// One entry and what became of it, for the run's closing lines.
#[derive(Debug, Clone)]
pub struct EntryUse {
    /// `file:line` of the entry.
    pub at: String,
    /// `test [rule] at step`.
    pub what: String,
    pub fate: Fate,
}

/// A check id a finding may carry besides a library rule id (the checks name them so).
fn is_check_id(rule: &str) -> bool {
    matches!(rule, "status" | "json")
        || rule
            .strip_prefix("json ")
            .is_some_and(|p| p.starts_with('$'))
        || ["header ", "schema ", "capture "].iter().any(|prefix| {
            rule.strip_prefix(prefix)
                .is_some_and(|rest| !rest.trim().is_empty())
        })
}

/// Names a check id starts with, for a did-you-mean.
const CHECK_NAMES: &[&str] = &["status", "json", "header", "schema", "capture"];

/// Whether `glob` is written to match tests at large: `{a,b}` alternation (which reads like one
/// name and matches each alternative), or wildcards and separators alone (`*`, `**`, `*::*`).
fn broad_glob(glob: &str) -> Option<&'static str> {
    if glob.contains('{') {
        Some("`{…}` alternation matches each alternative, however it reads")
    } else if glob.chars().all(|c| matches!(c, '*' | '?' | '/' | ':')) {
        Some("a glob of wildcards alone matches every test")
    } else {
        None
    }
}

impl ExpectedFindings {
    /// Reads and checks `file`: every problem with file:line:column; the caller exits 2.
    /// `rules` are the rule library's ids: an entry naming neither one nor a check is an error.
    pub fn load(file: &Path, rules: &[&str]) -> Result<ExpectedFindings, ConfigError> {
        // The capped reader: a regular file of at most a few MiB, never a device.
        let text = crate::suite::input::read_text(file, crate::suite::input::FileKind::Expected)
            .map_err(|e| ConfigError::File {
                path: file.to_path_buf(),
                message: e.reason,
            })?;
        Self::parse(&text, file, today(), rules)
    }

    fn parse(
        text: &str,
        file: &Path,
        today: chrono::NaiveDate,
        rules: &[&str],
    ) -> Result<Self, ConfigError> {
        let raw: Option<Vec<Spanned<EntryFile>>> = yaml::parse(text, file)?;
        let mut entries = Vec::new();
        let mut errors: Vec<SourceError> = Vec::new();
        for item in raw.unwrap_or_default() {
            let at = item.referenced;
            let e = item.value;
            let mut error = |place, message: String| {
                errors.push(yaml::error_at(file, text, place, message));
            };
            if e.reason.value.trim().is_empty() {
                error(
                    e.reason.referenced,
                    "an expected finding needs a reason: the RFC clause or vendor document, and what the server answers".into(),
                );
            }
            let rule = &e.rule.value;
            if rule.trim().is_empty() {
                error(e.rule.referenced, "`rule` is empty".into());
            } else if !rules.contains(&rule.as_str()) && !is_check_id(rule) {
                let hint = crate::suite::did_you_mean(
                    rule,
                    rules.iter().copied().chain(CHECK_NAMES.iter().copied()),
                );
                error(
                    e.rule.referenced,
                    format!(
                        "unknown rule or check `{rule}`{hint}: a rule id of `tokenconf rules`, or `status`, `json $.path`, `header name`, `schema file`, `capture name`"
                    ),
                );
            }
            if e.step.is_none() && !e.widen.contains(&Widen::AnyStep) {
                error(
                    at,
                    "name the step the finding comes from, `step: step 1` (the step's `name:`, or `step N`), or widen the entry on purpose with `widen: [any_step]`".into(),
                );
            }
            if let Some(why) = broad_glob(&e.test.value) {
                if !e.widen.contains(&Widen::ManyTests) {
                    error(
                        e.test.referenced,
                        format!(
                            "{:?}: {why}; list one entry per test, or widen the entry on purpose with `widen: [many_tests]`",
                            e.test.value
                        ),
                    );
                }
            }
            let matcher = match globset::Glob::new(&e.test.value) {
                Ok(g) => g.compile_matcher(),
                Err(err) => {
                    error(
                        e.test.referenced,
                        format!(
                            "{:?} is not a test name or glob: {}",
                            e.test.value,
                            err.kind()
                        ),
                    );
                    continue;
                }
            };
            let expires = match &e.expires {
                None => None,
                Some(day) => match chrono::NaiveDate::parse_from_str(&day.value, "%Y-%m-%d") {
                    Ok(d) => Some(d),
                    Err(_) => {
                        error(
                            day.referenced,
                            format!("{:?} is not a date: write YYYY-MM-DD", day.value),
                        );
                        None
                    }
                },
            };
            entries.push(Entry {
                test: e.test.value,
                rule: e.rule.value,
                step: e.step.map(|s| s.value),
                actual: e.actual.map(|a| a.value),
                reason: e.reason.value,
                expires,
                widen: e.widen,
                line: at.line(),
                matcher,
                absorbed: AtomicUsize::new(0),
                reached: AtomicBool::new(false),
                no_such_step: AtomicBool::new(false),
            });
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        Ok(ExpectedFindings {
            file: file.to_path_buf(),
            entries,
            today,
        })
    }

    fn at(&self, e: &Entry) -> String {
        format!("{}:{}", self.file.display(), e.line)
    }

    /// Lines to show before the run, given each loaded test and its steps' labels (`name:` or
    /// `step N`): an entry that names no loaded test (a typo, a renamed test), or no step of the
    /// tests it names, and a glob that names several tests (each one's findings are hidden).
    pub fn check_against<'a>(
        &self,
        tests: impl Iterator<Item = (&'a str, &'a [String])> + Clone,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.entries {
            let matched: Vec<(&str, &[String])> =
                tests.clone().filter(|(t, _)| e.matches_test(t)).collect();
            let has_step = matched.iter().any(|(_, steps)| {
                steps.iter().enumerate().any(|(i, label)| {
                    e.matches_step(StepAt {
                        number: i + 1,
                        label,
                    })
                })
            });
            match matched.as_slice() {
                [] => out.push(format!(
                    "{}: the expected-findings entry for {:?} matches no loaded test",
                    self.at(e),
                    e.test
                )),
                _ if !has_step => {
                    e.no_such_step.store(true, Ordering::Relaxed);
                    out.push(format!(
                        "{}: the expected-findings entry for {:?} names no step of it: {}",
                        self.at(e),
                        e.test,
                        e.step.as_deref().unwrap_or_default()
                    ));
                }
                [_] => {}
                [(first, _), (second, _), rest @ ..] => out.push(format!(
                    "{}: the expected-findings entry for {:?} matches {} tests ({first}, {second}{}), each with its own [{}] findings expected",
                    self.at(e),
                    e.test,
                    matched.len(),
                    if rest.is_empty() { "" } else { ", …" },
                    e.rule
                )),
            }
        }
        out
    }

    /// Marks each failing finding of `test`'s step `step` that an entry expects as
    /// [`Level::Expected`], with the entry's reason; an expired entry, or one that differs only
    /// in its actual value or step, leaves the finding failing and says so.
    pub fn apply(&self, test: &str, step: StepAt, findings: &mut [Finding], strict: bool) {
        let named: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.matches_test(test))
            .collect();
        for e in &named {
            if e.matches_step(step) {
                e.reached.store(true, Ordering::Relaxed);
            }
        }
        for f in findings {
            if !crate::finding::fails(f.level, strict) {
                continue;
            }
            let same_rule = || named.iter().filter(|e| e.rule == f.rule);
            let Some(entry) =
                same_rule().find(|e| e.matches_step(step) && e.matches_actual(f.actual.as_deref()))
            else {
                // Said where the user will look: the entry is there but for another finding.
                if let Some(near) = same_rule().next() {
                    let differs = if near.matches_step(step) {
                        match &near.actual {
                            Some(a) => format!("expects the actual value {a:?}"),
                            None => "expects a finding without an actual value".to_string(),
                        }
                    } else {
                        match &near.step {
                            Some(s) => format!("is for {s}, not {}", step.label),
                            None => "names no step".to_string(),
                        }
                    };
                    f.message = format!(
                        "{} (the expected-findings entry at {} {differs})",
                        f.message,
                        self.at(near)
                    );
                }
                continue;
            };
            if entry.expired(self.today) {
                f.message = format!(
                    "{} (an expected-findings entry, {}, expired on {})",
                    f.message,
                    self.at(entry),
                    entry.expires.map(|d| d.to_string()).unwrap_or_default()
                );
                continue;
            }
            entry.absorbed.fetch_add(1, Ordering::Relaxed);
            f.level = Level::Expected;
            f.accepted = Some(entry.reason.clone());
        }
    }

    /// What became of each entry, given the tests that ran (not skipped).
    pub fn uses<'a>(&self, ran: impl Iterator<Item = &'a str> + Clone) -> Vec<EntryUse> {
        self.entries
            .iter()
            .map(|e| {
                let absorbed = e.absorbed.load(Ordering::Relaxed);
                let fate = if absorbed > 0 {
                    Fate::Absorbed(absorbed)
                } else if e.expired(self.today)
                    || e.no_such_step.load(Ordering::Relaxed)
                    || !ran.clone().any(|t| e.matches_test(t))
                {
                    Fate::Idle
                } else if e.reached.load(Ordering::Relaxed) {
                    Fate::Resolved
                } else {
                    Fate::NotReached
                };
                EntryUse {
                    at: self.at(e),
                    what: e.what(),
                    fate,
                }
            })
            .collect()
    }

    /// Entries that matched no finding although the step they name ran in a test they name.
    pub fn resolved<'a>(&self, ran: impl Iterator<Item = &'a str> + Clone) -> Vec<Resolved> {
        let uses = self.uses(ran);
        self.entries
            .iter()
            .zip(uses)
            .filter(|(_, u)| u.fate == Fate::Resolved)
            .map(|(e, u)| Resolved {
                test: e.test.clone(),
                rule: e.rule.clone(),
                reason: e.reason.clone(),
                at: u.at,
            })
            .collect()
    }
}

/// A vendor's documented deviation from an RFC: findings of `rule` under rule set `set` (or a
/// set that includes it) are reported as known deviations, never failing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviationFile {
    /// The vendor's rule set (see `tokenconf rules`); sets that include it deviate too.
    #[schemars(with = "String")]
    set: Spanned<String>,
    /// The rule id, exactly.
    #[schemars(with = "String")]
    rule: Spanned<String>,
    /// Where the vendor documents it, and what it does instead.
    #[schemars(with = "String")]
    reason: Spanned<String>,
    /// The APIs (a suite's `api:`, such as `salesforce`) it applies to; left out, every suite
    /// that uses the set. Required for a set other vendors' sets include (`oauth2.*`), which
    /// would otherwise silence the rule for every vendor.
    #[schemars(with = "Option<Vec<String>>")]
    apis: Option<Spanned<Vec<String>>>,
}

/// One entry of a known-deviations file.
#[derive(Debug, Clone)]
pub struct Deviation {
    pub set: String,
    pub rule: String,
    pub reason: String,
    /// The suites' APIs it applies to; `None`: every suite that uses the set.
    pub apis: Option<Vec<String>>,
    /// `file:line` of the entry.
    pub at: String,
    /// Findings it made known deviations (shared by the copies a run makes per API).
    applied: std::sync::Arc<AtomicUsize>,
}

impl Deviation {
    /// Counts a finding it made a known deviation.
    pub fn applied_once(&self) {
        self.applied.fetch_add(1, Ordering::Relaxed);
    }

    pub fn applied(&self) -> usize {
        self.applied.load(Ordering::Relaxed)
    }
}

/// A user's deviation that applied in a run: every report lists these.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppliedDeviation {
    /// `file:line` of the entry.
    pub at: String,
    pub set: String,
    pub rule: String,
    /// The APIs it is scoped to; empty: every suite that uses the set.
    pub apis: Vec<String>,
    /// Findings it made known deviations.
    pub findings: usize,
}

impl std::fmt::Display for AppliedDeviation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scope = match self.apis.as_slice() {
            [] => String::new(),
            apis => format!(" for {}", apis.join(", ")),
        };
        write!(
            f,
            "{}: {} under {}{scope} ({} finding{})",
            self.at,
            self.rule,
            self.set,
            self.findings,
            if self.findings == 1 { "" } else { "s" }
        )
    }
}

/// Every vendor's documented deviations, from data: the built-in files under `specs/` or the
/// user's (`--known-deviations`).
#[derive(Debug, Clone)]
pub struct KnownDeviations {
    /// The files they came from, as `tokenconf rules` names them.
    pub files: Vec<String>,
    pub entries: Vec<Deviation>,
    /// Read from the user's files rather than built in.
    pub user: bool,
}

/// The files compiled in, by the path they have in the repository.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "specs/salesforce/known-deviations.yaml",
        include_str!("../specs/salesforce/known-deviations.yaml"),
    ),
    (
        "specs/talkdesk/known-deviations.yaml",
        include_str!("../specs/talkdesk/known-deviations.yaml"),
    ),
];

/// A rule set's family: `oauth2` of `oauth2.token-response`, `salesforce` of its own sets.
fn family(set: &str) -> &str {
    set.split('.').next().unwrap_or(set)
}

impl KnownDeviations {
    /// None at all.
    pub fn none() -> KnownDeviations {
        KnownDeviations {
            files: Vec::new(),
            entries: Vec::new(),
            user: false,
        }
    }

    /// The files compiled in. They are checked by a test against the rule library, so a bad
    /// one never ships; should one not parse, it is left out rather than crash a run.
    pub fn built_in() -> KnownDeviations {
        let mut out = KnownDeviations::none();
        for (path, text) in BUILT_IN {
            if let Ok(more) = Self::parse(text, Path::new(path), None) {
                out.merge(more);
            }
        }
        out
    }

    /// Reads `files`, in place of the built-in ones; `sets` gives, per rule set name, the ids
    /// of the rules it holds and the sets that include it, so an entry naming neither is exit
    /// 2 with file:line:column, and one naming a set other vendors' sets include must say
    /// which APIs it is for.
    pub fn load(files: &[PathBuf], sets: &[SetMembers]) -> Result<KnownDeviations, ConfigError> {
        let mut out = KnownDeviations::none();
        out.user = true;
        for file in files {
            let text = crate::suite::input::read_text(
                file,
                crate::suite::input::FileKind::KnownDeviations,
            )
            .map_err(|e| ConfigError::File {
                path: file.to_path_buf(),
                message: e.reason,
            })?;
            out.merge(Self::parse(&text, file, Some(sets))?);
        }
        Ok(out)
    }

    /// The built-in files, each checked against `sets` (for the test that keeps them right).
    pub fn check_built_in(sets: &[SetMembers]) -> Result<KnownDeviations, ConfigError> {
        let mut out = KnownDeviations::none();
        for (path, text) in BUILT_IN {
            out.merge(Self::parse(text, Path::new(path), Some(sets))?);
        }
        Ok(out)
    }

    fn merge(&mut self, other: KnownDeviations) {
        self.files.extend(other.files);
        self.entries.extend(other.entries);
    }

    fn parse(
        text: &str,
        file: &Path,
        sets: Option<&[SetMembers]>,
    ) -> Result<KnownDeviations, ConfigError> {
        let raw: Option<Vec<Spanned<DeviationFile>>> = yaml::parse(text, file)?;
        let mut errors: Vec<SourceError> = Vec::new();
        let mut entries = Vec::new();
        for item in raw.unwrap_or_default() {
            let line = item.referenced.line();
            let d = item.value;
            if d.reason.value.trim().is_empty() {
                errors.push(yaml::error_at(
                    file,
                    text,
                    d.reason.referenced,
                    "a known deviation needs a reason: where the vendor documents it",
                ));
            }
            if let Some(apis) = &d.apis {
                if apis.value.is_empty() || apis.value.iter().any(|a| a.trim().is_empty()) {
                    errors.push(yaml::error_at(
                        file,
                        text,
                        apis.referenced,
                        "`apis` lists the suites' APIs the deviation is for (`salesforce`, `talkdesk`, …); it must name at least one",
                    ));
                }
            }
            if let Some(sets) = sets {
                match sets.iter().find(|s| s.name == d.set.value) {
                    None => {
                        let hint =
                            crate::suite::did_you_mean(&d.set.value, sets.iter().map(|s| s.name));
                        errors.push(yaml::error_at(
                            file,
                            text,
                            d.set.referenced,
                            format!("unknown rule set `{}`{hint}", d.set.value),
                        ));
                    }
                    Some(s) if !s.rules.contains(&d.rule.value.as_str()) => {
                        let hint =
                            crate::suite::did_you_mean(&d.rule.value, s.rules.iter().copied());
                        errors.push(yaml::error_at(
                            file,
                            text,
                            d.rule.referenced,
                            format!("rule set {} holds no rule `{}`{hint}", s.name, d.rule.value),
                        ));
                    }
                    Some(s) => {
                        let others: Vec<&str> = (s.included_by.iter().copied())
                            .filter(|by| family(by) != family(s.name))
                            .collect();
                        if !others.is_empty() && d.apis.is_none() {
                            errors.push(yaml::error_at(
                                file,
                                text,
                                d.set.referenced,
                                format!(
                                    "{} is included by other vendors' sets ({}{}): name the APIs this deviation is for, `apis: [salesforce]`, or it silences {} for every vendor",
                                    s.name,
                                    others.iter().take(3).copied().collect::<Vec<_>>().join(", "),
                                    if others.len() > 3 { ", …" } else { "" },
                                    d.rule.value
                                ),
                            ));
                        }
                    }
                }
            }
            entries.push(Deviation {
                set: d.set.value,
                rule: d.rule.value,
                reason: d.reason.value,
                apis: d.apis.map(|a| a.value),
                at: format!("{}:{line}", file.display()),
                applied: Default::default(),
            });
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        Ok(KnownDeviations {
            files: vec![file.display().to_string()],
            entries,
            user: false,
        })
    }

    /// The entry for `rule` under exactly the set named `set`, if any.
    pub fn find(&self, set: &str, rule: &str) -> Option<&Deviation> {
        self.entries.iter().find(|d| d.set == set && d.rule == rule)
    }

    /// The entries that apply to suites of `api`: those scoped to it, and those unscoped.
    pub fn for_api(&self, api: &str) -> KnownDeviations {
        KnownDeviations {
            files: self.files.clone(),
            entries: (self.entries.iter())
                .filter(|d| {
                    d.apis
                        .as_ref()
                        .is_none_or(|apis| apis.iter().any(|a| a == api))
                })
                .cloned()
                .collect(),
            user: self.user,
        }
    }

    /// The user's deviations that made at least one finding a known deviation.
    pub fn applied(&self) -> Vec<AppliedDeviation> {
        if !self.user {
            return Vec::new();
        }
        (self.entries.iter())
            .filter(|d| d.applied() > 0)
            .map(|d| AppliedDeviation {
                at: d.at.clone(),
                set: d.set.clone(),
                rule: d.rule.clone(),
                apis: d.apis.clone().unwrap_or_default(),
                findings: d.applied(),
            })
            .collect()
    }
}

/// A rule set as a known-deviations file may name it: its rules, and the sets that include it
/// (directly or not).
#[derive(Debug, Clone)]
pub struct SetMembers {
    pub name: &'static str,
    pub rules: Vec<&'static str>,
    pub included_by: Vec<&'static str>,
}

fn today() -> chrono::NaiveDate {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// A starting file from a run's failing findings, one entry per finding (test, rule, step,
/// actual value), for the user to edit: each reason says where it came from and what the server
/// did.
pub fn render(findings: &[(String, Finding)], target: &str) -> String {
    let mut out = String::from(
        "# Expected findings: each entry turns one failing finding into an expected one.\n\
         # Written by `tokenconf run --write-expected`; replace each reason with its source\n\
         # (the RFC clause or vendor document, and what the server answers), or delete the entry.\n\
         # Each entry matches its test, rule, step and actual value only; `widen:` makes it wider.\n",
    );
    let mut seen = std::collections::BTreeSet::new();
    for (test, f) in findings {
        if !seen.insert((
            test.clone(),
            f.rule.clone(),
            f.step.clone(),
            f.actual.clone(),
        )) {
            continue;
        }
        let reason = match &f.accepted {
            Some(reason) => reason.clone(),
            None => format!("seen against {target}: {}", f.message),
        };
        let reason: String = reason.chars().take(300).collect();
        // JSON strings are YAML double-quoted scalars, escapes included.
        let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
        let _ = write!(out, "- test: {}\n  rule: {}\n", quote(test), quote(&f.rule));
        let _ = writeln!(
            out,
            "  step: {}",
            quote(f.step.as_deref().unwrap_or("step 1"))
        );
        match &f.actual {
            // A value with a secret or token masked in it (the report's mask) never comes
            // back the same: pinned, the entry would never match.
            Some(actual) if actual.contains("[redacted") => out.push_str(
                "  # the actual value held a secret or token, masked here: any value is accepted\n  widen: [any_actual]\n",
            ),
            Some(actual) => {
                let _ = writeln!(out, "  actual: {}", quote(actual));
            }
            None => {}
        }
        let _ = writeln!(out, "  reason: {}", quote(&reason));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> chrono::NaiveDate {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const RULES: &[&str] = &["RFC6749-5.2-error-code", "RFC6749-5.1-no-store"];

    fn parse(text: &str) -> Result<ExpectedFindings, ConfigError> {
        ExpectedFindings::parse(text, Path::new("expected.yaml"), day("2026-11-29"), RULES)
    }

    fn step(number: usize) -> StepAt<'static> {
        const LABELS: [&str; 3] = ["step 1", "step 2", "step 3"];
        StepAt {
            number,
            label: LABELS[number - 1],
        }
    }

    fn status(actual: u16) -> Finding {
        Finding::must("status", format!("status {actual}")).actual(actual.to_string())
    }

    #[test]
    fn a_listed_failure_becomes_expected_and_others_still_fail() {
        let e = parse(
            "- test: \"oauth2/token::unknown-*\"\n  rule: status\n  step: step 1\n  actual: \"400\"\n  reason: RFC 6749 §5.2 allows 400\n",
        )
        .unwrap();
        let mut findings = vec![status(400), Finding::must("json $.error", "other")];
        e.apply(
            "oauth2/token::unknown-client",
            step(1),
            &mut findings,
            false,
        );
        assert_eq!(findings[0].level, Level::Expected);
        assert_eq!(
            findings[0].accepted.as_deref(),
            Some("RFC 6749 §5.2 allows 400")
        );
        assert_eq!(
            findings[1].level,
            Level::Must,
            "another rule is never hidden"
        );
        let mut elsewhere = vec![status(400)];
        e.apply("oauth2/token::other", step(1), &mut elsewhere, false);
        assert_eq!(
            elsewhere[0].level,
            Level::Must,
            "another test is never hidden"
        );
        let resolved = e.resolved(["oauth2/token::unknown-client"].into_iter());
        assert!(resolved.is_empty(), "{resolved:?}");
        assert_eq!(
            e.uses(["oauth2/token::unknown-client"].into_iter())[0].fate,
            Fate::Absorbed(1)
        );
    }

    /// F3: the entry for the first redemption's accepted 201 must not hide the second
    /// redemption's 200 (a code accepted twice), nor a 200 in its own step.
    #[test]
    fn an_entry_hides_one_step_and_one_value_only() {
        let e = parse(
            "- test: \"exp::an-authorization-code-is-single-use\"\n  rule: status\n  step: first redemption\n  actual: \"201\"\n  reason: this server answers 201 to the first redemption\n",
        )
        .unwrap();
        let test = "exp::an-authorization-code-is-single-use";
        let first = StepAt {
            number: 1,
            label: "first redemption",
        };
        let second = StepAt {
            number: 2,
            label: "second redemption",
        };
        let mut one = vec![status(201)];
        e.apply(test, first, &mut one, false);
        assert_eq!(one[0].level, Level::Expected);
        let mut two = vec![status(200)];
        e.apply(test, second, &mut two, false);
        assert_eq!(two[0].level, Level::Must, "another step");
        assert!(
            two[0]
                .message
                .contains("expected.yaml:1 is for first redemption"),
            "{}",
            two[0].message
        );
        let mut other_value = vec![status(200)];
        e.apply(test, first, &mut other_value, false);
        assert_eq!(other_value[0].level, Level::Must, "another value");
        assert!(other_value[0]
            .message
            .contains("expects the actual value \"201\""));
        // Widened on purpose, it hides both.
        let wide = parse(
            "- test: \"exp::an-authorization-code-is-single-use\"\n  rule: status\n  reason: r\n  widen: [any_step, any_actual]\n",
        )
        .unwrap();
        let mut two = vec![status(200)];
        wide.apply(test, second, &mut two, false);
        assert_eq!(two[0].level, Level::Expected);
    }

    #[test]
    fn a_step_is_named_by_its_name_or_its_number() {
        let e = parse("- test: a::b\n  rule: status\n  step: step 2\n  actual: \"500\"\n  reason: r\n- test: a::b\n  rule: status\n  step: \"3\"\n  actual: \"500\"\n  reason: r\n").unwrap();
        let named = StepAt {
            number: 2,
            label: "refresh",
        };
        for at in [named, step(3)] {
            let mut f = vec![status(500)];
            e.apply("a::b", at, &mut f, false);
            assert_eq!(f[0].level, Level::Expected, "{at:?}");
        }
    }

    /// Issue 23 item 7: an entry whose step never ran (the case stopped before it) is not
    /// reached, not resolved; one whose step ran without its finding is resolved.
    #[test]
    fn an_entry_past_an_early_stop_is_not_reached_and_one_whose_step_ran_is_resolved() {
        let e = parse(
            "- test: a::b\n  rule: status\n  step: step 2\n  actual: \"500\"\n  reason: because\n- test: a::b\n  rule: status\n  step: step 1\n  actual: \"500\"\n  reason: because\n",
        )
        .unwrap();
        let mut f = vec![status(400)];
        e.apply("a::b", step(1), &mut f, false);
        assert!(e.resolved(["x::y"].into_iter()).is_empty());
        let uses = e.uses(["a::b"].into_iter());
        assert_eq!(uses[0].fate, Fate::NotReached);
        assert_eq!(uses[1].fate, Fate::Resolved);
        let resolved = e.resolved(["a::b"].into_iter());
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].at, "expected.yaml:6");
        assert_eq!(e.uses(["x::y"].into_iter())[0].fate, Fate::Idle);
    }

    #[test]
    fn an_expired_entry_no_longer_applies() {
        let e = parse("- test: a::b\n  rule: status\n  step: step 1\n  actual: \"400\"\n  reason: because\n  expires: 2026-11-01\n")
            .unwrap();
        let mut findings = vec![status(400)];
        e.apply("a::b", step(1), &mut findings, false);
        assert_eq!(findings[0].level, Level::Must);
        assert!(findings[0].message.contains("expired on 2026-11-01"));
    }

    /// F3's glob trick: `{one-test,*}` reads as one test and matched them all.
    #[test]
    fn broad_globs_and_unnamed_steps_need_widen_on_purpose() {
        for (text, needle) in [
            (
                "- test: \"{exp::unknown-client-is-refused,*}\"\n  rule: status\n  step: step 1\n  reason: x\n",
                "expected.yaml:1:9",
            ),
            ("- test: \"*\"\n  rule: status\n  step: step 1\n  reason: x\n", "widen: [many_tests]"),
            ("- test: \"**\"\n  rule: status\n  step: step 1\n  reason: x\n", "every test"),
            ("- test: \"*::*\"\n  rule: status\n  step: step 1\n  reason: x\n", "every test"),
            ("- test: a::b\n  rule: status\n  reason: x\n", "widen: [any_step]"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
        let wide = parse("- test: \"*\"\n  rule: status\n  reason: x\n  widen: [many_tests, any_step, any_actual]\n").unwrap();
        let mut f = vec![status(500)];
        wide.apply("any::test", step(2), &mut f, false);
        assert_eq!(f[0].level, Level::Expected);
        assert!(parse(
            "- test: \"oauth2/*::unknown-*\"\n  rule: status\n  step: step 1\n  reason: x\n"
        )
        .is_ok());
    }

    #[test]
    fn a_glob_over_several_tests_and_an_entry_over_none_are_said_before_the_run() {
        let e = parse("- test: \"s::a*\"\n  rule: status\n  step: step 1\n  reason: x\n- test: s::gone\n  rule: status\n  step: step 1\n  reason: x\n- test: s::b\n  rule: status\n  step: step 1\n  reason: x\n").unwrap();
        let one = ["step 1".to_string()];
        let notes = e.check_against(
            [("s::a1", &one[..]), ("s::a2", &one[..]), ("s::b", &one[..])].into_iter(),
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].starts_with("expected.yaml:1: ")
                && notes[0].contains("matches 2 tests (s::a1, s::a2)"),
            "{}",
            notes[0]
        );
        assert!(
            notes[1].starts_with("expected.yaml:5: ")
                && notes[1].contains("matches no loaded test"),
            "{}",
            notes[1]
        );
        let two = parse("- test: s::b\n  rule: status\n  step: refresh\n  reason: x\n").unwrap();
        let notes = two.check_against([("s::b", &one[..])].into_iter());
        assert!(
            notes[0].ends_with("names no step of it: refresh"),
            "{notes:?}"
        );
        assert_eq!(two.uses(["s::b"].into_iter())[0].fate, Fate::Idle);
    }

    #[test]
    fn unknown_rule_ids_are_refused_with_a_did_you_mean() {
        let err =
            parse("- test: a::b\n  rule: RFC6749-5.2-eror-code\n  step: step 1\n  reason: x\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("expected.yaml:2:9")
                && err.contains("(did you mean `RFC6749-5.2-error-code`?)"),
            "{err}"
        );
        let err = parse("- test: a::b\n  rule: stauts\n  step: step 1\n  reason: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean `status`"), "{err}");
        for ok in [
            "status",
            "json",
            "json $.error",
            "header www-authenticate",
            "schema oauth2/x.json",
            "capture code",
            "RFC6749-5.1-no-store",
        ] {
            let text = format!("- test: a::b\n  rule: {ok:?}\n  step: step 1\n  reason: x\n");
            assert!(parse(&text).is_ok(), "{ok}");
        }
    }

    #[test]
    fn bad_entries_name_file_line_and_column() {
        for (text, needle) in [
            (
                "- test: a\n  rule: status\n  step: step 1\n  reason: \"\"\n",
                "expected.yaml:4:",
            ),
            ("- test: a\n  rule: status\n  step: step 1\n", "reason"),
            (
                "- test: a\n  rule: status\n  step: step 1\n  reason: x\n  reasn: y\n",
                "expected.yaml:5:",
            ),
            (
                "- test: a\n  rule: status\n  step: step 1\n  reason: x\n  expires: soon\n",
                "YYYY-MM-DD",
            ),
            (
                "- test: \"a[\"\n  rule: status\n  step: step 1\n  reason: x\n",
                "expected.yaml:1:",
            ),
            (
                "- test: a\n  rule: status\n  step: step 1\n  reason: x\n  widen: [any_test]\n",
                "expected.yaml:5:",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_written_file_reads_back_and_expects_what_it_saw_and_nothing_else() {
        let mut twice = status(500);
        twice.step = Some("refresh".into());
        let mut masked = Finding::must("json $.x", "m").actual("tok [redacted] en");
        masked.step = Some("step 1".into());
        let findings = vec![
            (
                "s::c".to_string(),
                Finding::must("status", "status 500: \"quoted\"\nline").actual("500"),
            ),
            (
                "s::c".to_string(),
                Finding::must("status", "again").actual("500"),
            ),
            ("s::c".to_string(), twice),
            (
                "s::c".to_string(),
                Finding::must("RFC6749-5.1-no-store", "no actual"),
            ),
            ("s::c".to_string(), masked),
        ];
        let text = render(&findings, "mock");
        let e = parse(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
        assert_eq!(e.entries.len(), 4, "{text}");
        let mut again = vec![status(500)];
        e.apply("s::c", step(1), &mut again, false);
        assert_eq!(again[0].level, Level::Expected);
        let mut other = vec![status(502)];
        e.apply("s::c", step(1), &mut other, false);
        assert_eq!(other[0].level, Level::Must, "{text}");
        let mut rule = vec![Finding::must("RFC6749-5.1-no-store", "x")];
        e.apply("s::c", step(1), &mut rule, false);
        assert_eq!(rule[0].level, Level::Expected);
        let mut token = vec![Finding::must("json $.x", "m").actual("tok other en")];
        e.apply("s::c", step(1), &mut token, false);
        assert_eq!(token[0].level, Level::Expected, "a masked value is widened");
    }

    #[test]
    fn the_built_in_deviations_name_real_sets_and_rules() {
        let known = KnownDeviations::check_built_in(&crate::rules::set_members()).unwrap();
        assert_eq!(
            known.files,
            [
                "specs/salesforce/known-deviations.yaml",
                "specs/talkdesk/known-deviations.yaml"
            ]
        );
        assert_eq!(known.entries.len(), 5);
        assert!(known
            .find(
                "salesforce.error-response",
                "RFC6749-5.2-invalid_client-401"
            )
            .is_some_and(|d| d.reason.contains("400")));
        assert_eq!(KnownDeviations::built_in().entries.len(), 5);
    }

    /// The security review's note: a user file naming a generic set silenced that MUST rule for
    /// every vendor. It must name the APIs, and then applies to theirs alone.
    #[test]
    fn a_deviation_of_a_generic_set_names_its_apis_and_applies_to_them_alone() {
        let sets = crate::rules::set_members();
        let generic = "- set: oauth2.token-response\n  rule: RFC6749-5.1-no-store\n  reason: x\n";
        let err = KnownDeviations::parse(generic, Path::new("kd.yaml"), Some(&sets))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("kd.yaml:1:8")
                && err.contains("apis: [salesforce]")
                && err.contains("every vendor"),
            "{err}"
        );
        let scoped = format!("{generic}  apis: [salesforce]\n");
        let known = KnownDeviations::parse(&scoped, Path::new("kd.yaml"), Some(&sets)).unwrap();
        assert_eq!(known.for_api("salesforce").entries.len(), 1);
        assert!(known.for_api("talkdesk").entries.is_empty());
        assert_eq!(known.entries[0].at, "kd.yaml:1");
        // A vendor's own set needs no scope; an empty one is refused.
        let own = "- set: salesforce.error-response\n  rule: RFC6749-5.2-error-code\n  reason: x\n";
        assert!(KnownDeviations::parse(own, Path::new("kd.yaml"), Some(&sets)).is_ok());
        let empty = format!("{generic}  apis: []\n");
        let err = KnownDeviations::parse(&empty, Path::new("kd.yaml"), Some(&sets))
            .unwrap_err()
            .to_string();
        assert!(err.contains("kd.yaml:4:9"), "{err}");
    }

    #[test]
    fn a_bad_deviation_names_file_line_and_column() {
        let sets = crate::rules::set_members();
        for (text, needle) in [
            (
                "- set: salesforce.eror-response\n  rule: RFC6749-5.2-error-code\n  reason: x\n",
                ("dev.yaml:1:8", "unknown rule set `salesforce.eror-response` (did you mean `salesforce.error-response`?)"),
            ),
            (
                "- set: salesforce.error-response\n  rule: RFC6749-5.2-eror-code\n  reason: x\n",
                ("dev.yaml:2:9", "rule set salesforce.error-response holds no rule `RFC6749-5.2-eror-code` (did you mean `RFC6749-5.2-error-code`?)"),
            ),
            (
                "- set: salesforce.error-response\n  rule: RFC6749-5.2-error-code\n  reason: \"\"\n",
                ("dev.yaml:3:11", "a known deviation needs a reason"),
            ),
            (
                "- set: salesforce.error-response\n  rule: RFC6749-5.2-error-code\n  reason: x\n  test: y\n",
                ("dev.yaml:4:", "unknown field `test`"),
            ),
        ] {
            let err = KnownDeviations::parse(text, Path::new("dev.yaml"), Some(&sets))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle.0) && err.contains(needle.1), "{text:?}: {err}");
        }
    }
}
