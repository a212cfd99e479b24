//! Expected findings, owned by the user: a YAML list of (test glob, rule id, reason) that turns a
//! matching failure into an *expected* finding, and names the entries no finding matched any more.
//!
//! ```yaml
//! - test: "oauth2/token::unknown-client-*"   # a test name, or a glob over test names
//!   rule: RFC6749-5.2-www-authenticate       # the finding's rule id, exactly
//!   reason: "RFC 6749 §5.2: the server answers Bearer after Basic authentication"
//!   expires: 2027-03-31                      # optional: from that day on it fails again
//! ```
//! Matching is by test name and rule id only, never by message text, so a stale entry cannot hide
//! a new finding of another rule.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ConfigError, SourceError};
use crate::finding::{Finding, Level};
use crate::suite::yaml::{self, Spanned};

/// A finding you expect: reported as expected, never failing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntryFile {
    /// A test name (`<suite>::<case slug>`), or a glob over test names.
    #[schemars(with = "String")]
    test: Spanned<String>,
    /// The finding's rule id, exactly (see `tokenconf rules`), or a check such as `status`.
    #[schemars(with = "String")]
    rule: Spanned<String>,
    /// Why: the RFC clause or vendor document, and what the server answers.
    #[schemars(with = "String")]
    reason: Spanned<String>,
    /// `YYYY-MM-DD`: from that day on the finding fails again.
    #[schemars(with = "Option<String>")]
    expires: Option<Spanned<String>>,
}

/// One entry of an expected-findings file.
#[derive(Debug)]
pub struct Entry {
    /// As written: a test name or a glob.
    pub test: String,
    pub rule: String,
    pub reason: String,
    /// `YYYY-MM-DD`; on and after it the entry no longer applies.
    pub expires: Option<chrono::NaiveDate>,
    /// The line of the entry in its file.
    pub line: u64,
    matcher: globset::GlobMatcher,
    used: AtomicBool,
}

impl Entry {
    pub fn matches_test(&self, test: &str) -> bool {
        self.matcher.is_match(test)
    }

    fn expired(&self, today: chrono::NaiveDate) -> bool {
        self.expires.is_some_and(|day| today >= day)
    }
}

/// Every entry of one file; shared by every case of a run.
#[derive(Debug)]
pub struct ExpectedFindings {
    pub file: PathBuf,
    pub entries: Vec<Entry>,
    today: chrono::NaiveDate,
}

/// An entry that matched no finding although a case it names ran: the deviation is gone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolved {
    pub test: String,
    pub rule: String,
    pub reason: String,
    /// `file:line` of the entry, so it can be removed.
    pub at: String,
}

impl ExpectedFindings {
    /// Reads and checks `file`: every problem with file:line:column; the caller exits 2.
    pub fn load(file: &Path) -> Result<ExpectedFindings, ConfigError> {
        // The capped reader: a regular file of at most a few MiB, never a device.
        let text = crate::suite::input::read_text(file, crate::suite::input::FileKind::Targets)
            .map_err(|e| ConfigError::File {
                path: file.to_path_buf(),
                message: e.reason,
            })?;
        Self::parse(&text, file, today())
    }

    fn parse(text: &str, file: &Path, today: chrono::NaiveDate) -> Result<Self, ConfigError> {
        let raw: Option<Vec<Spanned<EntryFile>>> = yaml::parse(text, file)?;
        let mut entries = Vec::new();
        let mut errors: Vec<SourceError> = Vec::new();
        for item in raw.unwrap_or_default() {
            let at = item.referenced;
            let e = item.value;
            if e.reason.value.trim().is_empty() {
                errors.push(yaml::error_at(
                    file,
                    text,
                    e.reason.referenced,
                    "an expected finding needs a reason: the RFC clause or vendor document, and what the server answers",
                ));
            }
            if e.rule.value.trim().is_empty() {
                errors.push(yaml::error_at(
                    file,
                    text,
                    e.rule.referenced,
                    "`rule` is empty",
                ));
            }
            let matcher = match globset::Glob::new(&e.test.value) {
                Ok(g) => g.compile_matcher(),
                Err(err) => {
                    errors.push(yaml::error_at(
                        file,
                        text,
                        e.test.referenced,
                        format!(
                            "{:?} is not a test name or glob: {}",
                            e.test.value,
                            err.kind()
                        ),
                    ));
                    continue;
                }
            };
            let expires = match &e.expires {
                None => None,
                Some(day) => match chrono::NaiveDate::parse_from_str(&day.value, "%Y-%m-%d") {
                    Ok(d) => Some(d),
                    Err(_) => {
                        errors.push(yaml::error_at(
                            file,
                            text,
                            day.referenced,
                            format!("{:?} is not a date: write YYYY-MM-DD", day.value),
                        ));
                        None
                    }
                },
            };
            entries.push(Entry {
                test: e.test.value,
                rule: e.rule.value,
                reason: e.reason.value,
                expires,
                line: at.line(),
                matcher,
                used: AtomicBool::new(false),
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

    /// Marks each failing finding of `test` that an entry expects as [`Level::Expected`], with
    /// the entry's reason; an expired entry leaves the finding failing and says so.
    pub fn apply(&self, test: &str, findings: &mut [Finding], strict: bool) {
        for f in findings {
            if !crate::finding::fails(f.level, strict) {
                continue;
            }
            let Some(entry) = self
                .entries
                .iter()
                .find(|e| e.rule == f.rule && e.matches_test(test))
            else {
                continue;
            };
            if entry.expired(self.today) {
                f.message = format!(
                    "{} (an expected-findings entry, {}:{}, expired on {})",
                    f.message,
                    self.file.display(),
                    entry.line,
                    entry.expires.map(|d| d.to_string()).unwrap_or_default()
                );
                continue;
            }
            entry.used.store(true, Ordering::Relaxed);
            f.level = Level::Expected;
            f.accepted = Some(entry.reason.clone());
        }
    }

    /// Entries that matched no finding, among those naming a test that `ran` holds.
    pub fn resolved<'a>(&self, ran: impl Iterator<Item = &'a str> + Clone) -> Vec<Resolved> {
        self.entries
            .iter()
            .filter(|e| !e.used.load(Ordering::Relaxed) && !e.expired(self.today))
            .filter(|e| ran.clone().any(|t| e.matches_test(t)))
            .map(|e| Resolved {
                test: e.test.clone(),
                rule: e.rule.clone(),
                reason: e.reason.clone(),
                at: format!("{}:{}", self.file.display(), e.line),
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
}

/// One entry of a known-deviations file.
#[derive(Debug, Clone)]
pub struct Deviation {
    pub set: String,
    pub rule: String,
    pub reason: String,
}

/// Every vendor's documented deviations, from data: the built-in files under `specs/` or the
/// user's (`--known-deviations`).
#[derive(Debug, Clone)]
pub struct KnownDeviations {
    /// The files they came from, as `tokenconf rules` names them.
    pub files: Vec<String>,
    pub entries: Vec<Deviation>,
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

impl KnownDeviations {
    /// None at all.
    pub fn none() -> KnownDeviations {
        KnownDeviations {
            files: Vec::new(),
            entries: Vec::new(),
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
    /// of the rules it holds, so an entry naming neither is exit 2 with file:line:column.
    pub fn load(
        files: &[PathBuf],
        sets: &[(&str, Vec<&str>)],
    ) -> Result<KnownDeviations, ConfigError> {
        let mut out = KnownDeviations::none();
        for file in files {
            let text = crate::suite::input::read_text(file, crate::suite::input::FileKind::Targets)
                .map_err(|e| ConfigError::File {
                    path: file.to_path_buf(),
                    message: e.reason,
                })?;
            out.merge(Self::parse(&text, file, Some(sets))?);
        }
        Ok(out)
    }

    /// The built-in files, each checked against `sets` (for the test that keeps them right).
    pub fn check_built_in(sets: &[(&str, Vec<&str>)]) -> Result<KnownDeviations, ConfigError> {
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
        sets: Option<&[(&str, Vec<&str>)]>,
    ) -> Result<KnownDeviations, ConfigError> {
        let raw: Option<Vec<Spanned<DeviationFile>>> = yaml::parse(text, file)?;
        let mut errors: Vec<SourceError> = Vec::new();
        let mut entries = Vec::new();
        for item in raw.unwrap_or_default() {
            let d = item.value;
            if d.reason.value.trim().is_empty() {
                errors.push(yaml::error_at(
                    file,
                    text,
                    d.reason.referenced,
                    "a known deviation needs a reason: where the vendor documents it",
                ));
            }
            if let Some(sets) = sets {
                match sets.iter().find(|(name, _)| *name == d.set.value) {
                    None => {
                        let hint = crate::suite::did_you_mean(
                            &d.set.value,
                            sets.iter().map(|(name, _)| *name),
                        );
                        errors.push(yaml::error_at(
                            file,
                            text,
                            d.set.referenced,
                            format!("unknown rule set `{}`{hint}", d.set.value),
                        ));
                    }
                    Some((name, rules)) if !rules.contains(&d.rule.value.as_str()) => {
                        let hint = crate::suite::did_you_mean(&d.rule.value, rules.iter().copied());
                        errors.push(yaml::error_at(
                            file,
                            text,
                            d.rule.referenced,
                            format!("rule set {name} holds no rule `{}`{hint}", d.rule.value),
                        ));
                    }
                    Some(_) => {}
                }
            }
            entries.push(Deviation {
                set: d.set.value,
                rule: d.rule.value,
                reason: d.reason.value,
            });
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        Ok(KnownDeviations {
            files: vec![file.display().to_string()],
            entries,
        })
    }

    /// The entry for `rule` under exactly the set named `set`, if any.
    pub fn find(&self, set: &str, rule: &str) -> Option<&Deviation> {
        self.entries.iter().find(|d| d.set == set && d.rule == rule)
    }
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

/// A starting file from a run's failing findings, one entry per (test, rule), for the user to
/// edit: each reason says where it came from and what the server did.
pub fn render(findings: &[(String, Finding)], target: &str) -> String {
    let mut out = String::from(
        "# Expected findings: each entry turns a failing finding into an expected one.\n\
         # Written by `tokenconf run --write-expected`; replace each reason with its source\n\
         # (the RFC clause or vendor document, and what the server answers), or delete the entry.\n",
    );
    let mut seen = std::collections::BTreeSet::new();
    for (test, f) in findings {
        if !seen.insert((test.clone(), f.rule.clone())) {
            continue;
        }
        let reason = match &f.accepted {
            Some(reason) => reason.clone(),
            None => format!("seen against {target}: {}", f.message),
        };
        let reason: String = reason.chars().take(300).collect();
        // JSON strings are YAML double-quoted scalars, escapes included.
        let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
        out.push_str(&format!(
            "- test: {}\n  rule: {}\n  reason: {}\n",
            quote(test),
            quote(&f.rule),
            quote(&reason)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> chrono::NaiveDate {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn parse(text: &str) -> Result<ExpectedFindings, ConfigError> {
        ExpectedFindings::parse(text, Path::new("expected.yaml"), day("2026-11-29"))
    }

    #[test]
    fn a_listed_failure_becomes_expected_and_others_still_fail() {
        let e = parse(
            "- test: \"oauth2/token::unknown-*\"\n  rule: status\n  reason: RFC 6749 §5.2 allows 400\n",
        )
        .unwrap();
        let mut findings = vec![
            Finding::must("status", "status 400, expected 401"),
            Finding::must("json $.error", "other"),
        ];
        e.apply("oauth2/token::unknown-client", &mut findings, false);
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
        let mut elsewhere = vec![Finding::must("status", "x")];
        e.apply("oauth2/token::other", &mut elsewhere, false);
        assert_eq!(
            elsewhere[0].level,
            Level::Must,
            "another test is never hidden"
        );
        let resolved = e.resolved(["oauth2/token::unknown-client"].into_iter());
        assert!(resolved.is_empty(), "{resolved:?}");
    }

    #[test]
    fn an_entry_that_matched_nothing_is_resolved_only_when_its_test_ran() {
        let e = parse("- test: a::b\n  rule: status\n  reason: because\n").unwrap();
        assert!(e.resolved(["x::y"].into_iter()).is_empty());
        let resolved = e.resolved(["a::b"].into_iter());
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].at, "expected.yaml:1");
    }

    #[test]
    fn an_expired_entry_no_longer_applies() {
        let e = parse("- test: a::b\n  rule: status\n  reason: because\n  expires: 2026-11-01\n")
            .unwrap();
        let mut findings = vec![Finding::must("status", "x")];
        e.apply("a::b", &mut findings, false);
        assert_eq!(findings[0].level, Level::Must);
        assert!(findings[0].message.contains("expired on 2026-11-01"));
    }

    #[test]
    fn bad_entries_name_file_line_and_column() {
        for (text, needle) in [
            ("- test: a\n  rule: r\n  reason: \"\"\n", "expected.yaml:3:"),
            ("- test: a\n  rule: r\n", "reason"),
            (
                "- test: a\n  rule: r\n  reason: x\n  reasn: y\n",
                "expected.yaml:4:",
            ),
            (
                "- test: a\n  rule: r\n  reason: x\n  expires: soon\n",
                "YYYY-MM-DD",
            ),
            (
                "- test: \"a[\"\n  rule: r\n  reason: x\n",
                "expected.yaml:1:",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_written_file_reads_back_and_expects_what_it_saw() {
        let findings = vec![
            (
                "s::c".to_string(),
                Finding::must("status", "status 500: \"quoted\"\nline"),
            ),
            ("s::c".to_string(), Finding::must("status", "again")),
        ];
        let text = render(&findings, "mock");
        let e = parse(&text).unwrap();
        assert_eq!(e.entries.len(), 1, "{text}");
        let mut again = vec![Finding::must("status", "x")];
        e.apply("s::c", &mut again, false);
        assert_eq!(again[0].level, Level::Expected);
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
        assert_eq!(known.entries.len(), 6);
        assert!(known
            .find(
                "salesforce.error-response",
                "RFC6749-5.2-invalid_client-401"
            )
            .is_some_and(|d| d.reason.contains("400")));
        assert_eq!(KnownDeviations::built_in().entries.len(), 6);
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
