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
            // A body that is not JSON has no member: "no token" holds on a plain-text refusal.
            None if only_absences(expect) => {}
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

/// Against a real target (not the embedded mock), what rests on a guess only warns: findings of
/// assumed expectations, every finding of a step whose status is assumed (its body, headers and
/// rules rest on the same guess), and rules whose clause does not bind the vendor. Never the
/// class of the answer: a step expecting an error that gets a 2xx, 3xx or 5xx still fails.
pub fn unconfirm(expect: &Expect, status: u16, findings: &mut [Finding], target: &str) {
    let same_class =
        expect.status.is_empty() || expect.status.iter().any(|p| p.class() == status / 100);
    if !same_class {
        return;
    }
    let whole_step = expect.is_assumed("status");
    for f in findings {
        if !matches!(f.level, Level::Must | Level::Should) {
            continue;
        }
        let why = if whole_step || expect.is_assumed(&f.rule) {
            "assumed: the docs are silent".to_string()
        } else if let Some(why) = not_binding(expect, &f.rule) {
            format!("not binding here: {why}")
        } else {
            continue;
        };
        f.level = Level::Unconfirmed;
        f.message = format!(
            "{} ({why}, and this is what target {target} answered)",
            f.message
        );
    }
}

/// Why rule `id` binds none of the step's rule sets that hold it, if none does.
fn not_binding(expect: &Expect, id: &str) -> Option<&'static str> {
    let holding: Vec<&crate::rules::RuleSet> = expect
        .rules
        .iter()
        .filter_map(|&i| crate::rules::sets().get(i).copied())
        .filter(|s| s.members().iter().any(|r| r.id == id))
        .collect();
    let mut why = None;
    for set in holding {
        why = Some(crate::rules::not_binding(set, id)?);
    }
    why
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

/// Whether every JSON expectation of the step says a member is absent (and no schema applies).
fn only_absences(expect: &Expect) -> bool {
    expect.schema.is_none()
        && !expect.json.is_empty()
        && expect
            .json
            .iter()
            .all(|j| j.predicate.presence == Some(crate::suite::model::Presence::Absent))
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
            duplicate_names: None,
            elapsed: std::time::Duration::ZERO,
        };
        (sent, received)
    }

    #[test]
    fn a_token_response_with_a_duplicate_member_fails_and_other_json_warns() {
        let empty = crate::suite::template::Values::default();
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

    fn error_step(status: &[crate::suite::StatusPattern], assumed: &[&str]) -> Expect {
        Expect {
            status: status.to_vec(),
            rules: vec![crate::rules::sets()
                .iter()
                .position(|s| s.name == "miaw.bearer-challenge")
                .unwrap()],
            assumed: assumed.iter().map(|a| a.to_string()).collect(),
            ..Expect::default()
        }
    }

    fn findings() -> Vec<Finding> {
        vec![
            Finding::must("status", "status 418"),
            Finding::must("schema miaw.error-response", "not an object"),
            Finding::must("json $.message", "missing"),
            Finding::must("header www-authenticate", "missing"),
            Finding::must("RFC6749-5.1-no-store", "missing"),
        ]
    }

    #[test]
    fn an_assumed_status_makes_the_whole_step_unconfirmed_within_the_class() {
        use crate::suite::StatusPattern::Code;
        let expect = error_step(&[Code(401)], &["status"]);
        let mut got = findings();
        unconfirm(&expect, 404, &mut got, "org");
        assert!(got.iter().all(|f| f.level == Level::Unconfirmed), "{got:?}");
        assert!(got[1].message.contains("assumed"), "{}", got[1].message);
        // Another class is another kind of answer: nothing built on the guess is relaxed, and an
        // error-body check that accepts any JSON object does not carry a 5xx (a replay's 599).
        for status in [200, 302, 500, 599] {
            let mut got = findings();
            unconfirm(&expect, status, &mut got, "org");
            assert!(
                got.iter().all(|f| f.level == Level::Must),
                "{status}: {got:?}"
            );
        }
        // Without `status` assumed, only the named expectations are.
        let expect = error_step(&[Code(401)], &["json $.message"]);
        let mut got = findings();
        unconfirm(&expect, 400, &mut got, "org");
        let levels: Vec<Level> = got.iter().map(|f| f.level).collect();
        assert_eq!(
            levels,
            [
                Level::Must,
                Level::Must,
                Level::Unconfirmed,
                Level::Must,
                Level::Must
            ]
        );
    }

    #[test]
    fn a_rule_that_does_not_bind_the_vendor_is_unconfirmed_on_a_real_target() {
        use crate::suite::StatusPattern::Class;
        let expect = error_step(&[Class(4)], &[]);
        let mut got = vec![
            Finding::must("RFC6750-3-challenge", "no challenge"),
            Finding::must("RFC6749-10.3-no-token-in-error", "leak"),
        ];
        unconfirm(&expect, 401, &mut got, "org");
        assert_eq!(got[0].level, Level::Unconfirmed);
        assert!(got[0].message.contains("not binding"), "{}", got[0].message);
        // What the set holds that does bind MIAW stays.
        assert_eq!(got[1].level, Level::Must);
        // The same rule through the generic set binds.
        let mut generic = expect;
        generic.rules = vec![crate::rules::sets()
            .iter()
            .position(|s| s.name == "oauth2.bearer-challenge")
            .unwrap()];
        let mut got = vec![Finding::must("RFC6750-3-challenge", "no challenge")];
        unconfirm(&generic, 401, &mut got, "org");
        assert_eq!(got[0].level, Level::Must);
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
        let empty = crate::suite::template::Values::default();
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
