//! Checks: what a response must satisfy. Each returns findings (data); reporters render them.

mod headers;
mod json;
pub mod schema;
mod status;

use serde::Serialize;

use crate::http::{Received, Sent};
use crate::suite::template::Scope;
use crate::suite::Expect;

pub use json::{eval_path, type_name, Presence};
pub use schema::{SchemaId, SchemaRegistry};

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
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::KnownDeviation => "KNOWN-DEVIATION",
        }
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

/// Every expectation and rule of `expect` held against one exchange.
pub fn check_step(
    expect: &Expect,
    sent: &Sent,
    received: &Received,
    scope: &Scope,
    schemas: &SchemaRegistry,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(f) = status::check(&expect.status, received.status) {
        findings.push(f);
    }
    for h in &expect.headers {
        findings.extend(headers::check(h, received, scope));
    }
    if !expect.json.is_empty() || expect.schema.is_some() {
        match &received.json {
            Some(body) => {
                for j in &expect.json {
                    findings.extend(json::check(j, body, scope));
                }
                if let Some(id) = expect.schema {
                    findings.extend(schema::check(schemas.get(id), body));
                }
            }
            None => findings.push(not_json(received)),
        }
    }
    let exchange = crate::rules::Exchange {
        sent,
        received,
        values: scope,
    };
    for set in &expect.rules {
        findings.extend(crate::rules::evaluate(set, &exchange));
    }
    findings
}

fn not_json(received: &Received) -> Finding {
    let content_type = received.header("content-type").unwrap_or("none");
    Finding::must(
        "json",
        format!(
            "the body is not JSON (content-type {content_type}, {} bytes)",
            received.body.len()
        ),
    )
    .expected("a JSON body")
    .actual(crate::redact::preview_body(&received.body))
}
