//! What checks and rules produce: findings, each with a level. A leaf: imports nothing of ours.

use serde::Serialize;

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Fails the case.
    Must,
    /// A warning; fails the case under `--strict`.
    Should,
    /// A vendor's documented deviation from an RFC: reported, never failing.
    KnownDeviation,
    /// Listed in the user's expected-findings file (with a reason): reported, never failing.
    Expected,
    /// An assumed expectation (the docs are silent) that a real target did not meet: a
    /// warning, never failing, even with `--strict`.
    Unconfirmed,
    /// Advice that no RFC requires (RFC 9700's recommendations): shown, never failing, even
    /// with `--strict`.
    Info,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::KnownDeviation => "KNOWN-DEVIATION",
            Level::Expected => "EXPECTED",
            Level::Unconfirmed => "UNCONFIRMED",
            Level::Info => "INFO",
        }
    }
}

/// Whether a finding of `level` fails its case.
pub fn fails(level: Level, strict: bool) -> bool {
    match level {
        Level::Must => true,
        Level::Should => strict,
        Level::KnownDeviation | Level::Expected | Level::Unconfirmed | Level::Info => false,
    }
}

/// One thing a response did not satisfy.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// A rule id (`RFC6749-5.1-no-store`) or the expectation that failed (`status`, `json $.x`).
    pub rule: String,
    pub level: Level,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Why the user expects it (the reason of their expected-findings entry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<String>,
    /// The step of the case it came from (`name:`, or `step N`): what an expected-findings
    /// entry names (`--write-expected` writes it). Not part of the reports' JSON.
    #[serde(skip)]
    pub step: Option<String>,
}

impl Finding {
    pub fn must(rule: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            rule: rule.into(),
            level: Level::Must,
            message: message.into(),
            expected: None,
            actual: None,
            source: None,
            path: None,
            accepted: None,
            step: None,
        }
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Finding {
        self.expected = Some(expected.into());
        self
    }

    pub fn actual(mut self, actual: impl Into<String>) -> Finding {
        self.actual = Some(actual.into());
        self
    }

    pub fn at(mut self, path: impl Into<String>) -> Finding {
        self.path = Some(path.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconfirmed_finding_never_fails_even_strict() {
        assert!(!fails(Level::Unconfirmed, false));
        assert!(!fails(Level::Unconfirmed, true));
        assert!(fails(Level::Should, true));
        assert_eq!(Level::Unconfirmed.name(), "UNCONFIRMED");
    }

    #[test]
    fn info_never_fails_even_with_strict_and_should_fails_only_with_it() {
        for strict in [false, true] {
            assert!(!fails(Level::Info, strict));
            assert!(fails(Level::Must, strict));
        }
        assert!(fails(Level::Should, true) && !fails(Level::Should, false));
        assert_eq!(Level::Info.name(), "INFO");
        assert_eq!(serde_json::to_value(Level::Info).unwrap(), "info");
    }
}
