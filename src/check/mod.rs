//! Checks: what a response must satisfy. Each returns findings (data); reporters render them.

mod headers;
mod json;
pub mod schema;
mod status;

use crate::expected::KnownDeviations;
use crate::finding::{Finding, Level};
use crate::http::{Received, Sent};
use crate::suite::schema::SchemaRegistry;
use crate::suite::template::Scope;
use crate::suite::Expect;

pub use json::eval_path;

/// Every expectation and rule of `expect` held against one exchange.
pub fn check_step(
    expect: &Expect,
    sent: &Sent,
    received: &Received,
    scope: &Scope,
    schemas: &SchemaRegistry,
    known: &KnownDeviations,
) -> Vec<Finding> {
    check_step_after(expect, sent, received, scope, schemas, known, &[])
}

/// [`check_step`] for a step after `earlier` ones of the same case, which cross-response rules
/// compare with.
pub fn check_step_after(
    expect: &Expect,
    sent: &Sent,
    received: &Received,
    scope: &Scope,
    schemas: &SchemaRegistry,
    known: &KnownDeviations,
    earlier: &[(Sent, Received)],
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
        earlier,
    };
    for &index in &expect.rules {
        if let Some(set) = crate::rules::sets().get(index) {
            findings.extend(crate::rules::evaluate(set, &exchange, known));
        }
    }
    let names_set = &crate::rules::json::UNIQUE_NAMES_SET;
    let named = expect.rules.iter().any(|&i| {
        crate::rules::sets()
            .get(i)
            .is_some_and(|s| s.name == names_set.name)
    });
    if received.json.is_some() && !named {
        // A token response, or JSON the case checks, means one thing only if each name is once.
        let checks_json =
            !expect.json.is_empty() || expect.schema.is_some() || !expect.rules.is_empty();
        let level = if checks_json || sent.grant_type().is_some() {
            Level::Must
        } else {
            Level::Should
        };
        findings.extend(
            crate::rules::evaluate(names_set, &exchange, known)
                .into_iter()
                .map(|f| Finding { level, ..f }),
        );
    }
    for f in &mut findings {
        bound(f);
    }
    findings
}

/// Characters in a finding's message, expected or actual value: a 1 MB value a server sent, or a
/// 1 MB query a suite built, is not a 1 MB line in every report.
const MAX_FINDING_TEXT: usize = 1000;

fn bound(f: &mut Finding) {
    let cap = |t: &mut String| {
        if t.chars().count() > MAX_FINDING_TEXT {
            *t = crate::redact::shorten(t, MAX_FINDING_TEXT);
        }
    };
    cap(&mut f.message);
    for t in [&mut f.expected, &mut f.actual, &mut f.path]
        .into_iter()
        .flatten()
    {
        cap(t);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn exchange(body: &[u8], form: &[(&str, &str)]) -> (Sent, Received) {
        let sent = Sent {
            form: form
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Sent::default()
        };
        let received = Received {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_vec(),
            json: serde_json::from_slice(body).ok(),
            elapsed: std::time::Duration::ZERO,
        };
        (sent, received)
    }

    #[test]
    fn a_token_response_with_a_duplicate_member_fails_and_other_json_warns() {
        let empty = HashMap::new();
        let scope = Scope {
            captures: &empty,
            base: &empty,
        };
        let schemas = SchemaRegistry::default();
        let body =
            br#"{"access_token":"abcdefghijklmnop","token_type":"mac","token_type":"Bearer"}"#;
        let (sent, received) = exchange(body, &[("grant_type", "client_credentials")]);
        let findings = check_step(
            &Expect::default(),
            &sent,
            &received,
            &scope,
            &schemas,
            &KnownDeviations::none(),
        );
        let dup: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.rule == "RFC8259-4-unique-names")
            .collect();
        assert_eq!(dup.len(), 1, "{findings:?}");
        assert_eq!(dup[0].level, Level::Must);
        assert_eq!(dup[0].path.as_deref(), Some("$.token_type"));
        assert!(dup[0]
            .source
            .as_deref()
            .unwrap_or_default()
            .contains("rfc8259#section-4"));

        let (sent, received) = exchange(br#"{"a":1,"a":2}"#, &[]);
        let findings = check_step(
            &Expect::default(),
            &sent,
            &received,
            &scope,
            &schemas,
            &KnownDeviations::none(),
        );
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].level, Level::Should);

        let (sent, received) = exchange(br#"{"a":1,"b":{"a":2}}"#, &[("grant_type", "x")]);
        assert!(check_step(
            &Expect::default(),
            &sent,
            &received,
            &scope,
            &schemas,
            &KnownDeviations::none()
        )
        .is_empty());
        assert!(crate::rules::find_rule("RFC8259-4-unique-names").is_some());
    }

    #[test]
    fn a_finding_is_never_a_megabyte_line() {
        let mut f = Finding::must("json $.x", "m".repeat(2_000_000)).actual("a".repeat(50_000));
        bound(&mut f);
        assert!(f.message.len() < MAX_FINDING_TEXT + 40);
        assert!(f.actual.unwrap().len() < MAX_FINDING_TEXT + 40);
    }

    #[test]
    fn a_type_mismatch_reads_as_english() {
        let empty = HashMap::new();
        let scope = Scope {
            captures: &empty,
            base: &empty,
        };
        let p = crate::suite::Predicate {
            presence: Some(crate::suite::model::Presence::Present),
            kind: Some(crate::suite::model::JsonType::Integer),
            ..Default::default()
        };
        let failures = json::eval_predicate(&p, Some(&serde_json::json!("3600")), &scope, false);
        assert_eq!(failures[0].message, "is a string, expected an integer");
        assert_eq!(failures[0].expected, "an integer");
        assert_eq!(p.describe(), "an integer");
    }
}
