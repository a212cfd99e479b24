//! What a case came to: the data every reporter renders.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::finding::{Finding, Level};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    /// The server answered, and the answer broke a MUST (or a SHOULD under `--strict`).
    Failed,
    /// No answer to check: connect, timeout, TLS, reset, oversized body, a failed fixture.
    Errored,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseOutcome {
    pub suite: String,
    pub case: String,
    /// `<suite>::<case slug>`, as `cargo test` and `tokenconf list` name it.
    pub test: String,
    pub status: Status,
    /// Why it was skipped or errored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The step that failed or errored, when the case has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub findings: Vec<Finding>,
    #[serde(serialize_with = "as_millis")]
    pub duration: Duration,
    /// The response that failed the case, with credential members already masked by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseSnapshot>,
    /// Attempts that were retried (transport errors, 5xx, 429), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<crate::http::Retry>,
    /// Token values seen in responses: masked in every report, never written.
    #[serde(skip)]
    pub sensitive: Vec<String>,
}

/// What a reporter may show of a response: status, headers and body, credentials masked by name.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseSnapshot {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, with credential members masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// The start of a body that is not JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl ResponseSnapshot {
    pub fn of(r: &crate::http::Received) -> ResponseSnapshot {
        ResponseSnapshot {
            status: r.status,
            headers: r
                .headers
                .iter()
                .map(|(k, v)| {
                    let shown =
                        crate::redact::render_header(k, &serde_json::Value::String(v.clone()));
                    (k.clone(), shown)
                })
                .collect(),
            json: r.json.as_ref().map(crate::redact::mask_json),
            text: match (&r.json, r.body.is_empty()) {
                (None, false) => Some(crate::redact::preview_body(&r.body)),
                _ => None,
            },
        }
    }
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
}

impl CaseOutcome {
    /// Passed, but only after a retried attempt (transport error, 5xx, 429).
    pub fn is_flaky(&self) -> bool {
        self.status == Status::Passed && !self.retries.is_empty()
    }

    /// Attempts in all, when any was retried.
    pub fn tries(&self) -> Option<usize> {
        (!self.retries.is_empty()).then(|| self.retries.len() + 1)
    }

    /// Findings that fail the case.
    pub fn failures(&self, strict: bool) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| fails(f.level, strict))
    }

    /// Findings reported without failing.
    pub fn warnings(&self, strict: bool) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| !fails(f.level, strict))
    }
}

pub use crate::finding::fails;

/// One request and the response it got, kept only while a run is recorded (`run --record`):
/// it holds secrets and tokens, so only the recorder (which replaces them) ever reads it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The step's name, or `step N`.
    pub step: String,
    pub sent: crate::http::Sent,
    pub received: crate::http::Received,
}

/// A whole run, for the reporters.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub target: String,
    pub started: SystemTime,
    pub duration: Duration,
    pub strict: bool,
    pub outcomes: Vec<CaseOutcome>,
    /// Why others on the network could read or change this run's traffic, one sentence each
    /// (`--insecure`; cleartext `http://` to a host that is not loopback). Empty for a run
    /// that was safe. Every report records it.
    pub insecure: Vec<String>,
    /// Expected-findings entries that matched no finding although their test ran.
    pub resolved: Vec<crate::expected::Resolved>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub errored: usize,
    pub skipped: usize,
    pub warnings: usize,
    /// Passed after a retried attempt (also counted in `passed`).
    pub flaky: usize,
    /// Findings the user's expected-findings file accepts (not counted in `warnings`).
    pub expected: usize,
    /// Expected-findings entries that matched nothing although their test ran.
    pub resolved: usize,
}

impl RunReport {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for o in &self.outcomes {
            match o.status {
                Status::Passed => c.passed += 1,
                Status::Failed => c.failed += 1,
                Status::Errored => c.errored += 1,
                Status::Skipped => c.skipped += 1,
            }
            for f in o.warnings(self.strict) {
                if f.level == Level::Expected {
                    c.expected += 1;
                } else {
                    c.warnings += 1;
                }
            }
            c.flaky += usize::from(o.is_flaky());
        }
        c.resolved = self.resolved.len();
        c
    }

    pub fn all_passed(&self) -> bool {
        let c = self.counts();
        c.failed == 0 && c.errored == 0
    }
}
