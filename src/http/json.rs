//! A response body read as JSON, and the member names that repeat in one object (RFC 8259 §4:
//! parsers disagree on which duplicate wins; the rule is `rules::json`), found in the same
//! pass.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// At most this many duplicates are reported per response.
const MAX_REPORTED: usize = 20;

/// The JSONPath of each member that repeats a name in its object (`$.token_type`), in document
/// order; empty when `body` is not JSON or has none. What follows the first value is not read.
pub fn duplicate_names(body: &[u8]) -> Vec<String> {
    let found = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(body);
    let build = Build {
        found: &found,
        raw: None,
        node: &Node::ROOT,
    };
    match build.deserialize(&mut de) {
        Ok(_) => found.into_inner(),
        Err(_) => Vec::new(),
    }
}

/// `body` as `serde_json::from_slice` parses it, and, when it parses, what [`duplicate_names`]
/// finds in it: one pass for what every response needs, instead of a second parse per response
/// for the names. The names are `None` when it does not parse, or when serde_json reads it as
/// a raw value (then parsed by serde_json again, and the rule reads the names with
/// [`duplicate_names`]).
pub fn parse(body: &[u8]) -> (Option<Value>, Option<Vec<String>>) {
    let found = RefCell::new(Vec::new());
    let raw = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Build {
        found: &found,
        raw: Some(&raw),
        node: &Node::ROOT,
    }
    .deserialize(&mut de);
    match value.and_then(|v| de.end().map(|()| v)) {
        Ok(value) => (Some(value), Some(found.into_inner())),
        // serde_json reads an object whose first key is this as a raw value: left to it.
        Err(_) if raw.get() => (serde_json::from_slice(body).ok(), None),
        Err(_) => (None, None),
    }
}

/// The key serde_json gives a raw value (its feature `raw_value`).
const RAW_VALUE_KEY: &str = "$serde_json::private::RawValue";

/// Where [`Build`] is: its parent's place and its own, borrowed, so a path is written out only
/// for a duplicate.
struct Node<'p> {
    parent: Option<&'p Node<'p>>,
    at: Segment<'p>,
}

enum Segment<'p> {
    Root,
    Member(&'p str),
    Element(usize),
}

impl Node<'_> {
    const ROOT: Node<'static> = Node {
        parent: None,
        at: Segment::Root,
    };

    fn path(&self) -> String {
        let mut up = Vec::new();
        let mut node = Some(self);
        while let Some(n) = node {
            up.push(&n.at);
            node = n.parent;
        }
        let mut path = String::new();
        for at in up.into_iter().rev() {
            match at {
                Segment::Root => path.push('$'),
                Segment::Member(name) => push_member(&mut path, name),
                Segment::Element(i) => {
                    use std::fmt::Write;
                    let _ = write!(path, "[{i}]");
                }
            }
        }
        path
    }
}

/// Builds the value serde_json's own `Value` would, noting the path of each repeated name (at
/// most [`MAX_REPORTED`], each once).
struct Build<'a, 'p> {
    found: &'a RefCell<Vec<String>>,
    /// When given, set for an object whose first key is [`RAW_VALUE_KEY`], and the build stops:
    /// serde_json would read it as a raw value. Without it, that key is a name like any other.
    raw: Option<&'a Cell<bool>>,
    node: &'p Node<'p>,
}

impl<'de> DeserializeSeed<'de> for Build<'_, '_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        loop {
            let node = Node {
                parent: Some(self.node),
                at: Segment::Element(values.len()),
            };
            let build = Build {
                found: self.found,
                raw: self.raw,
                node: &node,
            };
            match seq.next_element_seed(build)? {
                Some(value) => values.push(value),
                None => return Ok(Value::Array(values)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut values = serde_json::Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if let Some(raw) = self
                .raw
                .filter(|_| values.is_empty() && name == RAW_VALUE_KEY)
            {
                raw.set(true);
                return Err(serde::de::Error::custom("a raw value"));
            }
            // One lookup for both the repeat and the insert.
            let entry = values.entry(name);
            let repeated = matches!(entry, serde_json::map::Entry::Occupied(_));
            let node = Node {
                parent: Some(self.node),
                at: Segment::Member(entry.key()),
            };
            // Noted before the value is read, so repeats nested in it come after.
            if repeated {
                // Past the cap no path is written: a hostile body may repeat a name millions
                // of times.
                let mut found = self.found.borrow_mut();
                if found.len() < MAX_REPORTED {
                    let path = node.path();
                    if !found.contains(&path) {
                        found.push(path);
                    }
                }
            }
            let value = map.next_value_seed(Build {
                found: self.found,
                raw: self.raw,
                node: &node,
            })?;
            match entry {
                serde_json::map::Entry::Occupied(mut last) => {
                    last.insert(value);
                }
                serde_json::map::Entry::Vacant(new) => {
                    new.insert(value);
                }
            }
        }
        Ok(Value::Object(values))
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

    /// What [`parse`] must give for `body`: serde_json's value, and [`duplicate_names`]'s names.
    fn parses_as_serde_json_and_duplicate_names(body: &[u8]) {
        let (value, found) = parse(body);
        let text = String::from_utf8_lossy(body);
        assert_eq!(value, serde_json::from_slice::<Value>(body).ok(), "{text}");
        match (&value, found) {
            (Some(_), Some(found)) => assert_eq!(found, duplicate_names(body), "{text}"),
            // Left to serde_json alone: the rule then reads the names with `duplicate_names`.
            (Some(_), None) => assert!(text.contains(RAW_VALUE_KEY), "{text}"),
            (None, found) => assert_eq!(found, None, "{text}"),
        }
    }

    #[test]
    fn one_pass_parses_as_serde_json_and_finds_what_the_walk_finds() {
        let many: Vec<String> = (0..40).map(|i| format!("\"k{}\":{i}", i % 30)).collect();
        let many = format!("{{{}}}", many.join(","));
        let bodies: &[&[u8]] = &[
            br#"{"token_type":"mac","token_type":"Bearer","a":[{"x":1,"x":2}],"b":{"k-1":0,"k-1":0}}"#,
            br#"{"a":1,"a":{"x":1,"x":2}}"#,
            br#"{"a\u0062":1,"ab":2,"x y":[3,{"q":1,"q":1}]}"#,
            br#"[[{"a":[{"b":1,"b":2}]}],{"it's":0,"it's":1}]"#,
            br#"{"n":-0.0,"m":1e300,"u":18446744073709551615,"i":-9223372036854775808,"big":123456789012345678901234567890,"f":0.1}"#,
            br#"{"s":"\ud83d\ude00 \n\"","e":"","t":true,"f":false,"z":null,"o":{},"a":[]}"#,
            br#" {"a":1} "#,
            br#"{"a":1,"a":2} trailing"#,
            br#"{"a":1,"#,
            br#"{"a":1e400}"#,
            br#"{"$serde_json::private::RawValue":"{\"a\":1,\"a\":2}"}"#,
            br#"{"x":{"$serde_json::private::RawValue":"[1]"},"x":2}"#,
            br#"{"b":1,"$serde_json::private::RawValue":2,"b":3}"#,
            b"not json",
            b"",
            b"123",
            b"\"text\"",
            many.as_bytes(),
        ];
        for body in bodies {
            parses_as_serde_json_and_duplicate_names(body);
        }
        assert_eq!(
            parse(br#"{"a":1,"a":{"x":1,"x":2}}"#).1.unwrap(),
            ["$.a", "$.a.x"]
        );
    }
}
