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

impl Status {
    /// `passed`, `failed`, `errored` or `skipped`: as summary.json writes it.
    pub fn name(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Errored => "errored",
            Status::Skipped => "skipped",
        }
    }
}

/// Why a case got no answer to check, for reports (JUnit's `<error type>`, summary.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// How the way to the server failed.
    Transport(crate::http::TransportKind),
    /// The request could not be built or sent as written (a bad URL, a refused origin).
    Request,
    /// A fixture the case uses failed.
    Fixture,
    /// The case's task panicked: a tokenconf bug.
    Internal,
}

impl ErrorKind {
    /// `timeout`, `connect`, `dns`, `tls`, `reset`, `body`, `too-large`, `status`, `transport`,
    /// `request`, `fixture` or `internal`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Transport(kind) => kind.name(),
            ErrorKind::Request => "request",
            ErrorKind::Fixture => "fixture",
            ErrorKind::Internal => "internal",
        }
    }
}

impl Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseOutcome {
    pub suite: String,
    /// The API the case's suite talks to (`api:`).
    pub api: String,
    pub case: String,
    /// `<suite>::<case slug>`, as `cargo test` and `tokenconf list` name it.
    pub test: String,
    /// The suite file and the line of the case's `name:` (JUnit, annotations link there).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub line: u64,
    pub status: Status,
    /// Why it was skipped or errored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What kind of error, when the case errored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// The origin (`scheme://host:port`) a transport error happened on, when the case errored
    /// so: many cases that could not reach one origin are told as one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The step that failed or errored, when the case has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub findings: Vec<Finding>,
    /// Ids of the library rules a response of this case was held against (each once), whether
    /// or not they found anything: what the report's rules × APIs matrix counts as run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules_checked: Vec<&'static str>,
    #[serde(serialize_with = "as_millis")]
    pub duration: Duration,
    /// The response that failed the case, with credential members already masked by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseSnapshot>,
    /// Each step's request up to the one that failed (every case's under `--verbose`),
    /// credentials masked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RequestSnapshot>,
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

/// What a reporter may show of a request: method, full URL, headers and body. Credentials are
/// masked by name here; the session masks the rest by value (the target's secrets in every
/// encoding, the case's tokens) with the outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RequestSnapshot {
    /// The step's name, or `step N`.
    pub step: String,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// The longest request body a report shows.
const MAX_REQUEST_BODY: usize = 2000;

impl RequestSnapshot {
    pub fn of(step: &str, sent: &crate::http::Sent) -> RequestSnapshot {
        let body = match (&sent.json, &sent.body) {
            (Some(json), _) => Some(crate::redact::mask_json(json).to_string()),
            (None, Some(text)) => {
                let masked = crate::redact::mask_params(text);
                Some(crate::redact::mask_jwts(&masked).into_owned())
            }
            (None, None) => None,
        };
        RequestSnapshot {
            step: step.to_string(),
            method: sent.method.clone(),
            url: crate::redact::mask_jwts(&crate::redact::mask_params(&sent.url)).into_owned(),
            headers: sent
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), request_header(k, v)))
                .collect(),
            body: body.map(|b| crate::redact::shorten(&b, MAX_REQUEST_BODY)),
        }
    }

    /// `POST url`, a header a line, then the body after a blank line.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("{} {}", self.method, self.url)];
        out.extend(self.headers.iter().map(|(k, v)| format!("{k}: {v}")));
        if let Some(body) = &self.body {
            out.push(String::new());
            out.push(body.clone());
        }
        out
    }
}

/// A request header as shown: an `Authorization` keeps its scheme (`Basic [redacted]`), so a
/// reader sees how the client authenticated.
fn request_header(name: &str, value: &str) -> String {
    if name.eq_ignore_ascii_case("authorization") {
        return match value.split_once(' ') {
            Some((scheme, _))
                if scheme.len() <= 20 && scheme.bytes().all(|b| b.is_ascii_alphabetic()) =>
            {
                format!("{scheme} {}", crate::redact::MASK)
            }
            _ => crate::redact::MASK.to_string(),
        };
    }
    crate::redact::render_header(name, &serde_json::Value::String(value.to_string()))
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
}

impl CaseOutcome {
    /// A case with nothing recorded yet: no findings, no response, no retries.
    pub fn new(
        suite: impl Into<String>,
        api: impl Into<String>,
        case: impl Into<String>,
        test: impl Into<String>,
        status: Status,
    ) -> CaseOutcome {
        CaseOutcome {
            suite: suite.into(),
            api: api.into(),
            case: case.into(),
            test: test.into(),
            file: String::new(),
            line: 0,
            status,
            reason: None,
            error_kind: None,
            origin: None,
            step: None,
            findings: Vec::new(),
            rules_checked: Vec::new(),
            duration: Duration::ZERO,
            response: None,
            requests: Vec::new(),
            retries: Vec::new(),
            sensitive: Vec::new(),
        }
    }

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
    /// The user's known deviations (`--known-deviations`) that applied: every report lists them.
    pub user_deviations: Vec<crate::expected::AppliedDeviation>,
    /// Which suites ran: built in or files, and their digest.
    pub suites: SuitesVersion,
}

/// Which suites a run ran, for reports: two runs with the same digest ran the same suites and
/// schemas, wherever they were read from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SuitesVersion {
    /// `built-in` or `files`.
    pub from: &'static str,
    /// tokenconf's version, when the suites are the built-in ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'static str>,
    /// A hash over every suite's and schema's bytes (16 hex digits).
    pub digest: String,
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
    /// Findings of assumed expectations a real target did not meet (also counted in `warnings`).
    pub unconfirmed: usize,
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
                    c.unconfirmed += usize::from(f.level == Level::Unconfirmed);
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
