//! RFC 8259 §4: member names within a JSON object SHOULD be unique. Parsers disagree on
//! which duplicate wins, so a token response with two `token_type`s means different things to
//! different clients; the harness's own parser keeps the last, and would check only that one.

use std::borrow::Cow;
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
    let state = RefCell::new(State {
        path: "$".to_string(),
        found: Vec::new(),
    });
    let mut de = serde_json::Deserializer::from_slice(body);
    if (Walk { state: &state }).deserialize(&mut de).is_err() {
        return Vec::new();
    }
    state.into_inner().found
}

/// Checked on every JSON response: one path buffer for the whole walk, extended and cut back
/// around each member, so a path is written out only for a duplicate.
struct State {
    path: String,
    found: Vec<String>,
}

struct Walk<'a> {
    state: &'a RefCell<State>,
}

impl Walk<'_> {
    /// Walks the value under the path extended by `segment`, then cuts the path back.
    fn under<T>(&self, segment: impl FnOnce(&mut String), walk: impl FnOnce() -> T) -> T {
        let len = {
            let mut state = self.state.borrow_mut();
            let len = state.path.len();
            segment(&mut state.path);
            len
        };
        let result = walk();
        self.state.borrow_mut().path.truncate(len);
        result
    }
}

fn push_member(path: &mut String, name: &str) {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if plain {
        path.push('.');
        path.push_str(name);
    } else {
        let quoted = name.replace('\\', "\\\\").replace('\'', "\\'");
        path.push_str("['");
        path.push_str(&quoted);
        path.push_str("']");
    }
}

/// A member name, borrowed from the body unless it has escapes.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The names met in one object: a list for the few members most objects have, a set beyond.
enum Seen<'de> {
    Few(Vec<Cow<'de, str>>),
    Many(HashSet<Cow<'de, str>>),
}

impl<'de> Seen<'de> {
    /// False when `name` was met before.
    fn insert(&mut self, name: Cow<'de, str>) -> bool {
        match self {
            Seen::Few(names) if names.contains(&name) => false,
            Seen::Few(names) if names.len() < 16 => {
                names.push(name);
                true
            }
            Seen::Few(names) => {
                let mut set: HashSet<Cow<'de, str>> = names.drain(..).collect();
                set.insert(name);
                *self = Seen::Many(set);
                true
            }
            Seen::Many(set) => set.insert(name),
        }
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
        while self
            .under(
                |path| {
                    use std::fmt::Write;
                    let _ = write!(path, "[{i}]");
                },
                || seq.next_element_seed(Walk { state: self.state }),
            )?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = Seen::Few(Vec::new());
        while let Some(name) = map.next_key_seed(Name)? {
            let fresh = seen.insert(name.clone());
            self.under(
                |path| push_member(path, &name),
                || {
                    if !fresh {
                        let mut state = self.state.borrow_mut();
                        let State { path, found } = &mut *state;
                        if found.len() < MAX_REPORTED && !found.contains(path) {
                            found.push(path.clone());
                        }
                    }
                    map.next_value_seed(Walk { state: self.state })
                },
            )?;
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
        // Escaped names are compared decoded; objects past the short list use a set.
        assert_eq!(
            duplicate_names(br#"{"a\u0062":1,"ab":2,"x y":[3,{"q":1,"q":1}]}"#),
            ["$.ab", "$['x y'][1].q"]
        );
        let many: Vec<String> = (0..40).map(|i| format!("\"k{}\":{i}", i % 30)).collect();
        let body = format!("{{{}}}", many.join(","));
        let found = duplicate_names(body.as_bytes());
        assert_eq!(found.len(), 10, "{found:?}");
        assert_eq!(found[0], "$.k0");
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
