//! RFC 8259 §4: member names within a JSON object SHOULD be unique. Parsers disagree on
//! which duplicate wins, so a token response with two `token_type`s means different things to
//! different clients; the harness's own parser keeps the last, and would check only that one.

use super::{Rule, RuleSet, Violation};
use crate::finding::Level;
use crate::http::json::duplicate_names;

const RFC8259_4: &str = "https://www.rfc-editor.org/rfc/rfc8259#section-4";

/// Checked on every JSON response, whatever the case's rule sets; its finding is MUST-level
/// for a token response or when the case checks the JSON, else a warning.
pub static UNIQUE_NAMES: Rule = Rule {
    id: "RFC8259-4-unique-names",
    level: Level::Must,
    source: RFC8259_4,
    title: "no JSON object in a response has a member name twice",
    explain: "RFC 8259 §4: the names within an object SHOULD be unique; when they are not, \"the behavior \
              of software that receives such an object is unpredictable\": some parsers keep the first, \
              some the last, some fail. {\"token_type\":\"mac\",\"token_type\":\"Bearer\"} is a MAC token to \
              one client and a bearer token to another. For a token response, or a response whose JSON \
              the case checks, that ambiguity fails the case; for other responses it is a warning.",
    check: |x| {
        let found = match &x.received.duplicate_names {
            Some(found) => found.clone(),
            None => duplicate_names(&x.received.body),
        };
        found
            .into_iter()
            .map(|path| {
                Violation::new(format!("the member {path} appears more than once"))
                    .expected("each member name once per object")
                    .at(path)
            })
            .collect()
    },
};

/// `tokenconf rules` and `explain` list rules by set; the harness applies this one to every
/// JSON response, so suites need not name it.
pub static UNIQUE_NAMES_SET: RuleSet = RuleSet {
    name: "json.unique-names",
    summary: "every JSON response: no member name twice in one object (checked on every response)",
    includes: &[],
    rules: &[&UNIQUE_NAMES],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_response_with_two_token_types_is_a_violation() {
        let body =
            br#"{"access_token":"abcdefghijklmnop","token_type":"mac","token_type":"Bearer"}"#;
        let mut r = super::super::testutil::json(200, serde_json::json!({}));
        r.body = body.to_vec();
        r.json = serde_json::from_slice(body).ok();
        let s = super::super::testutil::sent(&[("grant_type", "client_credentials")], true);
        let v = super::super::testutil::run_with(&UNIQUE_NAMES, &s, &r, &[]);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("$.token_type"), "{}", v[0].message);
    }
}
