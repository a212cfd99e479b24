//! RFC 8259 §4: member names within a JSON object SHOULD be unique. Parsers disagree on
//! which duplicate wins, so a token response with two `token_type`s means different things to
//! different clients; the harness's own parser keeps the last, and would check only that one.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::{Rule, RuleSet, Violation};
use crate::finding::Level;

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
        duplicate_names(&x.received.body)
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

/// At most this many duplicates are reported per response.
const MAX_REPORTED: usize = 20;

/// The JSONPath of each member that repeats a name in its object (`$.token_type`), in document
/// order; empty when `body` is not JSON or has none.
pub fn duplicate_names(body: &[u8]) -> Vec<String> {
    let found = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(body);
    let walk = Walk {
        path: "$".to_string(),
        found: &found,
    };
    if walk.deserialize(&mut de).is_err() {
        return Vec::new();
    }
    found.into_inner()
}

struct Walk<'a> {
    path: String,
    found: &'a RefCell<Vec<String>>,
}

fn member_path(parent: &str, name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if plain {
        format!("{parent}.{name}")
    } else {
        let quoted = name.replace('\\', "\\\\").replace('\'', "\\'");
        format!("{parent}['{quoted}']")
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while seq
            .next_element_seed(Walk {
                path: format!("{}[{i}]", self.path),
                found: self.found,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            let path = member_path(&self.path, &name);
            if !seen.insert(name) {
                let mut found = self.found.borrow_mut();
                if found.len() < MAX_REPORTED && !found.contains(&path) {
                    found.push(path.clone());
                }
            }
            map.next_value_seed(Walk {
                path,
                found: self.found,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates_at_any_depth_and_nothing_in_clean_json() {
        let body = br#"{"token_type":"mac","token_type":"Bearer","a":[{"x":1,"x":2}],"b":{"k-1":0,"k-1":0}}"#;
        assert_eq!(
            duplicate_names(body),
            ["$.token_type", "$.a[0].x", "$.b['k-1']"]
        );
        assert!(duplicate_names(br#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#).is_empty());
        assert!(duplicate_names(b"not json").is_empty());
    }

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
